"""Span tagger: finds propaganda spans (any technique) with token and sentence classifiers.

Each token gets hashed context features (`features.token_matrix`) and, with
`word_vectors`, its words' GloVe clusters and vectors (`features.dense_tokens`); a logistic
regression (averaged SGD) gives the probability that it lies inside a span. A second
logistic regression scores each sentence (hashed word n-grams, character n-grams and, with
`word_vectors`, its mean word vector and a bag of word clusters): does it hold a span?
A token's score mixes the two, `(1 - sentence_weight) * p_token + sentence_weight *
p_sentence`, and (`document_weight`) the document's mean sentence probability; runs of
tokens scoring >= `threshold` (bridging gaps of up to `max_gap` tokens) become spans. The
weights, `threshold` and `max_gap` are chosen by grouped cross-validation for the
SemEval-2020 SI F1 (see `train.py`).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression, SGDClassifier

from annotate.learn.features import (
    DenseTokens,
    dense_tokens,
    sentence_matrix,
    token_matrix,
    tokenize,
)
from annotate.learn.linear import average_linear, fit_or_constant, hstack_dense, positive_proba
from annotate.learn.rules import BLIND, decode, mix
from annotate.learn.vectors import WordVectors
from annotate.metrics import merge_overlaps

Spans = Sequence[tuple[int, int]]


def group_name(group: Sequence[str]) -> str:
    """The source name of a technique group's token scores."""
    return "|".join(group)


def sentence_source(technique: str) -> str:
    """The source name of the blind token scores beside one technique's sentence scores."""
    return "sentence:" + technique


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


def token_weights(offsets: Sequence[tuple[int, int]], spans: Spans, power: float) -> np.ndarray:
    """Training weight of each token: 1 outside spans; inside a (merged) span of k tokens,
    k ** -power. SI recall averages over gold spans, so a one-word span counts as much as a
    forty-word one; unweighted, the token loss would be ruled by the long ones."""
    w = np.ones(len(offsets))
    if not power or not spans or not offsets:
        return w
    starts = np.array([a for a, _ in offsets])
    ends = np.array([b for _, b in offsets])
    for s, e in merge_overlaps(list(spans)):
        inside = (starts < e) & (ends > s)
        k = int(inside.sum())
        if k:
            w[inside] = k ** -float(power)
    return w


@dataclass
class Featurized:
    """Token and sentence features of some documents (computed once, sliced per CV fold)."""

    tokens: sp.csr_matrix
    dense: DenseTokens | None  # dense token features (factored), or None
    offsets: list[list[tuple[int, int]]]
    token_bounds: np.ndarray  # rows of document d: token_bounds[d]:token_bounds[d+1]
    sentences: sp.csr_matrix
    sentence_spans: list[list[tuple[int, int]]]
    sentence_bounds: np.ndarray
    token_sentence: np.ndarray  # global sentence row of each token row
    _design: sp.csr_matrix | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def token_design(self, rows: np.ndarray) -> sp.csr_matrix:
        """Token rows as the token classifier is trained on them: hashed, then dense features
        (float32). The stacked matrix is built once and sliced per CV fold."""
        if self.dense is None:
            return self.tokens[rows]
        with self._lock:
            if self._design is None:
                self._design = hstack_dense(self.tokens, self.dense.toarray())
        return self._design[rows]

    def token_rows(self, docs: Sequence[int]) -> np.ndarray:
        b = self.token_bounds
        return np.concatenate([np.arange(b[d], b[d + 1]) for d in docs] or [[]]).astype(int)

    def token_sentences(self) -> list[np.ndarray]:
        """Per document: the sentence number of each of its tokens."""
        b = self.token_bounds
        return [self.token_sentence[b[d] : b[d + 1]] for d in range(len(self.offsets))]

    def sentence_rows(self, docs: Sequence[int]) -> np.ndarray:
        b = self.sentence_bounds
        return np.concatenate([np.arange(b[d], b[d + 1]) for d in docs] or [[]]).astype(int)


def sentence_targets(sentence_spans: Sequence[tuple[int, int]], spans: Spans) -> np.ndarray:
    """1 for a sentence overlapping any gold span."""
    return token_targets(sentence_spans, spans)


class SpanTagger(BaseEstimator):
    """Token + sentence classifiers and run decoding. `fit(texts, spans)`, `predict(texts)`."""

    def __init__(
        self,
        n_features: int = 2**20,
        window: int = 2,
        sentence_words: bool = False,
        lexicons: dict[str, list[str]] | None = None,
        alpha: float = 2e-5,
        epochs: int = 8,
        class_weight: str | dict | None = None,
        sentence_C: float = 2.0,
        sentence_chars: bool = True,
        sentence_weight: float = 0.5,
        document_weight: float = 0.0,
        threshold: float = 0.35,
        max_gap: int = 1,
        min_tokens: int = 1,
        within_sentences: bool = True,
        average: bool = True,
        span_weight_power: float = 0.5,
        bags: int = 3,
        word_vectors: bool = True,
        vector_words: int = 100000,
        vector_clusters: Sequence[int] = (64, 512, 2048),
        vector_scale: float = 0.3,
        sentence_vector_weight: float = 2.0,
        groups: Sequence[Sequence[str]] = (
            ("Loaded_Language",),
            ("Name_Calling,Labeling",),
            ("Doubt",),
        ),
        group_bags: int = 1,
        technique_sentences: bool = False,
        technique_sentence_C: float = 2.0,
        rules: dict[str, dict] | None = None,
    ):
        self.n_features = n_features
        self.window = window
        self.sentence_words = sentence_words
        self.lexicons = lexicons
        self.alpha = alpha
        self.epochs = epochs
        self.class_weight = class_weight
        self.sentence_C = sentence_C
        self.sentence_chars = sentence_chars
        self.sentence_weight = sentence_weight
        self.document_weight = document_weight
        self.threshold = threshold
        self.max_gap = max_gap
        self.min_tokens = min_tokens
        self.within_sentences = within_sentences
        self.average = average
        self.span_weight_power = span_weight_power
        self.bags = bags
        self.word_vectors = word_vectors
        self.vector_words = vector_words
        self.vector_clusters = vector_clusters
        self.vector_scale = vector_scale
        self.sentence_vector_weight = sentence_vector_weight
        self.groups = groups
        self.group_bags = group_bags
        self.technique_sentences = technique_sentences
        self.technique_sentence_C = technique_sentence_C
        self.rules = rules

    # ---- features -------------------------------------------------------------------
    def vectors(self) -> WordVectors | None:
        """The word vectors and clusters (`vectors_`), made on first use when `word_vectors`:
        they depend on the hyper-parameters only, never on training data."""
        if not getattr(self, "word_vectors", False):
            return None
        if getattr(self, "vectors_", None) is None:
            self.vectors_ = WordVectors(self.vector_words, tuple(self.vector_clusters)).fit()
        return self.vectors_

    def featurize(self, texts: Sequence[str]) -> Featurized:
        tok = tokenize(texts)
        vectors = self.vectors()
        dense = None if vectors is None else dense_tokens(tok, vectors, self.vector_scale)
        return self._featurized(tok, vectors, dense)

    def _featurized(self, tok, vectors, dense) -> Featurized:
        """The feature rows of tokenized documents, beside their dense token features."""
        lexicons = {k: frozenset(v) for k, v in (self.lexicons or {}).items()}
        return Featurized(
            tokens=token_matrix(
                tok, self.n_features, self.window, lexicons, self.sentence_words, vectors
            ),
            dense=dense,
            offsets=tok.offsets,
            token_bounds=np.cumsum([0] + [len(o) for o in tok.offsets]),
            sentences=sentence_matrix(
                tok, self.n_features, self.sentence_chars, vectors, self.sentence_vector_weight
            ),
            sentence_spans=tok.sentence_spans,
            sentence_bounds=np.cumsum([0] + [len(s) for s in tok.sentence_spans]),
            token_sentence=tok.token_sentence,
        )

    # ---- fitting --------------------------------------------------------------------
    def fit(self, texts: Sequence[str], spans: Sequence[Spans]) -> SpanTagger:
        F = self.featurize(texts)
        return self.fit_featurized(F, range(len(texts)), spans)

    def fit_featurized(
        self, F: Featurized, docs: Sequence[int], spans: Sequence[Spans]
    ) -> SpanTagger:
        """Fit on the documents `docs` of precomputed features; `spans[i]` is docs[i]'s gold,
        `(start, end)` or `(start, end, technique)`: the technique-blind models learn from all
        of them, each technique group's models from the spans of its techniques."""
        docs = list(docs)
        X = F.token_design(F.token_rows(docs))
        self.token_classifier_, self.sentence_classifier_ = self._fit_pair(
            F, X, docs, [[(s[0], s[1]) for s in doc] for doc in spans], max(1, self.bags)
        )
        self.group_classifiers_ = []
        for group in self.groups or ():
            members = set(group)
            only = [[(s[0], s[1]) for s in doc if len(s) > 2 and s[2] in members] for doc in spans]
            self.group_classifiers_.append(
                self._fit_pair(F, X, docs, only, max(1, self.group_bags))
            )
        self.sentence_techniques_: list[str] = []
        self.technique_sentence_weights_ = None
        if self.technique_sentences:
            self._fit_technique_sentences(F, docs, spans)
        return self

    def _fit_technique_sentences(
        self, F: Featurized, docs: list[int], spans: Sequence[Spans]
    ) -> None:
        """A sentence classifier per technique (does the sentence hold a span of it?), kept
        as one sparse weight matrix: a technique-aware sentence score for its rule."""
        labels = sorted({s[2] for doc in spans for s in doc if len(s) > 2})
        X = F.sentences[F.sentence_rows(docs)]
        rows, intercepts = [], []
        for label in labels:
            only = [[(s[0], s[1]) for s in doc if len(s) > 2 and s[2] == label] for doc in spans]
            y = np.concatenate(
                [sentence_targets(F.sentence_spans[d], s) for d, s in zip(docs, only, strict=True)]
                or [[]]
            )
            clf = fit_or_constant(
                LogisticRegression(
                    C=self.technique_sentence_C, solver="liblinear", dual=True, random_state=0
                ),
                X,
                y,
            )
            if isinstance(clf, float):  # one class only: a constant score
                rows.append(sp.csr_matrix((1, X.shape[1]), dtype=np.float32))
                intercepts.append(10.0 if clf else -10.0)
            else:
                rows.append(sp.csr_matrix(clf.coef_.astype(np.float32)))
                intercepts.append(float(clf.intercept_[0]))
        self.sentence_techniques_ = labels
        if labels:
            W = sp.vstack(rows).tocsr()
            W.eliminate_zeros()
            self.technique_sentence_weights_ = W
            self.technique_sentence_intercepts_ = np.array(intercepts)

    def _fit_pair(self, F: Featurized, X, docs: list[int], spans: Sequence[Spans], bags: int):
        """A token classifier (averaged SGD runs) and a sentence classifier for these spans."""
        y_tok = np.concatenate(
            [token_targets(F.offsets[d], s) for d, s in zip(docs, spans, strict=True)] or [[]]
        )
        y_sent = np.concatenate(
            [sentence_targets(F.sentence_spans[d], s) for d, s in zip(docs, spans, strict=True)]
            or [[]]
        )
        power = self.span_weight_power
        weights = None
        if power and y_tok.any():
            weights = np.concatenate(
                [token_weights(F.offsets[d], s, power) for d, s in zip(docs, spans, strict=True)]
            )
            weights[y_tok == 1] /= weights[y_tok == 1].mean()  # positives keep a mean weight of 1
        runs = [
            fit_or_constant(
                SGDClassifier(
                    loss="log_loss",
                    alpha=self.alpha,
                    max_iter=self.epochs,
                    tol=None,
                    class_weight=self.class_weight,
                    average=self.average,
                    random_state=seed,
                ),
                X,
                y_tok,
                weights,
            )
            for seed in range(bags)
        ]
        sentence = fit_or_constant(
            LogisticRegression(C=self.sentence_C, solver="liblinear", dual=True, random_state=0),
            F.sentences[F.sentence_rows(docs)],
            y_sent,
        )
        return average_linear(runs), sentence

    # ---- prediction -----------------------------------------------------------------
    def scores_featurized(
        self, F: Featurized, docs: Sequence[int]
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Per document: token probabilities and their sentence's probability (blind models)."""
        return self._pair_scores(F, docs, self.token_classifier_, self.sentence_classifier_)

    def source_scores_featurized(
        self, F: Featurized, docs: Sequence[int]
    ) -> dict[str, tuple[list[np.ndarray], list[np.ndarray]]]:
        """Token and sentence probabilities per source: `blind` and each technique group."""
        out = {BLIND: self.scores_featurized(F, docs)}
        for group, (tok, sent) in zip(
            self.groups or (), getattr(self, "group_classifiers_", ()), strict=False
        ):
            out[group_name(group)] = self._pair_scores(F, docs, tok, sent)
        W = getattr(self, "technique_sentence_weights_", None)
        if W is not None and self.sentence_techniques_:
            blind_tok = out[BLIND][0]
            rows = F.token_rows(docs)
            sent_rows = F.sentence_rows(docs)
            z = F.sentences[sent_rows] @ W.T
            z = (
                np.asarray(z.todense() if sp.issparse(z) else z)
                + self.technique_sentence_intercepts_
            )
            p_all = np.zeros((F.sentences.shape[0], W.shape[0]))
            p_all[sent_rows] = expit(z)
            per_token = p_all[F.token_sentence[rows]] if rows.size else np.zeros((0, W.shape[0]))
            bounds = np.cumsum([0] + [F.token_bounds[d + 1] - F.token_bounds[d] for d in docs])
            for j, label in enumerate(self.sentence_techniques_):
                out[sentence_source(label)] = (
                    blind_tok,
                    [per_token[bounds[i] : bounds[i + 1], j] for i in range(len(docs))],
                )
        return out

    def source_scores(
        self, texts: Sequence[str], chunk: int
    ) -> tuple[list[list], dict[str, tuple[list[np.ndarray], list[np.ndarray]]], list[np.ndarray]]:
        """Per document: token offsets, `source_scores_featurized(featurize(texts))` (the same
        numbers, the sparse rows built `chunk` documents at a time; tokens and dense features
        on the whole batch, as float32 products depend on it) and token sentence numbers."""
        tok = tokenize(texts)
        vectors = self.vectors()
        dense = None if vectors is None else dense_tokens(tok, vectors, self.vector_scale)
        if dense is not None:
            dense.products = {}  # each classifier's products over the batch, once
        token_bounds = np.cumsum([0] + [len(o) for o in tok.offsets])
        out: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {}
        for lo in range(0, len(texts), max(1, chunk)):
            hi = min(len(texts), lo + max(1, chunk))
            sub = tok.documents(lo, hi)
            rows = None if dense is None else dense[np.arange(*token_bounds[[lo, hi]])]
            F = self._featurized(sub, vectors, rows)
            for name, (p_tok, p_sent) in self.source_scores_featurized(F, range(hi - lo)).items():
                held = out.setdefault(name, ([], []))
                held[0].extend(p_tok), held[1].extend(p_sent)
            del F, sub
        bounds = zip(token_bounds[:-1], token_bounds[1:], strict=True)
        return tok.offsets, out, [tok.token_sentence[a:b] for a, b in bounds]

    def _pair_scores(self, F: Featurized, docs: Sequence[int], token_clf, sentence_clf):
        rows = F.token_rows(docs)
        p_tok = positive_proba(
            token_clf, F.tokens[rows], None if F.dense is None else F.dense[rows]
        )
        sent_rows = F.sentence_rows(docs)
        p_sent_all = np.zeros(F.sentences.shape[0])
        p_sent_all[sent_rows] = positive_proba(sentence_clf, F.sentences[sent_rows])
        p_sent = p_sent_all[F.token_sentence[rows]] if rows.size else np.zeros(0)
        tok_out, sent_out, at = [], [], 0
        for d in docs:
            n = F.token_bounds[d + 1] - F.token_bounds[d]
            tok_out.append(p_tok[at : at + n])
            sent_out.append(p_sent[at : at + n])
            at += n
        return tok_out, sent_out

    def score_tokens(
        self, texts: Sequence[str]
    ) -> tuple[list[list], list[np.ndarray], list[np.ndarray]]:
        """Per document: token offsets, mixed token scores, and each token's sentence number."""
        F = self.featurize(texts)
        p_tok, p_sent = self.scores_featurized(F, range(len(texts)))
        mixed = [
            mix(t, s, self.sentence_weight, self.document_weight)
            for t, s in zip(p_tok, p_sent, strict=True)
        ]
        return F.offsets, mixed, F.token_sentences()

    def token_proba(self, texts: Sequence[str]) -> tuple[list[list], list[np.ndarray]]:
        """Token offsets and mixed token scores per document."""
        offsets, probas, _ = self.score_tokens(texts)
        return offsets, probas

    def decode_spans(
        self,
        offsets: Sequence[tuple[int, int]],
        proba: np.ndarray,
        sentence: np.ndarray,
        threshold: float | None = None,
    ) -> list[tuple[int, int, float]]:
        """One document's token scores -> spans, with this tagger's decoding settings."""
        return decode(
            offsets,
            proba,
            self.threshold if threshold is None else threshold,
            self.max_gap,
            self.min_tokens,
            sentence if getattr(self, "within_sentences", False) else None,
        )

    def predict(self, texts: Sequence[str]) -> list[list[tuple[int, int, float]]]:
        offsets, probas, sentences = self.score_tokens(texts)
        return [
            self.decode_spans(o, p, s) for o, p, s in zip(offsets, probas, sentences, strict=True)
        ]
