"""Document classifiers: frames (multi-label) and the calibrated `propaganda` probability.

Frames: TF-IDF of words (1-2 grams) and (`word_vectors`) the document's mean GloVe vector +
one-vs-rest logistic regression; the decision threshold (one for all frames, or one per
frame) is chosen by grouped cross-validation (`train.py`) for micro-F1.
Propaganda: a logistic regression over summary statistics of the span tagger's token
probabilities (max, top-k mean, share of hot tokens, length), calibrated by sigmoid.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import MultiLabelBinarizer

from annotate.learn.features import CompactTfidfVectorizer
from annotate.learn.vectors import DocumentVectors


class FrameClassifier(BaseEstimator, ClassifierMixin):
    """`fit(texts, frame_sets)`; `predict_proba(texts)` -> (n_docs, n_frames) in `classes_` order."""

    def __init__(
        self,
        frames: Sequence[str] = (),
        C: float = 8.0,
        ngram_range: tuple[int, int] = (1, 2),
        min_df: int = 2,
        max_features: int = 100000,
        thresholds: dict[str, float] | None = None,
        class_weight: str | None = None,
        word_vectors: bool = True,
        vector_words: int = 100000,
        vector_weight: float = 1.0,
    ):
        self.class_weight = class_weight
        self.word_vectors = word_vectors
        self.vector_words = vector_words
        self.vector_weight = vector_weight
        self.frames = frames
        self.C = C
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_features = max_features
        self.thresholds = thresholds

    def fit(self, texts: Sequence[str], frame_sets: Sequence[Sequence[str]]) -> FrameClassifier:
        self.binarizer_ = MultiLabelBinarizer(classes=list(self.frames)).fit([])
        Y = self.binarizer_.transform([set(f) & set(self.frames) for f in frame_sets])
        self.classes_ = np.array(list(self.frames), dtype=object)
        self.constant_ = {}
        columns = []
        for j in range(Y.shape[1]):
            if Y[:, j].min() == Y[:, j].max():  # a frame always or never present: constant
                self.constant_[self.classes_[j]] = float(Y[0, j]) if len(Y) else 0.0
            else:
                columns.append(j)
        self.columns_ = columns
        self.pipeline_ = self.build_pipeline()
        if columns:
            self.pipeline_.fit(list(texts), Y[:, columns])
        return self

    def build_pipeline(self) -> Pipeline:
        """The unfitted features + one-vs-rest pipeline (`fit` fits it on the varying frames)."""
        features = [
            (
                "tfidf",
                CompactTfidfVectorizer(
                    ngram_range=tuple(self.ngram_range),
                    sublinear_tf=True,
                    min_df=self.min_df,
                    max_features=self.max_features,
                    stop_words="english",
                ),
            )
        ]
        if self.word_vectors:
            features.append(("vectors", DocumentVectors(self.vector_words, self.vector_weight)))
        return Pipeline(
            [
                ("features", FeatureUnion(features)),
                (
                    "ovr",
                    OneVsRestClassifier(
                        LogisticRegression(
                            C=self.C,
                            solver="liblinear",
                            class_weight=self.class_weight,
                            random_state=0,
                        )
                    ),
                ),
            ]
        )

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(self.classes_)))
        if not len(texts):
            return out
        if self.columns_:
            out[:, self.columns_] = self.pipeline_.predict_proba(list(texts))
        for j, frame in enumerate(self.classes_):
            if frame in self.constant_:
                out[:, j] = self.constant_[frame]
        return out

    def predict(self, texts: Sequence[str]) -> list[list[str]]:
        proba = self.predict_proba(texts)
        thresholds = self.thresholds or {}
        return [
            [f for j, f in enumerate(self.classes_) if row[j] >= thresholds.get(f, 0.5)]
            for row in proba
        ]


def tagger_summary(proba: np.ndarray, hot: float = 0.3) -> list[float]:
    """Summary of one document's token probabilities: the propaganda model's inputs."""
    if proba.size == 0:
        return [0.0, 0.0, 0.0, 0.0, 0.0]
    top = np.sort(proba)[::-1]
    return [
        float(top[0]),
        float(top[:10].mean()),
        float(top[:50].mean()),
        float((proba >= hot).mean()),
        float(np.log1p(proba.size)),
    ]


class PropagandaScorer(BaseEstimator, ClassifierMixin):
    """Calibrated P(document has any technique span) from `tagger_summary` features."""

    def __init__(self, C: float = 1.0):
        self.C = C

    def fit(self, X: np.ndarray, y: Sequence[int]) -> PropagandaScorer:
        y = np.asarray(y, dtype=int)
        self.prior_ = float(y.mean()) if y.size else 0.0
        self.classifier_ = None
        if y.size and 2 <= y.sum() <= y.size - 2:
            # Logistic regression is itself a sigmoid calibration of a linear score.
            self.classifier_ = LogisticRegression(C=self.C, solver="lbfgs").fit(
                np.asarray(X, dtype=float), y
            )
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        if self.classifier_ is None:
            p = np.full(len(X), self.prior_)
        else:
            p = self.classifier_.predict_proba(X)[:, 1]
        return np.column_stack([1 - p, p])
