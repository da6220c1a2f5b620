"""Frame classifier variants on bench/quality.py's outer folds: where the linear plateau lies.

    .venv/bin/python bench/frames_variants.py [--only NAME ...]

Every variant is scored exactly as `annotate train` scores the shipped one: on each of the 5
outer folds (the same folds over article ids as bench/quality.py), the decision rule is
tuned on out-of-fold probabilities of an inner 5-fold CV of the training part, then the
model fitted on the whole training part is scored on the held-out part. Figures are the
mean over the outer folds of micro-F1, for three decision rules:
  thr   one threshold for all frames (the shipped rule);
  rel   a frame is on if p >= t or p >= r * (the article's highest p);
  card  the k most probable frames, k = round(s * sum of the article's p), at least 1.
Variants: the shipped model (models/default.toml), its C, vector weight and min_df moved,
a C per frame chosen by inner CV on log-loss (LogisticRegressionCV), NB-LR (Wang and
Manning 2012: binary n-grams scaled by each frame's naive-Bayes log-count ratio) and 100
LSA components beside the TF-IDF. For the shipped model, per frame: ROC AUC of the held-out
probabilities, and F1 beside that of always answering yes. Writes
bench/out/frames_variants.json (`--only` updates those variants' entries). About 15 minutes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.metrics import roc_auc_score
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import Normalizer

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from quality import OUT, article_folds, load_rows  # noqa: E402

from annotate.corpus import merge  # noqa: E402
from annotate.learn.features import CompactTfidfVectorizer  # noqa: E402
from annotate.learn.fit_labels import frame_params, micro_f1  # noqa: E402
from annotate.learn.fit_spans import kfolds  # noqa: E402
from annotate.learn.frames import FrameClassifier  # noqa: E402
from annotate.learn.train import load_config  # noqa: E402
from annotate.learn.vectors import DocumentVectors  # noqa: E402
from annotate.schema import load_schema  # noqa: E402


class PerFrameC(FrameClassifier):
    """The shipped features; each frame's C chosen by 5-fold CV on log-loss."""

    def build_pipeline(self):
        return (
            super()
            .build_pipeline()
            .set_params(
                ovr=OneVsRestClassifier(
                    LogisticRegressionCV(
                        Cs=[1, 2, 4, 8, 16, 32],
                        cv=5,
                        scoring="neg_log_loss",
                        solver="liblinear",
                        l1_ratios=(0.0,),
                        use_legacy_attributes=False,
                    )
                )
            )
        )


class WithLSA(FrameClassifier):
    """The shipped features plus the unit vector of 100 LSA components of the TF-IDF."""

    def build_pipeline(self):
        pipeline = super().build_pipeline()
        tfidf = CompactTfidfVectorizer(
            ngram_range=(1, 2), sublinear_tf=True, min_df=2, stop_words="english"
        )
        lsa = Pipeline(
            [("tfidf", tfidf), ("svd", TruncatedSVD(100, random_state=0)), ("unit", Normalizer())]
        )
        pipeline.named_steps["features"].transformer_list.append(("lsa", lsa))
        return pipeline


class NBLR:
    """Per frame: binary 1-2-grams scaled by the frame's NB log-count ratio (unit rows), the
    mean GloVe vector beside, logistic regression."""

    def __init__(self, frames, C: float = 8.0):
        self.frames, self.C = list(frames), C

    def _binary(self, texts) -> sp.csr_matrix:
        X = self.vectorizer_.transform(texts).tocsr()
        X.data[:] = 1.0
        return X

    def _design(self, X, r, D):
        Xr = sp.csr_matrix(X.multiply(r))
        norms = sp.linalg.norm(Xr, axis=1)
        Xr = sp.diags(1 / np.where(norms == 0, 1, norms)) @ Xr
        return sp.hstack([Xr, D]).tocsr()

    def fit(self, texts, frame_sets):
        self.vectorizer_ = TfidfVectorizer(
            ngram_range=(1, 2), min_df=2, use_idf=False, norm=None, stop_words="english"
        ).fit(texts)
        X = self._binary(texts)
        self.doc_vectors_ = DocumentVectors().fit()
        D = self.doc_vectors_.transform(texts)
        Y = np.array([[f in g for f in self.frames] for g in frame_sets])
        self.models_ = []
        for j in range(len(self.frames)):
            y = Y[:, j]
            if y.min() == y.max():
                self.models_.append(float(y[0]))
                continue
            p, q = 1 + X[y].sum(0).A1, 1 + X[~y].sum(0).A1
            r = np.log((p / p.sum()) / (q / q.sum()))
            clf = LogisticRegression(C=self.C, solver="liblinear").fit(self._design(X, r, D), y)
            self.models_.append((r, clf))
        return self

    def predict_proba(self, texts):
        X, D = self._binary(texts), self.doc_vectors_.transform(texts)
        out = np.zeros((len(texts), len(self.frames)))
        for j, m in enumerate(self.models_):
            out[:, j] = (
                m if isinstance(m, float) else m[1].predict_proba(self._design(X, m[0], D))[:, 1]
            )
        return out


def rule_threshold(P, t):
    return P >= t


def rule_relative(P, t, r):
    return (P >= t) | (P >= r * P.max(axis=1, keepdims=True))


def rule_cardinality(P, s):
    k = np.clip(np.rint(P.sum(axis=1) * s), 1, P.shape[1]).astype(int)
    ranks = np.argsort(np.argsort(-P, axis=1), axis=1)
    return ranks < k[:, None]


RULES = {
    "thr": (rule_threshold, [(t,) for t in np.arange(0.2, 0.61, 0.05)]),
    "rel": (
        rule_relative,
        [(t, r) for t in np.arange(0.25, 0.61, 0.05) for r in (0.5, 0.6, 0.7, 0.8, 0.9, 1.01)],
    ),
    "card": (rule_cardinality, [(s,) for s in np.arange(0.7, 1.5, 0.05)]),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", action="append", help="run only these variants")
    args = ap.parse_args()
    frames = list(load_schema().frames)
    shipped = frame_params(load_config(REPO / "models" / "default.toml")["frames"], frames)
    variants = {
        "shipped": lambda: FrameClassifier(**shipped),
        "C=4": lambda: FrameClassifier(**{**shipped, "C": 4.0}),
        "C=16": lambda: FrameClassifier(**{**shipped, "C": 16.0}),
        "vector_weight=0.5": lambda: FrameClassifier(**{**shipped, "vector_weight": 0.5}),
        "vector_weight=2": lambda: FrameClassifier(**{**shipped, "vector_weight": 2.0}),
        "min_df=3": lambda: FrameClassifier(**{**shipped, "min_df": 3}),
        "C per frame (inner CV)": lambda: PerFrameC(**shipped),
        "NB-LR": lambda: NBLR(frames),
        "LSA-100 beside": lambda: WithLSA(**shipped),
    }
    if args.only:
        variants = {k: v for k, v in variants.items() if k in args.only}
    ptc, sem = load_rows(None)
    fold_of = np.array([article_folds(ptc, sem)[r["id"]] for r in sem])
    outer = [(np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)) for f in range(5)]
    docs = [merge(r) for r in sem]
    texts = [d.text for d in docs]
    gold = [list(d.frames) for d in docs]
    Y = np.array([[f in g for f in frames] for g in gold])

    def fit(make, rows):
        return make().fit([texts[i] for i in rows], [gold[i] for i in rows])

    out_file = OUT / "frames_variants.json"
    results = json.loads(out_file.read_text()) if args.only and out_file.exists() else {}
    for name, make in variants.items():
        started = time.perf_counter()
        scores = {rule: [] for rule in RULES}
        held_out = np.zeros(Y.shape)  # each article's probabilities from the fold holding it out
        decided = np.zeros(Y.shape, dtype=bool)  # and the shipped rule's decisions
        for train_rows, test_rows in outer:
            oof = np.zeros((len(train_rows), len(frames)))
            for a, b in kfolds(len(train_rows), 5, 0):
                oof[b] = fit(make, train_rows[a]).predict_proba([texts[train_rows[i]] for i in b])
            P = held_out[test_rows] = fit(make, train_rows).predict_proba(
                [texts[i] for i in test_rows]
            )
            for rule, (decide, grid) in RULES.items():
                best = max(grid, key=lambda g: micro_f1(decide(oof, *g), Y[train_rows]))
                scores[rule].append(micro_f1(decide(P, *best), Y[test_rows]))
                if rule == "thr":
                    decided[test_rows] = decide(P, *best)
        results[name] = {
            rule: {"micro_f1": float(np.mean(v)), "folds": [round(x, 4) for x in v]}
            for rule, v in scores.items()
        }
        row = "  ".join(f"{rule} {results[name][rule]['micro_f1']:.4f}" for rule in RULES)
        print(f"{name:24s} {row}  ({time.perf_counter() - started:.0f} s)", flush=True)
        if name == "shipped":
            results[name]["per_frame"] = per_frame(frames, Y, held_out, decided)
    OUT.mkdir(parents=True, exist_ok=True)
    out_file.write_text(json.dumps(results, indent=1))
    print(f"wrote {out_file}")


def per_frame(frames, Y, held_out, decided) -> dict:
    """Per frame, over the held-out articles: share of articles, ROC AUC of the probability,
    F1 of the shipped rule, and F1 of always answering yes."""
    table = {}
    print(f"{'frame':46s} share   AUC  F1 (thr)  F1 (always yes)")
    for j, frame in enumerate(frames):
        y = Y[:, j]
        row = {
            "share": float(y.mean()),
            "auc": float(roc_auc_score(y, held_out[:, j])) if 0 < y.sum() < len(y) else None,
            "f1": micro_f1(decided[:, j], y),
            "f1_always_yes": micro_f1(np.ones_like(y), y),
        }
        table[frame] = row
        auc = "-" if row["auc"] is None else f"{row['auc']:.3f}"
        print(
            f"{frame:46s} {row['share']:.2f} {auc:>6} {row['f1']:9.3f} {row['f1_always_yes']:16.3f}"
        )
    return table


if __name__ == "__main__":
    main()
