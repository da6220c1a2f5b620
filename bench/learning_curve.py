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
- token and sentence features are computed once for all articles (`SpanTagger.featurize`;
  the featurizer is stateless), so a round costs a few fits. The threshold, gap bridging and
  token/sentence mix are tuned on the labelled articles only (lighter than `annotate train`:
  2 inner folds, the document-level mix left at 0). Only the span tagger is trained: it is
  what SI F1 measures. The hyper-parameters used are recorded in the JSON (`tagger`).

Run:  .venv/bin/python bench/learning_curve.py            (about 20-30 min on 2 busy cores)
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
from annotate.learn.tagger import SpanTagger, decode  # noqa: E402
from annotate.learn.train import load_config  # noqa: E402

PTC = ROOT.parent / "shared" / "data" / "ptc"
STRATEGIES = ("random", "uncertainty")


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--seed-size", type=int, default=10, help="labelled articles to start with")
    ap.add_argument("--batch", type=int, default=20, help="articles added per round")
    ap.add_argument("--rounds", type=int, default=7)
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
    """Features of every article once (the tagger's `featurize`); fit/tune/score on subsets."""

    def __init__(self, texts: list[str], gold: list[list[tuple[int, int]]], cfg: dict):
        self.texts, self.gold = texts, gold
        names = set(SpanTagger().get_params()) - {"lexicons", "threshold", "max_gap"}
        self.params = {k: v for k, v in cfg.items() if k in names}
        self.thresholds = [float(t) for t in cfg.get("thresholds", [0.35])]
        self.max_gaps = [int(g) for g in cfg.get("max_gaps", [1])]
        self.weights = [float(w) for w in cfg.get("sentence_weights", [0.5])]
        self.F = SpanTagger(**self.params).featurize(texts)
        self.min_tokens = int(self.params.get("min_tokens", 1))

    def tokens(self, docs) -> int:
        b = self.F.token_bounds
        return int(sum(b[d + 1] - b[d] for d in docs))

    def fit(self, docs) -> SpanTagger:
        docs = [int(d) for d in docs]
        return SpanTagger(**self.params).fit_featurized(self.F, docs, [self.gold[d] for d in docs])

    def scores(self, model: SpanTagger, docs) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per document: (token-model, sentence-model) probabilities of its tokens."""
        tok, sent = model.scores_featurized(self.F, [int(d) for d in docs])
        return list(zip(tok, sent, strict=True))

    @staticmethod
    def mix(scores, weight: float) -> list[np.ndarray]:
        return [(1 - weight) * t + weight * s for t, s in scores]

    def si_f1(self, docs, probas, threshold: float, gap: int) -> float:
        pred = [
            decode(self.F.offsets[d], p, threshold, gap, self.min_tokens)
            for d, p in zip(docs, probas, strict=True)
        ]
        return metrics.si_prf(pred, [self.gold[d] for d in docs])["f1"]

    def tune(self, docs, folds: int, seed: int) -> tuple[float, int, float]:
        """(threshold, gap, sentence weight) with the best out-of-fold SI F1 on `docs`.

        Two stages to keep it quick: weight and threshold at the largest gap, then the gap.
        """
        docs = np.asarray(docs)
        rng = np.random.default_rng(seed)
        parts = np.array_split(rng.permutation(len(docs)), folds)
        oof: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for k in range(folds):
            test = docs[parts[k]]
            train = docs[np.concatenate([parts[j] for j in range(folds) if j != k])]
            oof.update(zip(test.tolist(), self.scores(self.fit(train), test), strict=True))
        order = list(oof)
        scores = [oof[d] for d in order]
        wide = max(self.max_gaps)
        best = (-1.0, self.thresholds[0], wide, self.weights[0])
        for w in self.weights:
            p = self.mix(scores, w)
            for t in self.thresholds:
                f1 = self.si_f1(order, p, t, wide)
                if f1 > best[0]:
                    best = (f1, t, wide, w)
        _, t, _, w = best
        p = self.mix(scores, w)
        for g in self.max_gaps:
            f1 = self.si_f1(order, p, t, g)
            if f1 > best[0]:
                best = (f1, t, g, w)
        return best[1], best[2], best[3]


def run_strategy(sim, strategy, seed_docs, pool, test, vectors, args, seed) -> list[dict]:
    labelled = list(seed_docs)
    pool = [d for d in pool if d not in set(labelled)]
    rng = np.random.default_rng(1000 + seed)
    curve = []
    for r in range(args.rounds + 1):
        started = time.perf_counter()
        threshold, gap, weight = sim.tune(labelled, args.inner_folds, seed * 100 + r)
        model = sim.fit(labelled)
        f1 = sim.si_f1(test, sim.mix(sim.scores(model, test), weight), threshold, gap)
        curve.append(
            {
                "articles": len(labelled),
                "tokens": sim.tokens(labelled),
                "si_f1": round(f1, 4),
                "threshold": threshold,
                "max_gap": gap,
                "sentence_weight": weight,
            }
        )
        if r == args.rounds:
            break
        if strategy == "random":
            picked = [int(d) for d in rng.choice(pool, size=args.batch, replace=False)]
        else:
            probas = sim.mix(sim.scores(model, pool), weight)
            uncertainty = [token_uncertainty(p, threshold) for p in probas]
            picked = [pool[i] for i in select_diverse(uncertainty, vectors[pool], args.batch)]
        labelled += picked
        chosen = set(picked)
        pool = [d for d in pool if d not in chosen]
        print(
            f"  seed {seed} {strategy:11s} {curve[-1]['articles']:4d} articles  "
            f"SI F1 {f1:.3f}  (t={threshold}, gap={gap}, w={weight}, "
            f"{time.perf_counter() - started:.1f} s)",
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
    n_tokens = sim.F.tokens.shape[0]
    print(f"features: {n_tokens} tokens in {time.perf_counter() - started:.0f} s", flush=True)

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
