"""Hashed features of tokens and sentences (`token_matrix`, `sentence_matrix`), lexicons and
the compact TF-IDF vectorizer the models share.

Everything here is a plain function of the text (no learned state), so token features can be
computed once and reused across cross-validation folds.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from annotate.errors import BadInput
from annotate.learn.counts import ColumnCache, supported, term_counts
from annotate.learn.dense import DenseTokens, dense_tokens, form_clusters, sentence_vectors
from annotate.learn.tokens import (
    TOKEN_RE,
    WORD_RE,
    Tokenized,
    sentence_geometry,
    stable_hash,
    tokenize,
    tokens,
)
from annotate.learn.vectors import WordVectors

__all__ = [  # re-exported: the tokenizer and dense features live in tokens.py and dense.py
    "TOKEN_RE",
    "WORD_RE",
    "DenseTokens",
    "Tokenized",
    "dense_tokens",
    "form_clusters",
    "sentence_vectors",
    "stable_hash",
    "tokenize",
    "tokens",
]

QUOTES = frozenset("\"'“”‘’«»")


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


class CompactTfidfVectorizer(TfidfVectorizer):
    """A `TfidfVectorizer` that persists its vocabulary as one string array.

    skops writes a dict entry by entry (100k terms: 40 MB, 15 s); an array is one `.npy`.
    The terms cut by min_df/max_features (`stop_words_`, unused by transform) are dropped.
    """

    def __getstate__(self):
        # a copy: on Python 3.11 the base returns the instance's own __dict__, and popping
        # from it would strip the live vectorizer (a Dask broadcast pickles it twice)
        state = dict(super().__getstate__())
        state.pop("stop_words_", None)
        state.pop("_columns", None)  # rebuilt on first transform
        vocabulary = state.pop("vocabulary_", None)
        if vocabulary is not None:
            state["terms_"] = np.array(sorted(vocabulary, key=vocabulary.get), dtype=str)
        return state

    def __setstate__(self, state):
        terms = state.pop("terms_", None)
        if terms is not None:
            state["vocabulary_"] = {str(t): i for i, t in enumerate(terms)}
        super().__setstate__(state)

    def transform(self, raw_documents):
        """TF-IDF rows, as `TfidfVectorizer.transform` gives them; counted by `term_counts`
        (once per distinct word) when it reproduces this vectorizer's analyzer exactly."""
        if isinstance(raw_documents, str) or not supported(self):
            return super().transform(raw_documents)
        held = self.__dict__.get("_columns")
        if held is None or held[0] is not self.vocabulary_:  # a refit: other columns
            held = self.__dict__["_columns"] = (self.vocabulary_, ColumnCache())
        counts = term_counts(self, list(raw_documents), held[1])
        return self._tfidf.transform(counts, copy=False)


# ---- vectorised token and sentence features ------------------------------------------------
# Each feature is a (template, value) pair hashed into `n_features` columns with integer
# arithmetic on numpy arrays, so a batch of documents costs a few numpy passes plus one Python
# step per token (the regex) and per distinct word (its hash, shape, affixes, lexicons).

_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)
_M3 = np.uint64(0x94D049BB133111EB)
_SHAPES = "dpUTl"
_MARKS = '!?"“:'
# feature templates (the numbers only need to be distinct)
(
    T_BIAS,
    T_WORD,
    T_SHAPE,
    T_P3,
    T_S3,
    T_POS,
    T_RPOS,
    T_INQ,
    T_BG_PREV,
    T_BG_NEXT,
    T_LEX,
    T_LEX_NEAR,
    T_SLEN,
    T_MARK,
    T_LEFT,
    T_RIGHT,
    T_S_WORD,
    T_S_BIGRAM,
    T_S_CHAR,
    T_CLUSTER,
    T_CL_NEAR,
    T_CL_BG_PREV,
    T_CL_BG_NEXT,
    T_S_CLUSTER,
) = range(1, 25)
COUNT_BLOCK = 16384  # tokens counted at a time by `count_matrix`
_BOS, _EOS = 0x5F3C730, 0x5F3C731  # values of <s> and </s> (not crc32 of any word here)


def hash_columns(template: int, values: np.ndarray, n_features: int) -> np.ndarray:
    """Column of feature (template, value) for an array of uint64 values."""
    with np.errstate(over="ignore"):
        x = values.astype(np.uint64) * _M1 + np.uint64(template) * _M2
        x ^= x >> np.uint64(31)
        x *= _M3
        x ^= x >> np.uint64(29)
    return (x % np.uint64(n_features)).astype(np.int64)


def _pair(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return a.astype(np.uint64) * _M3 + b.astype(np.uint64)


def _form_table(tok: Tokenized, lexicons: dict[str, frozenset[str]]) -> dict[str, np.ndarray]:
    """Per distinct form: hashes of the lower-cased word and its affixes, shape, lexicons."""
    forms, lower = tok.forms, tok.lower
    n = len(forms)
    table = {
        "word": tok.form_hash,
        "shape": np.fromiter((_SHAPES.index(shape(f)) for f in forms), dtype=np.uint64, count=n),
        "long": np.fromiter((len(w) > 3 for w in lower), dtype=bool, count=n),
        "p3": np.fromiter((stable_hash(w[:3]) for w in lower), dtype=np.uint64, count=n),
        "s3": np.fromiter((stable_hash(w[-3:]) for w in lower), dtype=np.uint64, count=n),
        "quote": np.fromiter((f in QUOTES for f in forms), dtype=bool, count=n),
        "mark": np.fromiter(
            (_MARKS.index(f) + 1 if len(f) == 1 and f in _MARKS else 0 for f in forms),
            dtype=np.int64,
            count=n,
        ),
        "alpha": np.fromiter((w[0].isalpha() for w in lower), dtype=bool, count=n),
    }
    lex = np.zeros(n, dtype=np.int64)
    for k, words in enumerate(lexicons.values()):
        lex |= np.fromiter((w in words for w in lower), dtype=np.int64, count=n) << k
    table["lex"] = lex
    return table


def token_matrix(
    tok: Tokenized,
    n_features: int,
    window: int = 2,
    lexicons: dict[str, frozenset[str]] | None = None,
    sentence_words: bool = False,
    vectors: WordVectors | None = None,
) -> sp.csr_matrix:
    """Hashed context features of every token (rows in document order).

    Features: the word and its neighbours (up to `window` each side, within the sentence),
    bigrams, 3-letter affixes, shape, position in the sentence from either end, inside a quote,
    sentence length and marks, lexicon membership of the word and its neighbours,
    (`sentence_words`) the sentence's words, and (`vectors`) the word's clusters at every
    granularity, its neighbours' clusters (two each side) and cluster bigrams.
    """
    lexicons = lexicons or {}
    n = tok.word.size
    if n == 0:
        return sp.csr_matrix((0, n_features))
    t = tok.derive("form_table", lexicons, lambda: _form_table(tok, lexicons), per_form=True)
    w = t["word"][tok.word]
    sid = tok.token_sentence
    first, last = sentence_geometry(sid)
    idx = np.arange(n)
    pos, rpos, length = idx - first, last - idx, last - first + 1
    # one column per token and template (-1: the template does not fire on that token)
    per_token: list[np.ndarray] = []
    rows: list[np.ndarray] = []  # features with any number of entries per token
    cols: list[np.ndarray] = []

    def add(template: int, values: np.ndarray, where: np.ndarray | None = None) -> None:
        c = hash_columns(template, values, n_features).astype(np.int32)
        per_token.append(c if where is None else np.where(where, c, np.int32(-1)))

    add(T_BIAS, np.zeros(n, dtype=np.uint64))
    add(T_WORD, w)
    add(T_SHAPE, t["shape"][tok.word])
    long_word = t["long"][tok.word]
    add(T_P3, t["p3"][tok.word], long_word)
    add(T_S3, t["s3"][tok.word], long_word)
    add(T_POS, np.searchsorted([0, 1, 3, 7, 15, 30], pos).astype(np.uint64))
    add(T_RPOS, np.searchsorted([0, 1, 3, 7, 15], rpos).astype(np.uint64))
    quotes = np.cumsum(t["quote"][tok.word])
    before = np.where(first > 0, quotes[first - 1], 0)
    add(T_INQ, np.zeros(n, dtype=np.uint64), (quotes - before) % 2 == 1)
    neighbours = {}
    for d in range(1, window + 1):
        for sign, template, pad in ((-1, T_LEFT, _BOS), (1, T_RIGHT, _EOS)):
            j = idx + sign * d
            inside = (j >= first) & (j <= last)
            values = np.where(inside, w[np.clip(j, 0, n - 1)], np.uint64(pad))
            neighbours[sign * d] = values
            add(template * 64 + d, values)
    if window:
        add(T_BG_PREV, _pair(neighbours[-1], w))
        add(T_BG_NEXT, _pair(w, neighbours[1]))
    lex = t["lex"][tok.word]
    for k in range(len(lexicons)):
        here = (lex >> k) & 1 == 1
        add(T_LEX, np.full(n, k, dtype=np.uint64), here)
        for d in (-1, 1):
            j = idx + d
            near = (j >= first) & (j <= last) & ((lex[np.clip(j, 0, n - 1)] >> k) & 1 == 1)
            add(T_LEX_NEAR, np.full(n, k, dtype=np.uint64), near)
    # sentence-level features, repeated on each of the sentence's tokens
    add(T_SLEN, np.searchsorted([5, 10, 20, 35, 60], length).astype(np.uint64))
    mark = t["mark"][tok.word]
    n_sent = int(sid.max()) + 1
    for m in range(1, len(_MARKS) + 1):
        has = np.zeros(n_sent, dtype=bool)
        has[sid[mark == m]] = True
        add(T_MARK, np.full(n, m, dtype=np.uint64), has[sid])
    if sentence_words:
        # token i gets S=word for every distinct alphabetic word of its sentence
        alpha = t["alpha"][tok.word]
        s_a, w_a = sid[alpha], w[alpha]
        order = np.lexsort((w_a, s_a))
        s_a, w_a = s_a[order], w_a[order]
        distinct = np.ones(s_a.size, dtype=bool)
        distinct[1:] = (s_a[1:] != s_a[:-1]) | (w_a[1:] != w_a[:-1])
        s_a, w_a = s_a[distinct], w_a[distinct]
        counts = np.bincount(sid, minlength=n_sent)
        firsts = np.cumsum(counts) - counts  # tokens are in sentence order
        k = counts[s_a]
        pair = np.repeat(np.arange(s_a.size), k)
        rows.append(firsts[s_a][pair] + np.arange(k.sum()) - np.repeat(np.cumsum(k) - k, k))
        cols.append(hash_columns(T_S_WORD, w_a[pair], n_features))
    if vectors is not None:
        _cluster_features(tok, vectors, first, last, add)
    return count_matrix(per_token, rows, cols, n_features)


def count_matrix(
    per_token: list[np.ndarray], rows: list[np.ndarray], cols: list[np.ndarray], n_features: int
) -> sp.csr_matrix:
    """Canonical CSR counts (columns sorted, repeats summed) of per-template token columns
    (-1: none) plus any (rows, cols) entries: what building it from (row, column) pairs and
    `sum_duplicates` gives. Without extra entries, the tokens are counted a block at a time,
    so the memory beyond the result stays a few MB."""
    n = per_token[0].size
    if rows:
        r = np.concatenate([np.tile(np.arange(n), len(per_token)), *rows])
        c = np.concatenate([*per_token, *[x.astype(np.int32) for x in cols]])
        keep = c >= 0
        X = sp.csr_matrix((np.ones(int(keep.sum())), (r[keep], c[keep])), shape=(n, n_features))
        X.sum_duplicates()
        return X
    indices, counts = [], []
    per_row = np.zeros(n, dtype=np.int32)
    for a in range(0, n, COUNT_BLOCK):
        b = min(n, a + COUNT_BLOCK)
        block = np.sort(np.stack([c[a:b] for c in per_token], axis=1), axis=1)
        first = block >= 0
        first[:, 1:] &= block[:, 1:] != block[:, :-1]  # the first of each run of one column
        per_row[a:b] = first.sum(axis=1)
        starts = np.flatnonzero(first)
        # a run ends where the next one starts, or at the end of its row
        ends = np.flatnonzero(np.diff(block, axis=1, append=np.int32(-2)) != 0)
        indices.append(block.ravel()[starts])
        run_end = ends[np.searchsorted(ends, starts)]
        counts.append((run_end - starts + 1).astype(np.float64))
    indptr = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(per_row, out=indptr[1:])
    X = sp.csr_matrix((np.concatenate(counts), np.concatenate(indices), indptr), (n, n_features))
    X.has_canonical_format = True
    return X


def _cluster_features(tok: Tokenized, vectors: WordVectors, first, last, add) -> None:
    _, clusters = form_clusters(tok, vectors)
    n = tok.word.size
    idx = np.arange(n)
    for level, per_form in enumerate(clusters):
        c = per_form[tok.word]
        add(T_CLUSTER * 64 + level, c.astype(np.uint64), c >= 0)
    # neighbours and bigrams at the middle granularity (0 = unknown word, pad outside)
    mid = clusters[len(clusters) // 2][tok.word].astype(np.int64) + 1
    pad = np.int64(1 << 20)
    near = {}
    for d in (-2, -1, 1, 2):
        j = idx + d
        inside = (j >= first) & (j <= last)
        near[d] = np.where(inside, mid[np.clip(j, 0, n - 1)], pad)
        add(T_CL_NEAR * 64 + d + 2, near[d].astype(np.uint64), inside & (near[d] > 0))
    known = mid > 0
    add(T_CL_BG_PREV, _pair(near[-1], mid), known)
    add(T_CL_BG_NEXT, _pair(mid, near[1]), known)


@functools.lru_cache(maxsize=65536)
def _char_ngrams(word: str) -> np.ndarray:
    """Hashes of the character 3-5-grams of " word " (cached: words recur across batches)."""
    padded = f" {word} "
    return np.fromiter(
        (stable_hash(padded[i : i + k]) for k in (3, 4, 5) for i in range(len(padded) - k + 1)),
        dtype=np.uint64,
    )


def sentence_matrix(
    tok: Tokenized,
    n_features: int,
    chars: bool = True,
    vectors: WordVectors | None = None,
    vector_weight: float = 2.0,
) -> sp.csr_matrix:
    """Hashed bag of each sentence: words, word bigrams and (`chars`) character 3-5-grams of
    its words; each block L2-normalised. The first sentence (a title) carries a marker.
    With `vectors`: the mean vector of its content words (times `vector_weight`) and a bag of
    its words' clusters (the two finest granularities, L2-normalised)."""
    n_sent = tok.n_sentences
    n = tok.word.size
    width = n_features * (1 + chars + (vectors is not None))
    if vectors is not None:
        width += vectors.dim
    if n_sent == 0:
        return sp.csr_matrix((0, width))
    sid = tok.token_sentence
    w = tok.form_hash[tok.word]
    rows = [sid, sid[1:][sid[1:] == sid[:-1]]]
    cols = [
        hash_columns(T_S_WORD, w, n_features),
        hash_columns(T_S_BIGRAM, _pair(w[:-1], w[1:])[sid[1:] == sid[:-1]], n_features),
    ]
    titles = np.cumsum([0] + [len(s) for s in tok.sentence_spans[:-1]])
    rows.append(titles)
    cols.append(hash_columns(T_S_WORD, np.full(titles.size, _BOS, dtype=np.uint64), n_features))
    r, c = np.concatenate(rows), np.concatenate(cols)
    words = sp.csr_matrix((np.ones(r.size), (r, c)), shape=(n_sent, n_features))
    blocks = [_l2(words)]
    if chars:
        # sentence x form counts, times form x character-n-gram counts
        counts = sp.csr_matrix((np.ones(n), (sid, tok.word)), shape=(n_sent, len(tok.forms)))
        per_form = tok.derive(
            "char_ngrams", n_features, lambda: _form_char_ngrams(tok, n_features), per_form=True
        )
        blocks.append(_l2(counts @ per_form))
    if vectors is not None:
        blocks.append(sp.csr_matrix(sentence_vectors(tok, vectors) * vector_weight))
        _, clusters = form_clusters(tok, vectors)
        r, c = [], []
        for level in range(max(0, len(clusters) - 2), len(clusters)):
            cl = clusters[level][tok.word]
            known = cl >= 0
            r.append(sid[known])
            c.append(
                hash_columns(T_S_CLUSTER * 64 + level, cl[known].astype(np.uint64), n_features)
            )
        r, c = np.concatenate(r), np.concatenate(c)
        blocks.append(_l2(sp.csr_matrix((np.ones(r.size), (r, c)), shape=(n_sent, n_features))))
    return sp.hstack(blocks).tocsr()


def _form_char_ngrams(tok: Tokenized, n_features: int) -> sp.csr_matrix:
    """Forms x hashed character 3-5-grams of each (lower-cased) form: their counts."""
    grams = [_char_ngrams(f) for f in tok.lower]
    form_rows = np.repeat(np.arange(len(grams)), [g.size for g in grams])
    gram_cols = hash_columns(T_S_CHAR, np.concatenate(grams), n_features)
    return sp.csr_matrix(
        (np.ones(form_rows.size), (form_rows, gram_cols)), shape=(len(grams), n_features)
    )


def _l2(X: sp.csr_matrix) -> sp.csr_matrix:
    X = X.tocsr()
    X.sum_duplicates()
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.diags(1.0 / norms) @ X
