"""Fitting the technique and frame classifiers (with their cross-validated figures and the
frames' decision threshold)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sklearn.model_selection import GroupKFold

from annotate import metrics
from annotate.learn.fit_spans import kfolds
from annotate.learn.frames import FrameClassifier
from annotate.learn.technique import TechniqueClassifier


def technique_params(cfg: dict[str, Any], lexicons: dict[str, list[str]]) -> dict[str, Any]:
    """`TechniqueClassifier` parameters from the `[technique]` table of a model config."""
    return {
        "C": float(cfg.get("C", 4.0)),
        "context_words": int(cfg.get("context_words", 4)),
        "char_ngrams": tuple(cfg.get("char_ngrams", (2, 5))),
        "lexicons": lexicons or None,
    }


def fit_technique(
    items: list[tuple[str, int, int]],
    labels: list[str],
    groups: list[int],
    cfg: dict[str, Any],
    techniques: Sequence[str],
    lexicons: dict[str, list[str]],
    say: Callable[[str], None],
) -> tuple[TechniqueClassifier, dict[str, float]]:
    params = technique_params(cfg, lexicons)
    cv: dict[str, float] = {}
    k = min(int(cfg.get("cv_folds", 5)), len(set(groups)))
    if k >= 2 and len(set(labels)) > 1:
        pred = np.empty(len(items), dtype=object)
        for f, (tr, te) in enumerate(GroupKFold(k).split(items, labels, groups), 1):
            say(f"technique classifier: fold {f}/{k}")
            if len({labels[i] for i in tr}) < 2:
                pred[te] = labels[tr[0]]
                continue
            clf = TechniqueClassifier(**params).fit([items[i] for i in tr], [labels[i] for i in tr])
            pred[te] = clf.predict([items[i] for i in te])
        cv = metrics.tc_f1(list(pred), labels, techniques)
    say("technique classifier: final fit")
    return TechniqueClassifier(**params).fit(items, labels), cv


def micro_f1(decided: np.ndarray, truth: np.ndarray) -> float:
    """F1 of boolean decisions against boolean truth, micro over every cell."""
    return 2 * float((decided & truth).sum()) / max(int(decided.sum() + truth.sum()), 1)


def best_threshold(grid: Sequence[float], scores: np.ndarray, truth: np.ndarray) -> float:
    """The first grid value whose decisions `scores >= t` have the best F1 against `truth`
    (micro over every cell when the arrays are 2-D)."""
    return max(grid, key=lambda t: micro_f1(scores >= t, truth))


def frame_params(cfg: dict[str, Any], frames: Sequence[str]) -> dict[str, Any]:
    """`FrameClassifier` parameters from the `[frames]` table of a model config."""
    return {
        "frames": tuple(frames),
        "C": float(cfg.get("C", 8.0)),
        "ngram_range": tuple(cfg.get("ngram_range", (1, 2))),
        "min_df": int(cfg.get("min_df", 2)),
        "class_weight": cfg.get("class_weight") or None,
        "word_vectors": bool(cfg.get("word_vectors", True)),
        "vector_words": int(cfg.get("vector_words", 100000)),
        "vector_weight": float(cfg.get("vector_weight", 1.0)),
    }


def fit_frames(
    texts: list[str],
    frame_sets: list[list[str]],
    cfg: dict[str, Any],
    frames: Sequence[str],
    seed: int,
    say: Callable[[str], None],
) -> tuple[FrameClassifier, dict[str, float], dict[str, float]]:
    params = frame_params(cfg, frames)
    grid = [float(t) for t in cfg.get("threshold_grid", [0.5])]
    per_frame = str(cfg.get("thresholds", "global")) == "per_frame"
    thresholds = {f: 0.5 for f in frames}
    cv: dict[str, Any] = {}
    folds = kfolds(len(texts), int(cfg.get("cv_folds", 5)), seed)
    if folds:
        oof = np.zeros((len(texts), len(frames)))
        for f, (tr, te) in enumerate(folds, 1):
            say(f"frame classifier: fold {f}/{len(folds)}")
            clf = FrameClassifier(**params).fit([texts[i] for i in tr], [frame_sets[i] for i in tr])
            oof[te] = clf.predict_proba([texts[i] for i in te])
        gold = [set(fs) for fs in frame_sets]
        truth = np.array([[frame in g for frame in frames] for g in gold]).reshape(oof.shape)
        if per_frame:  # a threshold per frame: fits small frames' few examples closely
            for j, frame in enumerate(frames):
                thresholds[frame] = best_threshold(grid, oof[:, j], truth[:, j])
        else:  # one threshold for all frames, for micro-F1: steadier on a few hundred documents
            thresholds = dict.fromkeys(frames, best_threshold(grid, oof, truth))
        pred = [{f for j, f in enumerate(frames) if row[j] >= thresholds[f]} for row in oof]
        scores = metrics.multilabel_f1(pred, gold, frames)
        cv = {"micro_f1": scores["micro_f1"], "macro_f1": scores["macro_f1"]}
    say("frame classifier: final fit")
    clf = FrameClassifier(**params, thresholds=thresholds).fit(texts, frame_sets)
    return clf, cv, thresholds
