"""Active learning: choose the documents of a pool whose labels would teach the model most.

Uncertainty sampling with diversity. A document's *uncertainty* (0 = sure, 1 = most
undecided of the pool) has two parts, averaged when both are there:
- spans: the *total token entropy* of the span tagger's token scores (Settles & Craven 2008,
  "An analysis of active learning strategies for sequence labeling tasks"): the sum over the
  document's tokens of the binary entropy of P(token inside a span), i.e. how many token
  decisions the model is unsure of. Divided by the pool's largest value. It prefers documents
  with many undecided tokens, which also means longer ones: per labelled article it learns
  faster than random selection (bench/learning_curve.py), per labelled word less clearly.
  A model without a span tagger falls back on the propaganda probability's closeness to 0.5;
- frames: each frame probability's closeness to that frame's tuned threshold, averaged.
`select_diverse` then takes documents greedily by uncertainty minus their TF-IDF cosine
similarity to the documents already chosen, and never takes a near-copy (similarity >=
`duplicate_similarity`) of a chosen one while other documents remain, so a batch is not spent
on one story syndicated five times.

In Label Studio, the chosen tasks carry the model's prediction with `score = 1 - uncertainty`;
with the project's sampling set to "Uncertainty sampling" Label Studio serves the tasks with
the lowest prediction score of the project's `model_version` first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from annotate.errors import BadInput

DECISION = 0.5
PREDICT_BATCH = 256
UNCERTAINTY_SAMPLING = "Uncertainty sampling"  # Label Studio's project.sampling value


def closeness(p: np.ndarray | float, threshold: float = DECISION) -> np.ndarray:
    """1 at the threshold, falling linearly to 0 at p = 0 and p = 1 (per element)."""
    p = np.asarray(p, dtype=float)
    t = float(min(max(threshold, 1e-6), 1 - 1e-6))
    below = 1.0 - (t - p) / t
    above = 1.0 - (p - t) / (1.0 - t)
    return np.clip(np.where(p < t, below, above), 0.0, 1.0)


def total_token_entropy(token_proba: np.ndarray) -> float:
    """Sum of the binary entropies (bits) of a document's token scores: 0 when all are sure."""
    from scipy.special import xlogy

    p = np.clip(np.asarray(token_proba, dtype=float), 0.0, 1.0)
    if not p.size:
        return 0.0
    return float(-(xlogy(p, p) + xlogy(1 - p, 1 - p)).sum() / np.log(2))


def threshold_closeness(token_proba: np.ndarray, threshold: float = DECISION) -> float:
    """Mean closeness of a document's token scores to the tagger's threshold (a
    length-normalised score; the earlier selection, kept for comparison in the bench)."""
    return float(closeness(token_proba, threshold).mean()) if len(token_proba) else 0.0


def uncertainty(
    record: Mapping[str, Any],
    frame_thresholds: Mapping[str, float] | None = None,
    span_uncertainty: float | None = None,
) -> float:
    """How undecided a prediction (Model.predict item or score record) is, in [0, 1].

    `span_uncertainty` (in [0, 1], e.g. normalised total token entropy) stands for the spans;
    without it the propaganda probability's closeness to 0.5 does.
    """
    parts = []
    if span_uncertainty is not None:
        parts.append(float(span_uncertainty))
    elif record.get("propaganda") is not None:
        parts.append(float(closeness(record["propaganda"])))
    frames = record.get("frames") or {}
    if frames:
        thresholds = frame_thresholds or {}
        parts.append(
            float(np.mean([closeness(p, thresholds.get(f, DECISION)) for f, p in frames.items()]))
        )
    if not parts:
        raise BadInput("selecting by uncertainty needs model predictions (give --model)")
    return float(np.mean(parts))


def span_uncertainties(tagger: Any, texts: Sequence[str]) -> list[float]:
    """Total token entropy of each text under `tagger` (SpanTagger.token_proba), divided by
    the largest of them, so in [0, 1]."""
    entropies: list[float] = []
    for start in range(0, len(texts), PREDICT_BATCH):
        _, probas = tagger.token_proba(list(texts[start : start + PREDICT_BATCH]))
        entropies.extend(total_token_entropy(p) for p in probas)
    return normalised(entropies)


def normalised(values: Sequence[float]) -> list[float]:
    """Each value divided by the largest (all 0 when the largest is about 0)."""
    top = max(values, default=0.0)
    return [v / top if top > 1e-9 else 0.0 for v in values]


def document_vectors(texts: Sequence[str]):
    """L2-normalised TF-IDF rows (word unigrams and bigrams), for cosine similarity."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=1)
    return vectorizer.fit_transform([t if t.strip() else "<empty>" for t in texts])


def density(vectors) -> np.ndarray:
    """Each row's mean cosine similarity to the other rows (L2-normalised TF-IDF rows): how
    typical a document is of the pool (the "information density" weight of Settles & Craven
    2008, which keeps uncertainty sampling off outliers)."""
    n = vectors.shape[0]
    if n < 2:
        return np.ones(n)
    total = np.asarray(vectors.sum(axis=0)).ravel()
    sims = np.asarray(vectors @ total).ravel()
    return np.clip((sims - 1.0) / (n - 1), 0.0, None)


def select_diverse(
    uncertainties: Sequence[float],
    vectors,
    n: int,
    *,
    redundancy: float = 1.0,
    duplicate_similarity: float = 0.8,
) -> list[int]:
    """Indexes of `n` documents: greedy max of uncertainty - redundancy * similarity to chosen."""
    u = np.asarray(uncertainties, dtype=float)
    n = min(int(n), len(u))
    if n < 0:
        raise BadInput("the number of documents to select must be positive")
    chosen: list[int] = []
    max_sim = np.zeros(len(u))
    available = np.ones(len(u), dtype=bool)
    for _ in range(n):
        gain = u - redundancy * max_sim
        fresh = available & (max_sim < duplicate_similarity)
        pool = fresh if fresh.any() else available  # only near-copies left: take them anyway
        gain = np.where(pool, gain, -np.inf)
        best = int(np.argmax(gain))
        chosen.append(best)
        available[best] = False
        sims = (vectors @ vectors[best].T).toarray().ravel()
        max_sim = np.maximum(max_sim, sims)
    return chosen


def select_uncertain(
    texts: Sequence[str],
    predictions: Sequence[Mapping[str, Any]],
    n: int,
    *,
    frame_thresholds: Mapping[str, float] | None = None,
    span_uncertainty: Sequence[float] | None = None,
    redundancy: float = 1.0,
    duplicate_similarity: float = 0.8,
) -> list[dict[str, Any]]:
    """The `n` most uncertain, mutually dissimilar documents: [{"index", "uncertainty"}].

    `span_uncertainty`: one value in [0, 1] per text (`span_uncertainties`), or None."""
    if len(texts) != len(predictions):
        raise ValueError("one prediction per text")
    if span_uncertainty is not None and len(span_uncertainty) != len(texts):
        raise ValueError("one span uncertainty per text")
    spans = span_uncertainty if span_uncertainty is not None else [None] * len(texts)
    u = [uncertainty(p, frame_thresholds, s) for p, s in zip(predictions, spans, strict=True)]
    if not texts:
        return []
    picked = select_diverse(
        u,
        document_vectors(texts),
        n,
        redundancy=redundancy,
        duplicate_similarity=duplicate_similarity,
    )
    return [{"index": i, "uncertainty": round(u[i], 6)} for i in picked]


def select_documents(docs: Sequence, model: Any, n: int) -> tuple[list, dict[str, float]]:
    """Run `model` over the pool and keep `n` documents; returns them (chosen order) and
    `{doc id: prediction score}` with score = 1 - uncertainty (low = ask a person first)."""
    if model is None:
        raise BadInput("--select needs --model: uncertainty comes from a trained model")
    if n < 1:
        raise BadInput("--select must be at least 1")
    texts = [d.text for d in docs]
    predictions: list[dict] = []
    token_scores: list[np.ndarray] = []
    for start in range(0, len(texts), PREDICT_BATCH):
        predictions.extend(model.predict(texts[start : start + PREDICT_BATCH], token_scores))
    spans = None
    if getattr(model, "tagger", None) is not None:  # one tagger pass serves spans and entropy
        spans = normalised([total_token_entropy(p) for p in token_scores])
    picked = select_uncertain(
        texts,
        predictions,
        n,
        frame_thresholds=getattr(model, "frame_thresholds", None),
        span_uncertainty=spans,
    )
    chosen = [docs[p["index"]] for p in picked]
    scores = {docs[p["index"]].id: round(1.0 - p["uncertainty"], 6) for p in picked}
    return chosen, scores
