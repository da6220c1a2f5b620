"""Text pieces the models share: tokens, sentences, lexicons and per-token feature strings.

Everything here is a plain function of the text (no learned state), so token features can be
computed once and reused across cross-validation folds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from annotate.errors import BadInput

TOKEN_RE = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")
WORD_RE = re.compile(r"\w+")
SENTENCE_END_RE = re.compile(r"(?<=[.!?])[\"'”’)]*\s+(?=[\"'“‘(]*[A-Z0-9])")
QUOTES = frozenset("\"'“”‘’«»")


def tokens(text: str) -> list[tuple[int, int]]:
    """[start, end) of every token: words (with inner apostrophes) and single punctuation marks."""
    return [m.span() for m in TOKEN_RE.finditer(text)]


def sentences(text: str) -> list[tuple[int, int]]:
    """[start, end) of sentences: lines, split further after . ! ? before a capital; no blanks."""
    out: list[tuple[int, int]] = []
    pos = 0
    for line in text.split("\n"):
        begin = pos
        pos += len(line) + 1
        cuts = [begin] + [begin + m.end() for m in SENTENCE_END_RE.finditer(line)]
        cuts.append(begin + len(line))
        for a, b in zip(cuts, cuts[1:], strict=False):
            piece = text[a:b]
            stripped = piece.strip()
            if stripped:
                lead = len(piece) - len(piece.lstrip())
                out.append((a + lead, a + lead + len(stripped)))
    return out


def load_lexicons(paths: Iterable[str | Path]) -> dict[str, list[str]]:
    """Word lists, one per file: {file stem: sorted lower-case words}.

    Reads plain one-word-a-line files (comments `#`/`;` skipped, CRLF and Latin-1 tolerated)
    and MPQA `.tff` clue files (`word1=...`).
    """
    lexicons: dict[str, list[str]] = {}
    for path in paths:
        path = Path(path)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise BadInput(f"cannot read lexicon ({exc.strerror})", path) from None
        try:
            content = raw.decode("utf-8")
        except UnicodeDecodeError:
            content = raw.decode("latin-1")
        words: set[str] = set()
        for line in content.splitlines():
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if "word1=" in line:
                fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
                line = fields.get("word1", "")
            word = line.lower()
            if word and " " not in word and len(word) < 40:
                words.add(word)
        if not words:
            raise BadInput("lexicon has no words", path)
        name = path.stem
        while name in lexicons:
            name += "_"
        lexicons[name] = sorted(words)
    return lexicons


def shape(word: str) -> str:
    if word.isdigit():
        return "d"
    if not word[0].isalnum():
        return "p"
    if word.isupper() and len(word) > 1:
        return "U"
    if word[0].isupper():
        return "T"
    return "l"


def _bucket(n: int, edges: Sequence[int]) -> int:
    for i, edge in enumerate(edges):
        if n <= edge:
            return i
    return len(edges)


def token_features(
    text: str,
    lexicons: dict[str, frozenset[str]] | None = None,
    window: int = 2,
    sentence_words: bool = True,
) -> tuple[list[tuple[int, int]], list[list[str]]]:
    """Token offsets and, for each token, its feature strings (for a `FeatureHasher`).

    Features: the word and its neighbours (up to `window` each side), bigrams, affixes,
    shape, punctuation, position in sentence, sentence length and marks, the sentence's
    words (context for clause-level techniques) and lexicon membership.
    """
    lexicons = lexicons or {}
    spans = tokens(text)
    sents = sentences(text)
    words = [text[a:b] for a, b in spans]
    lower = [w.lower() for w in words]
    feats: list[list[str]] = [[] for _ in spans]
    si = 0
    n = len(spans)
    # group tokens by sentence
    groups: list[list[int]] = []
    current: list[int] = []
    for i, (a, _b) in enumerate(spans):
        while si < len(sents) and a >= sents[si][1]:
            si += 1
            if current:
                groups.append(current)
                current = []
        current.append(i)
    if current:
        groups.append(current)
    lex_hits = [[name for name, ws in lexicons.items() if w in ws] for w in lower]
    for group in groups:
        first, last = group[0], group[-1]
        length = len(group)
        sent_text = text[spans[first][0] : spans[last][1]]
        sent_feats = [f"sl={_bucket(length, (5, 10, 20, 35, 60))}"]
        for mark in '!?"“:':
            if mark in sent_text:
                sent_feats.append(f"s{mark}")
        if sentence_words:
            sent_feats.extend({"S=" + lower[j] for j in group if lower[j][0].isalpha()})
        quote_depth = 0
        for pos, i in enumerate(group):
            w, lw = words[i], lower[i]
            f = feats[i]
            f.append("b")
            f.append("w=" + lw)
            f.append("sh=" + shape(w))
            if len(lw) > 3:
                f.append("p3=" + lw[:3])
                f.append("s3=" + lw[-3:])
            f.append(f"pos={_bucket(pos, (0, 1, 3, 7, 15, 30))}")
            f.append(f"rpos={_bucket(length - 1 - pos, (0, 1, 3, 7, 15))}")
            if w in QUOTES:
                quote_depth ^= 1
            if quote_depth:
                f.append("inq")
            for d in range(1, window + 1):
                j = i - d
                f.append(f"w-{d}=" + (lower[j] if j >= first else "<s>"))
                j = i + d
                f.append(f"w+{d}=" + (lower[j] if j <= last else "</s>"))
            prev = lower[i - 1] if i > first else "<s>"
            nxt = lower[i + 1] if i < last else "</s>"
            f.append(f"bg-={prev}|{lw}")
            f.append(f"bg+={lw}|{nxt}")
            for name in lex_hits[i]:
                f.append("L=" + name)
            for j in (i - 1, i + 1):
                if first <= j <= last:
                    for name in lex_hits[j]:
                        f.append("Ln=" + name)
            f.extend(sent_feats)
    assert sum(len(g) for g in groups) == n
    return spans, feats


class CompactTfidfVectorizer(TfidfVectorizer):
    """A `TfidfVectorizer` that persists its vocabulary as one string array.

    skops writes a dict entry by entry (100k terms: 40 MB, 15 s); an array is one `.npy`.
    The terms cut by min_df/max_features (`stop_words_`, unused by transform) are dropped.
    """

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("stop_words_", None)
        vocabulary = state.pop("vocabulary_", None)
        if vocabulary is not None:
            state["terms_"] = np.array(sorted(vocabulary, key=vocabulary.get), dtype=str)
        return state

    def __setstate__(self, state):
        terms = state.pop("terms_", None)
        if terms is not None:
            state["vocabulary_"] = {str(t): i for i, t in enumerate(terms)}
        super().__setstate__(state)
