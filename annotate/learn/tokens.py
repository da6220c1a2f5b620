"""Tokens and sentences of a batch of documents, as arrays (`tokenize`): the one tokenizer of
the span models."""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from annotate.metrics import sentence_spans as split_sentences

TOKEN_RE = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")
WORD_RE = re.compile(r"\w+")
# Every character that is not whitespace starts a token, so a text is whitespace runs and
# tokens in turn: each match of this pattern is the whitespace before a token and the token
# (what TOKEN_RE.finditer finds), and their lengths give the offsets without a Match object.
_SPACED_TOKEN_RE = re.compile(r"\s*(?:" + TOKEN_RE.pattern + ")")


def tokens(text: str) -> list[tuple[int, int]]:
    """[start, end) of every token: words (with inner apostrophes) and single punctuation marks."""
    return [m.span() for m in TOKEN_RE.finditer(text)]


def stable_hash(s: str) -> int:
    """A hash of a string that is the same in every process (unlike `hash`)."""
    return zlib.crc32(s.encode("utf-8", "surrogatepass"))


@dataclass
class Tokenized:
    """Tokens of a batch of documents, as arrays over all their tokens."""

    offsets: list[list[tuple[int, int]]]  # per document
    sentence_spans: list[list[tuple[int, int]]]  # per document
    token_sentence: np.ndarray  # global sentence index of each token
    word: np.ndarray  # index of the token's distinct form in `forms`
    forms: list[str]  # distinct token forms (original case)
    lower: list[str]  # the forms lower-cased
    form_hash: np.ndarray  # stable hash of each lower-cased form
    # what `form_clusters` and `sentence_vectors` derived, so features built from the same
    # tokens and vectors (token rows, dense rows, sentence rows) compute it once
    derived: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_sentences(self) -> int:
        return sum(len(s) for s in self.sentence_spans)

    def derive(self, name: str, vectors: Any, compute):
        """`compute()` once per batch and vectors object (the result is shared: read it only)."""
        held = self.derived.get(name)
        if held is None or held[0] is not vectors:
            held = self.derived[name] = (vectors, compute())
        return held[1]


def tokenize(texts: Sequence[str]) -> Tokenized:
    """Tokens and sentences of a batch of documents."""
    offsets, sentence_spans, words, token_sentence = [], [], [], []
    n_sent = 0
    for text in texts:
        found = TOKEN_RE.findall(text)
        words.extend(found)
        stops = np.cumsum(np.fromiter(map(len, _SPACED_TOKEN_RE.findall(text)), np.int64))
        starts = stops - np.fromiter(map(len, found), np.int64, count=len(found))
        spans = list(zip(starts.tolist(), stops.tolist(), strict=True))
        sents = split_sentences(text) or [(0, len(text))]
        ends = np.fromiter((b for _, b in sents), dtype=np.int64, count=len(sents))
        # a token belongs to the first sentence that ends after its start
        idx = np.minimum(np.searchsorted(ends, starts, side="right"), len(sents) - 1)
        token_sentence.append(idx + n_sent)
        n_sent += len(sents)
        offsets.append(spans)
        sentence_spans.append(sents)
    forms = list(dict.fromkeys(words))
    index = {f: i for i, f in enumerate(forms)}
    lower = [f.lower() for f in forms]
    return Tokenized(
        offsets=offsets,
        sentence_spans=sentence_spans,
        token_sentence=np.concatenate(token_sentence or [[]]).astype(np.int64),
        word=np.fromiter(map(index.__getitem__, words), dtype=np.int64, count=len(words)),
        forms=forms,
        lower=lower,
        form_hash=np.fromiter(map(stable_hash, lower), dtype=np.uint64, count=len(lower)),
    )


def sentence_geometry(token_sentence: np.ndarray):
    """Per token: index of its sentence's first and last token."""
    n = token_sentence.size
    idx = np.arange(n)
    new = np.ones(n, dtype=bool)
    new[1:] = token_sentence[1:] != token_sentence[:-1]
    first = np.maximum.accumulate(np.where(new, idx, 0))
    end = np.ones(n, dtype=bool)
    end[:-1] = new[1:]
    last = np.minimum.accumulate(np.where(end, idx, n - 1)[::-1])[::-1]
    return first, last
