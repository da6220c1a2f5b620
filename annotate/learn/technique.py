"""Technique classifier: names the technique of a given span (SemEval-2020 TC).

Input items are `(document_text, start, end)`. Features: the span's words and character
n-grams, the words just before and after it, its length, whether its text is repeated
elsewhere in the document (what PTC `Repetition` mostly is), punctuation and lexicon
counts. One-vs-rest logistic regressions rank the techniques.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier

from annotate.learn.counts import DEFAULT_TOKEN_PATTERN, takes_tokens, tokens_tfidf
from annotate.learn.features import WORD_RE, CompactTfidfVectorizer

SpanItem = tuple[str, int, int]
_SPACE = re.compile(r"\s+")


def _norm(text: str) -> str:
    return " ".join(WORD_RE.findall(text.lower()))


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

    def _fields(
        self, items: Sequence[SpanItem], tokens: dict[str, list] | None = None
    ) -> tuple[list[str], list[str], list[dict]]:
        """Per item: its text, its context words (`L_` before, `R_` after) as text, its other
        features; and (`tokens`) the token lists of the TF-IDF vectorizers, so they need not
        tokenize the text again: `words` (2+ letters, lower-cased), `context` (lower-cased)."""
        lexicons = {k: frozenset(v) for k, v in (self.lexicons or {}).items()}
        spans_text, contexts, extras = [], [], []
        norm_docs: dict[int, str] = {}
        findall = WORD_RE.findall
        width = self.context_words
        reach = 12 * width
        for text, start, end in items:
            key = id(text)
            norm_doc = norm_docs.get(key)
            if norm_doc is None:
                norm_doc = norm_docs[key] = " " + _norm(text) + " "
            piece = text[start:end]
            words = findall(piece.lower())
            n = len(words)
            # the words just before and after (`_context`), marked by side
            left = findall(text[max(0, start - reach) : start].lower())[-width:]
            right = findall(text[end : end + reach].lower())[:width]
            spans_text.append(piece)
            if tokens is not None:
                tokens["words"].append([w for w in words if len(w) > 1])
                tokens["context"].append(
                    [("L_" + w).lower() for w in left] + [("R_" + w).lower() for w in right]
                )
            contexts.append(
                " ".join(["L_" + w for w in left]) + " " + " ".join(["R_" + w for w in right])
            )
            repeats = norm_doc.count(" " + " ".join(words) + " ") if words else 0
            before = text[max(0, start - 3) : start]
            after = text[end : end + 3]
            stripped = piece.rstrip()
            f = {
                "n_words": math.log1p(n),
                f"len_bin={n if n < 12 else 12 + n // 10}": 1,
                "repeated": float(repeats > 1),
                "repeats": math.log1p(max(repeats - 1, 0)),
                "upper_ratio": sum(map(str.isupper, piece)) / max(len(piece), 1),
                "starts_sentence": float(start == 0 or text[start - 1] == "\n" or ". " in before),
                "quoted": float(
                    '"' in before
                    or "“" in before
                    or "'" in before
                    or '"' in after
                    or "”" in after
                    or "'" in after
                ),
                "ends_q": float(stripped.endswith("?") or after.startswith("?")),
                "ends_excl": float(stripped.endswith("!") or after.startswith("!")),
                "has_q": float("?" in piece),
                "has_excl": float("!" in piece),
                "one_word": float(n == 1),
            }
            for name, lex in lexicons.items():
                hits = sum(w in lex for w in words)
                if hits:
                    f["lex=" + name] = hits / n
            extras.append(f)
        return spans_text, contexts, extras

    def _extras_matrix(self, extras: list[dict]) -> sp.csr_matrix:
        """`self.extras_.transform(extras)`, the same matrix (zeros kept, columns sorted),
        without DictVectorizer's per-value type checks."""
        vocabulary = self.extras_.vocabulary_
        get = vocabulary.get
        indices: list[int] = []
        values: list[float] = []
        indptr = np.zeros(len(extras) + 1, dtype=np.int32)
        for i, f in enumerate(extras):
            for name, value in f.items():
                j = get(name)
                if j is not None:
                    indices.append(j)
                    values.append(value)
            indptr[i + 1] = len(indices)
        X = sp.csr_matrix(
            (np.array(values, dtype=np.float64), np.array(indices, dtype=np.intc), indptr),
            shape=(len(extras), len(vocabulary)),
        )
        X.sort_indices()
        return X

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
        tokens: dict[str, list] = {"words": [], "context": []}
        spans_text, contexts, extras = self._fields(items, tokens)
        # the word vectorizers' tokens are the words `_fields` found: maximal runs of \w in
        # the lower-cased text (2 or more of them for the default token pattern)
        if takes_tokens(self.words_, DEFAULT_TOKEN_PATTERN):
            words = tokens_tfidf(self.words_, tokens["words"])
        else:
            words = self.words_.transform(spans_text)
        if takes_tokens(self.context_, r"\S+") and tuple(self.context_.ngram_range) == (1, 1):
            context = tokens_tfidf(self.context_, tokens["context"])
        else:
            context = self.context_.transform(contexts)
        return sp.hstack(
            [
                words,
                self.chars_.transform(spans_text),
                0.5 * context,
                self._extras_matrix(extras),
            ]
        ).tocsr()


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
