"""Technique classifier: names the technique of a given span (SemEval-2020 TC).

Input items are `(document_text, start, end)`. Features: the span's words and character
n-grams, the words just before and after it, its length, whether its text is repeated
elsewhere in the document (what PTC `Repetition` mostly is), punctuation and lexicon
counts. One-vs-rest logistic regressions rank the techniques.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier

from annotate.learn.counts import DEFAULT_TOKEN_PATTERN, takes_tokens, tokens_tfidf
from annotate.learn.features import CompactTfidfVectorizer
from annotate.learn.span_fields import (
    SpanWords,
    batch_of,
    marks_by_slices,
    normalised,
    span_by_slices,
    span_marks,
    span_words,
)

SpanItem = tuple[str, int, int]


def _context_text(left: list[str], right: list[str]) -> str:
    """The context words as the context vectorizer reads them, marked by side."""
    return " ".join(["L_" + w for w in left]) + " " + " ".join(["R_" + w for w in right])


def _context_tokens(left: list[str], right: list[str]) -> list[str]:
    """The context vectorizer's tokens of `_context_text(left, right)`."""
    return [("L_" + w).lower() for w in left] + [("R_" + w).lower() for w in right]


def _len_bin(n: int) -> str:
    return f"len_bin={n if n < 12 else 12 + n // 10}"


def _word_extras(words: list[str], repeats: int, lexicons: dict[str, frozenset]) -> dict:
    """A span's features from its words: length, repeats in its document, lexicon hits."""
    n = len(words)
    f = {
        "n_words": math.log1p(n),
        _len_bin(n): 1,
        "repeated": float(repeats > 1),
        "repeats": math.log1p(max(repeats - 1, 0)),
        "one_word": float(n == 1),
    }
    for name, lex in lexicons.items():
        hits = sum(w in lex for w in words)
        if hits:
            f["lex=" + name] = hits / n
    return f


def _mapped(values: np.ndarray, fn) -> np.ndarray:
    """`fn(v)` for each of `values` as a float array, each distinct value computed once."""
    distinct, where = np.unique(values, return_inverse=True)
    return np.array([fn(v) for v in distinct.tolist()], dtype=np.float64)[where.reshape(-1)]


class SpanFeatures(BaseEstimator, TransformerMixin):
    """(text, start, end) items -> sparse features of span text, context and shape."""

    def __init__(
        self,
        context_words: int = 4,
        char_ngrams: tuple[int, int] = (2, 5),
        lexicons: dict[str, list[str]] | None = None,
        max_features: int = 60000,
    ):
        self.context_words = context_words
        self.char_ngrams = char_ngrams
        self.lexicons = lexicons
        self.max_features = max_features

    def _lexicons(self) -> dict[str, frozenset]:
        return {k: frozenset(v) for k, v in (self.lexicons or {}).items()}

    def _fields(self, items: Sequence[SpanItem]) -> tuple[list[str], list[str], list[dict]]:
        """Per item, from its own slices: its text, its context words (`L_` before, `R_`
        after) as text, its other features as a dict (what `fit` learns the names from)."""
        lexicons = self._lexicons()
        spans_text, contexts, extras = [], [], []
        norm_docs: dict[int, str] = {}
        for text, start, end in items:
            norm_doc = norm_docs.get(id(text))
            if norm_doc is None:
                norm_doc = norm_docs[id(text)] = normalised(text)
            words, left, right, repeats = span_by_slices(
                text, start, end, self.context_words, norm_doc
            )
            spans_text.append(text[start:end])
            contexts.append(_context_text(left, right))
            extras.append(
                _word_extras(words, repeats, lexicons) | marks_by_slices(text, start, end)
            )
        return spans_text, contexts, extras

    def _extras_matrix(self, found: SpanWords, marks: dict[str, np.ndarray]) -> sp.csr_matrix:
        """`self.extras_.transform` of the items' `_word_extras | marks_by_slices` dicts, the
        same matrix (zeros kept, columns sorted), built a feature at a time."""
        vocabulary = self.extras_.vocabulary_
        n = np.array([len(w) for w in found.words], dtype=np.int64)
        every = np.arange(n.size)
        per_span = {
            "n_words": _mapped(n, math.log1p),
            "repeated": (found.repeats > 1).astype(np.float64),
            "repeats": _mapped(np.maximum(found.repeats - 1, 0), math.log1p),
            "one_word": (n == 1).astype(np.float64),
            **marks,
        }
        rows, cols, values = [], [], []
        for name, value in per_span.items():
            if name in vocabulary:
                rows.append(every)
                cols.append(np.full(n.size, vocabulary[name]))
                values.append(value)
        bins = _mapped(n, lambda k: vocabulary.get(_len_bin(k), -1))
        binned = bins >= 0
        rows.append(every[binned])
        cols.append(bins[binned].astype(np.int64))
        values.append(np.ones(int(binned.sum())))
        for name, lex in self._lexicons().items():
            if "lex=" + name not in vocabulary:
                continue
            hits = np.array([sum(w in lex for w in words) for words in found.words])
            some = hits > 0
            rows.append(every[some])
            cols.append(np.full(int(some.sum()), vocabulary["lex=" + name]))
            values.append(hits[some] / n[some])
        return _csr(rows, cols, values, (n.size, len(vocabulary)))

    def fit(self, items: Sequence[SpanItem], y=None) -> SpanFeatures:
        spans_text, contexts, extras = self._fields(items)
        self.words_ = CompactTfidfVectorizer(
            ngram_range=(1, 2), sublinear_tf=True, min_df=2, max_features=self.max_features
        ).fit(spans_text)
        self.chars_ = CompactTfidfVectorizer(
            analyzer="char_wb",
            ngram_range=tuple(self.char_ngrams),
            sublinear_tf=True,
            min_df=3,
            max_features=self.max_features,
        ).fit(spans_text)
        self.context_ = CompactTfidfVectorizer(
            sublinear_tf=True, min_df=2, token_pattern=r"\S+"
        ).fit(contexts)
        self.extras_ = DictVectorizer().fit(extras)
        return self

    def transform(self, items: Sequence[SpanItem]) -> sp.csr_matrix:
        batch = batch_of(items)
        found = span_words(batch, self.context_words)
        spans_text = [text[start:end] for text, start, end in items]
        # the word vectorizers' tokens are the words found: maximal runs of \w in the
        # lower-cased text (2 or more of them for the default token pattern)
        if takes_tokens(self.words_, DEFAULT_TOKEN_PATTERN):
            words = tokens_tfidf(self.words_, found.long_words())
        else:
            words = self.words_.transform(spans_text)
        if takes_tokens(self.context_, r"\S+") and tuple(self.context_.ngram_range) == (1, 1):
            context = tokens_tfidf(self.context_, found.contexts(_context_tokens))
        else:
            context = self.context_.transform(found.contexts(_context_text))
        return sp.hstack(
            [
                words,
                self.chars_.transform(spans_text),
                0.5 * context,
                self._extras_matrix(found, span_marks(batch)),
            ]
        ).tocsr()


def _csr(rows: list[np.ndarray], cols: list[np.ndarray], values: list[np.ndarray], shape):
    """The CSR matrix of distinct (row, column, value) entries, zeros kept, columns sorted."""
    r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(values)
    order = np.lexsort((c, r))
    indptr = np.concatenate([[0], np.cumsum(np.bincount(r, minlength=shape[0]))])
    return sp.csr_matrix(
        (v[order].astype(np.float64), c[order].astype(np.intc), indptr.astype(np.int32)),
        shape=shape,
    )


class TechniqueClassifier(BaseEstimator, ClassifierMixin):
    """Span features + one-vs-rest logistic regression over the techniques."""

    def __init__(
        self,
        context_words: int = 4,
        char_ngrams: tuple[int, int] = (2, 5),
        lexicons: dict[str, list[str]] | None = None,
        C: float = 4.0,
        class_weight: str | dict | None = None,
    ):
        self.context_words = context_words
        self.char_ngrams = char_ngrams
        self.lexicons = lexicons
        self.C = C
        self.class_weight = class_weight

    def fit(self, items: Sequence[SpanItem], y: Sequence[str]) -> TechniqueClassifier:
        self.features_ = SpanFeatures(self.context_words, self.char_ngrams, self.lexicons)
        X = self.features_.fit_transform(items)
        # one-vs-rest liblinear: seconds where multinomial lbfgs takes minutes here
        self.classifier_ = OneVsRestClassifier(
            LogisticRegression(
                C=self.C,
                class_weight=self.class_weight,
                solver="liblinear",
                dual=True,  # many more features than spans: the dual converges in a fraction
                max_iter=1000,
                random_state=0,  # liblinear shuffles: a fixed seed, a reproducible model
            )
        ).fit(X, list(y))
        self.classes_ = self.classifier_.classes_
        return self

    def predict_proba(self, items: Sequence[SpanItem]) -> np.ndarray:
        if not len(items):
            return np.zeros((0, len(self.classes_)))
        return self.classifier_.predict_proba(self.features_.transform(items))

    def predict(self, items: Sequence[SpanItem]) -> np.ndarray:
        return assign_labels(items, self.predict_proba(items), self.classes_)


def assign_labels(items: Sequence[SpanItem], proba: np.ndarray, classes) -> np.ndarray:
    """Best label per span; a span given k times (PTC's multi-label spans) gets the top k labels."""
    order = np.argsort(-proba, axis=1) if len(items) else np.zeros((0, 0), dtype=int)
    seen: dict[tuple[int, int, int], int] = {}
    out = []
    for i, (text, start, end) in enumerate(items):
        key = (id(text), start, end)
        k = seen.get(key, 0)
        seen[key] = k + 1
        out.append(classes[order[i, min(k, order.shape[1] - 1)]])
    return np.array(out, dtype=object)
