"""Span tagger: finds propaganda spans (any technique) with a token-level classifier.

Each token gets hashed context features (`features.token_features`); a logistic regression
gives the probability that the token lies inside a span; runs of tokens above `threshold`
(bridging gaps of up to `max_gap` tokens) become spans. `threshold` and `max_gap` are
chosen by grouped cross-validation for the SemEval-2020 SI F1 (see `train.py`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.feature_extraction import FeatureHasher
from sklearn.linear_model import SGDClassifier

from annotate.learn.features import token_features

Spans = Sequence[tuple[int, int]]


class TokenFeaturizer(BaseEstimator):
    """Documents -> (sparse token-feature matrix, token offsets per document). Stateless."""

    def __init__(
        self,
        n_features: int = 2**20,
        window: int = 2,
        sentence_words: bool = True,
        lexicons: dict[str, list[str]] | None = None,
    ):
        self.n_features = n_features
        self.window = window
        self.sentence_words = sentence_words
        self.lexicons = lexicons

    def fit(self, texts=None, y=None) -> TokenFeaturizer:
        return self

    def transform_docs(self, texts: Sequence[str]) -> tuple[sp.csr_matrix, list[list]]:
        lexicons = {k: frozenset(v) for k, v in (self.lexicons or {}).items()}
        hasher = FeatureHasher(self.n_features, input_type="string", alternate_sign=False)
        offsets: list[list[tuple[int, int]]] = []
        rows: list[list[str]] = []
        for text in texts:
            spans, feats = token_features(text, lexicons, self.window, self.sentence_words)
            offsets.append(spans)
            rows.extend(feats)
        if not rows:
            return sp.csr_matrix((0, self.n_features)), offsets
        return hasher.transform(rows).tocsr(), offsets


def token_targets(offsets: Sequence[tuple[int, int]], spans: Spans) -> np.ndarray:
    """1 for a token overlapping any gold span, else 0."""
    y = np.zeros(len(offsets), dtype=np.int8)
    if not spans or not offsets:
        return y
    starts = np.array([a for a, _ in offsets])
    ends = np.array([b for _, b in offsets])
    for s, e in spans:
        y[(starts < e) & (ends > s)] = 1
    return y


def decode(
    offsets: Sequence[tuple[int, int]],
    proba: np.ndarray,
    threshold: float,
    max_gap: int = 1,
    min_tokens: int = 1,
) -> list[tuple[int, int, float]]:
    """Runs of tokens with probability >= threshold (gaps <= max_gap bridged) -> spans + score."""
    out: list[tuple[int, int, float]] = []
    hot = np.flatnonzero(proba >= threshold)
    if hot.size == 0:
        return out
    run = [hot[0]]
    for i in hot[1:]:
        if i - run[-1] - 1 <= max_gap:
            run.append(i)
        else:
            out.append(_span(offsets, proba, run))
            run = [i]
    out.append(_span(offsets, proba, run))
    return [(a, b, p) for a, b, p, n in out if n >= min_tokens]


def _span(offsets, proba, run) -> tuple[int, int, float, int]:
    first, last = run[0], run[-1]
    return (
        int(offsets[first][0]),
        int(offsets[last][1]),
        float(proba[first : last + 1].mean()),
        last - first + 1,
    )


class SpanTagger(BaseEstimator):
    """Token classifier + run decoding. `fit(texts, spans_per_doc)`, `predict(texts)`."""

    def __init__(
        self,
        n_features: int = 2**20,
        window: int = 2,
        sentence_words: bool = True,
        lexicons: dict[str, list[str]] | None = None,
        alpha: float = 2e-6,
        epochs: int = 8,
        class_weight: str | dict | None = None,
        threshold: float = 0.35,
        max_gap: int = 1,
        min_tokens: int = 1,
    ):
        self.n_features = n_features
        self.window = window
        self.sentence_words = sentence_words
        self.lexicons = lexicons
        self.alpha = alpha
        self.epochs = epochs
        self.class_weight = class_weight
        self.threshold = threshold
        self.max_gap = max_gap
        self.min_tokens = min_tokens

    def featurizer(self) -> TokenFeaturizer:
        return TokenFeaturizer(self.n_features, self.window, self.sentence_words, self.lexicons)

    def fit(self, texts: Sequence[str], spans: Sequence[Spans]) -> SpanTagger:
        X, offsets = self.featurizer().transform_docs(texts)
        y = np.concatenate([token_targets(o, s) for o, s in zip(offsets, spans, strict=True)])
        return self.fit_matrix(X, y)

    def fit_matrix(self, X: sp.csr_matrix, y: np.ndarray) -> SpanTagger:
        """Fit on precomputed token features (cross-validation reuses one matrix)."""
        self.classifier_ = SGDClassifier(
            loss="log_loss",
            alpha=self.alpha,
            max_iter=self.epochs,
            tol=None,
            class_weight=self.class_weight,
            random_state=0,
        )
        self.classifier_.fit(X, y)
        return self

    def token_proba(self, texts: Sequence[str]) -> tuple[list[list], list[np.ndarray]]:
        X, offsets = self.featurizer().transform_docs(texts)
        p = self.classifier_.predict_proba(X)[:, 1] if X.shape[0] else np.zeros(0)
        out, at = [], 0
        for o in offsets:
            out.append(p[at : at + len(o)])
            at += len(o)
        return offsets, out

    def predict(self, texts: Sequence[str]) -> list[list[tuple[int, int, float]]]:
        offsets, probas = self.token_proba(texts)
        return [
            decode(o, p, self.threshold, self.max_gap, self.min_tokens)
            for o, p in zip(offsets, probas, strict=True)
        ]
