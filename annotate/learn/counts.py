"""Term counts of a fitted scikit-learn vectorizer, the same matrix its `transform` counts, in
a fraction of the time (`term_counts`).

scikit-learn's `CountVectorizer` builds every character n-gram (or word bigram) of every
document as a new string and counts it in a dict, one Python step per n-gram. Here the
work is done once per distinct word: a `char_wb` analyzer's n-grams never cross whitespace,
so a document's n-grams are the concatenation of its words' n-grams, and each word's
vocabulary columns are kept (`ColumnCache`). The matrix is then built in one numpy step.
The result is identical to `CountVectorizer.transform` (same columns, counts and column
order in each row), so the TF-IDF weights and everything downstream are too.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence

import numpy as np
import scipy.sparse as sp

# scikit-learn's own whitespace normalisation before `char_wb` n-grams
WHITE_SPACES = re.compile(r"\s\s+")
CACHE_LIMIT = 400_000  # distinct words kept per vectorizer before the cache starts over


class ColumnCache(dict):
    """word -> its vocabulary columns (a list), emptied when it grows past CACHE_LIMIT."""

    def columns(self, word: str, compute) -> list[int]:
        hit = self.get(word)
        if hit is None:
            if len(self) >= CACHE_LIMIT:
                self.clear()
            hit = self[word] = compute(word)
        return hit


def supported(vectorizer) -> bool:
    """Whether `term_counts` reproduces this vectorizer's counting exactly."""
    v = vectorizer
    return (
        v.input == "content"
        and v.preprocessor is None
        and v.tokenizer is None
        and not v.binary
        and v.analyzer in ("char_wb", "word")
        and (v.analyzer == "char_wb" or tuple(v.ngram_range) in ((1, 1), (1, 2)))
        and hasattr(v, "vocabulary_")
    )


def term_counts(vectorizer, docs: Sequence[str], cache: ColumnCache) -> sp.csr_matrix:
    """`vectorizer`'s count matrix of `docs` (`supported(vectorizer)` must hold)."""
    preprocess = vectorizer.build_preprocessor()
    vocabulary = vectorizer.vocabulary_
    if vectorizer.analyzer == "char_wb":
        ngrams = vectorizer._char_wb_ngrams  # of one word: its padded n-grams

        def compute(word: str) -> list[int]:
            get = vocabulary.get
            return [j for j in map(get, ngrams(word)) if j is not None]

        # scikit-learn joins whitespace runs first (WHITE_SPACES); split() gives the same words
        cols: list[int] = []
        lengths = np.zeros(len(docs), dtype=np.int64)
        known = cache.get
        for i, d in enumerate(docs):
            words = preprocess(d).split()
            hits = list(map(known, words))
            if None in hits:
                hits = [
                    h if h is not None else cache.columns(w, compute)
                    for w, h in zip(words, hits, strict=True)
                ]
            before = len(cols)
            cols.extend(itertools.chain.from_iterable(hits))
            lengths[i] = len(cols) - before
        return _counts_from(np.asarray(cols, dtype=np.int64), lengths, len(vocabulary))
    else:
        tokenize = vectorizer.build_tokenizer()
        stop = vectorizer.get_stop_words()
        bigrams = tuple(vectorizer.ngram_range) == (1, 2)
        rows = (_word_columns(tokenize(preprocess(d)), stop, bigrams, vocabulary) for d in docs)
    return _counts(rows, len(docs), len(vocabulary))


def _word_columns(tokens: list[str], stop, bigrams: bool, vocabulary: dict) -> list[int]:
    if stop is not None:
        tokens = [w for w in tokens if w not in stop]
    get = vocabulary.get
    found = list(map(get, tokens))
    if bigrams:
        found.extend(map(get, map(" ".join, zip(tokens, tokens[1:], strict=False))))
    return [j for j in found if j is not None]


def _counts(rows: Iterable[list[int]], n_rows: int, width: int) -> sp.csr_matrix:
    """Rows of column lists -> CSR counts, each row's columns in first-seen order (as
    `CountVectorizer` leaves them before it sorts them), then sorted, as it does."""
    cols: list[int] = []
    lengths = np.zeros(n_rows, dtype=np.int64)
    for i, row in enumerate(rows):
        cols.extend(row)
        lengths[i] = len(row)
    return _counts_from(np.asarray(cols, dtype=np.int64), lengths, width)


def _counts_from(c: np.ndarray, lengths: np.ndarray, width: int) -> sp.csr_matrix:
    """Columns of each row in turn (`lengths[i]` of row i) -> the CSR counts."""
    n_rows = lengths.size
    r = np.repeat(np.arange(n_rows, dtype=np.int64), lengths)
    # one key per (row, column): sorting by it groups repeats and sorts each row's columns
    key = np.unique(r * max(width, 1) + c, return_counts=True)
    unique, counts = key
    row_of = unique // max(width, 1)
    indptr = np.zeros(n_rows + 1, dtype=np.int32)
    np.cumsum(np.bincount(row_of, minlength=n_rows), out=indptr[1:])
    X = sp.csr_matrix(
        (counts.astype(np.float64), (unique % max(width, 1)).astype(np.int32), indptr),
        shape=(n_rows, width),
    )
    X.has_sorted_indices = True
    return X


DEFAULT_TOKEN_PATTERN = r"(?u)\b\w\w+\b"  # scikit-learn's: the maximal runs of 2+ \w


def takes_tokens(vectorizer, token_pattern: str) -> bool:
    """Whether `vectorizer` tokenizes a text into its `token_pattern` matches of the text
    lower-cased, and nothing else (so `tokens_tfidf` may be given those tokens)."""
    return (
        supported(vectorizer)
        and vectorizer.analyzer == "word"
        and vectorizer.lowercase
        and not vectorizer.strip_accents
        and vectorizer.token_pattern == token_pattern
    )


def tokens_tfidf(vectorizer, token_lists: Sequence[list[str]]) -> sp.csr_matrix:
    """`vectorizer.transform(texts)` given each text's tokens (lower-cased, as its
    tokenizer finds them): the texts are not tokenized again."""
    vocabulary = vectorizer.vocabulary_
    stop = vectorizer.get_stop_words()
    bigrams = tuple(vectorizer.ngram_range) == (1, 2)
    rows = (_word_columns(t, stop, bigrams, vocabulary) for t in token_lists)
    counts = _counts(rows, len(token_lists), len(vocabulary))
    return vectorizer._tfidf.transform(counts, copy=False)
