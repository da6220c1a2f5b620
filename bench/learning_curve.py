"""Simulated active learning on the PTC training articles: SI F1 vs labelled articles.

Question: does uncertainty selection (annotate.active: token probabilities near the span
tagger's threshold, with TF-IDF diversity) reach the F1 that random selection reaches at the
end of the run with fewer labelled articles?

Set-up (all from ../shared/data/ptc; nothing is written into the repository but the plot):
- a fixed held-out test set of articles (same for every seed and strategy); the rest is the pool;
- per seed: a random seed set of labelled articles, then rounds of: tune the tagger's
  threshold and gap bridging by an inner cross-validation on the labelled articles (as
  `annotate train` does, fewer folds), fit the span tagger (`annotate.learn.tagger.SpanTagger`
  with the hyper-parameters of models/default.toml), measure SemEval-2020 SI F1
  (`annotate.metrics.si_prf`) on the test set, and add a batch chosen by the strategy;
- token features are computed once for all articles (the featurizer is stateless), so a round
  costs a few SGD fits. Only the span tagger is trained: it is what SI F1 measures.

Run:  .venv/bin/python bench/learning_curve.py            (about 10-20 min on 2 cores)
      .venv/bin/python bench/learning_curve.py --quick    (a smoke run: 2 seeds, 4 rounds)
Writes bench/out/learning_curve.json and docs/img/learning_curve.png.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from annotate import metrics  # noqa: E402
from annotate.active import document_vectors, select_diverse, token_uncertainty  # noqa: E402
from annotate.formats.ptc import ptc_rows  # noqa: E402
from annotate.learn.tagger import SpanTagger, decode, token_targets  # noqa: E402
from annotate.learn.train import load_config  # noqa: E402

PTC = ROOT.parent / "shared" / "data" / "ptc"
STRATEGIES = ("random", "uncertainty")


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--seed-size", type=int, default=10, help="labelled articles to start with")
    ap.add_argument("--batch", type=int, default=15, help="articles added per round")
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--test", type=int, default=100, help="held-out articles")
    ap.add_argument("--inner-folds", type=int, default=2, help="CV folds for threshold tuning")
    ap.add_argument("--quick", action="store_true", help="2 seeds, 4 rounds: a smoke run")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "learning_curve.json")
    ap.add_argument("--plot", type=Path, default=ROOT / "docs" / "img" / "learning_curve.png")
    args = ap.parse_args()
    if args.quick:
        args.seeds, args.rounds = 2, 4
    return args


class Simulation:
    """Token features of every article once; fit/tune/evaluate on subsets of articles."""

    def __init__(self, texts: list[str], gold: list[list[tuple[int, int]]], cfg: dict):
        self.texts, self.gold = texts, gold
        self.params = {
            "n_features": int(cfg.get("n_features", 2**20)),
            "window": int(cfg.get("window", 2)),
            "sentence_words": bool(cfg.get("sentence_words", True)),
            "alpha": float(cfg.get("alpha", 2e-6)),
            "epochs": int(cfg.get("epochs", 8)),
            "min_tokens": int(cfg.get("min_tokens", 1)),
        }
        self.thresholds = [float(t) for t in cfg.get("thresholds", [0.35])]
        self.max_gaps = [int(g) for g in cfg.get("max_gaps", [1])]
        self.X, self.offsets = SpanTagger(**self.params).featurizer().transform_docs(texts)
        self.y = np.concatenate(
            [token_targets(o, g) for o, g in zip(self.offsets, gold, strict=True)]
        )
        self.bounds = np.cumsum([0] + [len(o) for o in self.offsets])

    def rows(self, docs) -> np.ndarray:
        return np.concatenate([np.arange(self.bounds[d], self.bounds[d + 1]) for d in docs])

    def fit(self, docs) -> SpanTagger:
        r = self.rows(docs)
        return SpanTagger(**self.params).fit_matrix(self.X[r], self.y[r])

    def proba(self, model: SpanTagger, docs) -> list[np.ndarray]:
        p = model.classifier_.predict_proba(self.X[self.rows(docs)])[:, 1]
        out, at = [], 0
        for d in docs:
            n = self.bounds[d + 1] - self.bounds[d]
            out.append(p[at : at + n])
            at += n
        return out

    def si_f1(self, docs, probas, threshold: float, gap: int) -> float:
        pred = [
            decode(self.offsets[d], p, threshold, gap, self.params["min_tokens"])
            for d, p in zip(docs, probas, strict=True)
        ]
        return metrics.si_prf(pred, [self.gold[d] for d in docs])["f1"]

    def tune(self, docs, folds: int, seed: int) -> tuple[float, int]:
        """Threshold and gap with the best out-of-fold SI F1 on the labelled articles."""
        docs = np.asarray(docs)
        rng = np.random.default_rng(seed)
        parts = np.array_split(rng.permutation(len(docs)), folds)
        probas: dict[int, np.ndarray] = {}
        for k in range(folds):
            test = docs[parts[k]]
            train = docs[np.concatenate([parts[j] for j in range(folds) if j != k])]
            model = self.fit(train)
            probas.update(zip(test.tolist(), self.proba(model, test), strict=True))
        order = list(probas)
        p = [probas[d] for d in order]
        grid = [(t, g) for t in self.thresholds for g in self.max_gaps]
        scores = [self.si_f1(order, p, t, g) for t, g in grid]
        return grid[int(np.argmax(scores))]


def run_strategy(sim, strategy, seed_docs, pool, test, vectors, args, seed) -> list[dict]:
    labelled = list(seed_docs)
    pool = [d for d in pool if d not in set(labelled)]
    rng = np.random.default_rng(1000 + seed)
    curve = []
    for r in range(args.rounds + 1):
        started = time.perf_counter()
        threshold, gap = sim.tune(labelled, args.inner_folds, seed * 100 + r)
        model = sim.fit(labelled)
        f1 = sim.si_f1(test, sim.proba(model, test), threshold, gap)
        curve.append(
            {
                "articles": len(labelled),
                "tokens": int(sum(sim.bounds[d + 1] - sim.bounds[d] for d in labelled)),
                "si_f1": round(f1, 4),
                "threshold": threshold,
                "max_gap": gap,
            }
        )
        if r == args.rounds:
            break
        if strategy == "random":
            picked = [int(d) for d in rng.choice(pool, size=args.batch, replace=False)]
        else:
            uncertainty = [token_uncertainty(p, threshold) for p in sim.proba(model, pool)]
            picked = [pool[i] for i in select_diverse(uncertainty, vectors[pool], args.batch)]
        labelled += picked
        chosen = set(picked)
        pool = [d for d in pool if d not in chosen]
        print(
            f"  seed {seed} {strategy:11s} {curve[-1]['articles']:4d} articles  "
            f"SI F1 {f1:.3f}  (t={threshold}, gap={gap}, {time.perf_counter() - started:.1f} s)",
            flush=True,
        )
    print(f"  seed {seed} {strategy:11s} {curve[-1]['articles']:4d} articles  SI F1 {f1:.3f}")
    return curve


def articles_to_reach(mean_curve: list[tuple[int, float]], target: float) -> int | None:
    for n, f1 in mean_curve:
        if f1 >= target:
            return n
    return None


def plot(summary: dict, path: Path, args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    for strategy, colour in zip(STRATEGIES, ("#888888", "#d62728"), strict=True):
        s = summary[strategy]
        n = np.array(s["articles"])
        mean, sd = np.array(s["mean"]), np.array(s["sd"])
        ax.plot(n, mean, marker="o", ms=3, color=colour, label=f"{strategy} selection")
        ax.fill_between(n, mean - sd, mean + sd, color=colour, alpha=0.18, linewidth=0)
    ax.set_xlabel("labelled articles")
    ax.set_ylabel("SI F1 on held-out articles")
    ax.set_title(
        f"Span tagger learning curve on PTC ({args.seeds} seeds, mean ± sd; "
        f"{args.test} held-out articles)",
        fontsize=9,
    )
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    rows, _ = ptc_rows(PTC / "train-articles", PTC / "train-labels-task-tc")
    texts = [r["text"] for r in rows]
    gold = [[(s["start"], s["end"]) for s in r["spans"]] for r in rows]
    cfg = load_config(None).get("tagger", {})
    print(f"{len(texts)} articles; token features ...", flush=True)
    sim = Simulation(texts, gold, cfg)
    vectors = document_vectors(texts)
    print(f"features: {sim.X.shape[0]} tokens in {time.perf_counter() - started:.0f} s", flush=True)

    order = np.random.default_rng(2020).permutation(len(texts))
    test = sorted(int(d) for d in order[: args.test])
    pool = sorted(int(d) for d in order[args.test :])
    curves: dict[str, list[list[dict]]] = {s: [] for s in STRATEGIES}
    for seed in range(args.seeds):
        seed_docs = [
            int(d) for d in np.random.default_rng(seed).choice(pool, args.seed_size, replace=False)
        ]
        for strategy in STRATEGIES:
            curves[strategy].append(
                run_strategy(sim, strategy, seed_docs, pool, test, vectors, args, seed)
            )

    summary: dict = {}
    for strategy in STRATEGIES:
        f1 = np.array([[p["si_f1"] for p in c] for c in curves[strategy]])
        summary[strategy] = {
            "articles": [p["articles"] for p in curves[strategy][0]],
            "mean": [round(float(x), 4) for x in f1.mean(axis=0)],
            "sd": [round(float(x), 4) for x in f1.std(axis=0, ddof=1 if len(f1) > 1 else 0)],
            "tokens_mean": [
                int(np.mean([c[i]["tokens"] for c in curves[strategy]]))
                for i in range(len(curves[strategy][0]))
            ],
        }
    random_final = summary["random"]["mean"][-1]
    reach = articles_to_reach(
        list(zip(summary["uncertainty"]["articles"], summary["uncertainty"]["mean"], strict=True)),
        random_final,
    )
    final_n = summary["random"]["articles"][-1]
    verdict = {
        "random_final_articles": final_n,
        "random_final_si_f1": random_final,
        "uncertainty_final_si_f1": summary["uncertainty"]["mean"][-1],
        "uncertainty_articles_to_reach_random_final": reach,
        "claim_holds": reach is not None and reach < final_n,
    }
    result = {
        "config": {k: v for k, v in vars(args).items() if k not in ("out", "plot")},
        "tagger": sim.params,
        "articles": len(texts),
        "test_articles": len(test),
        "pool_articles": len(pool),
        "summary": summary,
        "verdict": verdict,
        "curves": curves,
        "seconds": round(time.perf_counter() - started, 1),
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    plot(summary, args.plot, args)

    print("\nlabelled  random (mean ± sd)  [tokens]   uncertainty (mean ± sd)  [tokens]")
    for i, n in enumerate(summary["random"]["articles"]):
        r, u = summary["random"], summary["uncertainty"]
        print(
            f"{n:8d}  {r['mean'][i]:.3f} ± {r['sd'][i]:.3f}  [{r['tokens_mean'][i]:6d}]   "
            f"{u['mean'][i]:.3f} ± {u['sd'][i]:.3f}  [{u['tokens_mean'][i]:6d}]"
        )
    print(
        f"\nrandom reaches SI F1 {random_final:.3f} with {final_n} articles; uncertainty "
        + (f"reaches it with {reach}" if reach else "does not reach it in this run")
        + f" ({'claim holds' if verdict['claim_holds'] else 'claim does not hold'})."
    )
    print(f"wrote {args.out} and {args.plot} in {result['seconds']:.0f} s")


if __name__ == "__main__":
    main()
