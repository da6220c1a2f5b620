"""Simulated active learning on the PTC training articles: SI F1 vs labelled articles.

Question: does uncertainty selection (`annotate.active`) reach the SI F1 that random
selection reaches at the end of the run with fewer labelled articles?

Strategies (same seeds, seed sets, pool, test set, tagger and training code for all):
- `random`: a batch drawn at random from the pool;
- `tokens` (what `annotate push --select` uses): total token entropy (Settles & Craven 2008):
  the sum over an article's tokens of the binary entropy of the tagger's token score, i.e.
  the expected number of token decisions the model would get wrong; it prefers articles with
  many undecided tokens (so, also, long and span-rich ones). Near-copies are filtered and
  similar articles penalised (`annotate.active.select_diverse`, TF-IDF cosine);
- `density` (optional): total token entropy times the article's mean TF-IDF cosine
  similarity to the pool ("information density", Settles & Craven 2008), same diversity;
- `document` (optional, the earlier method): mean closeness of the token scores to the
  decision threshold, i.e. a length-normalised document score, with the same diversity.

Set-up (all from ../shared/data/ptc; nothing is written into the repository but the plot):
- a fixed held-out test set of 100 articles (same for every seed and strategy); the other
  271 articles are the pool; per seed a random seed set of `--seed-size` labelled articles
  (the same for every strategy), then rounds of: fit the span tagger on the labelled
  articles, SemEval-2020 SI F1 (`annotate.metrics.si_prf`) of its `predict` on the test
  set, then add a batch of `--batch` articles chosen by the strategy from its `token_proba`
  on the pool.
- Training each round (`--tune cv`, the default) is exactly `annotate train`'s procedure for
  the span tagger (`annotate.learn.train.fit_tagger`, models/default.toml [tagger], with
  `--cv-folds` 3 inner folds instead of 5): out-of-fold token and sentence scores on the
  labelled articles, then the score mix, threshold and gap bridging that maximise SI F1 on
  them. So every strategy's model tunes its own decision rule on what it has labelled, as it
  would in use. `--tune fixed` instead applies one rule to every round and strategy
  (`FIXED`: sentence weight 0.9, threshold 0.35, gaps of up to 4 tokens), chosen in a pilot
  as the best of a small grid for *random* selection at 130-150 articles on the test
  articles: that favours random, whose labelled articles look like the test set, while
  uncertainty selection gathers long, span-rich articles whose model wants a different rule.
- Only the span tagger is trained: it is what SI F1 measures (PTC has no frame labels, so
  the frames part of `--select`'s uncertainty is not exercised here).

Measured: see the README ("Active learning") and bench/out/learning_curve.json, which
records the code measured (git HEAD and file hashes) and each round's chosen rule.

Run:  .venv/bin/python bench/learning_curve.py            (random and tokens, 5 seeds: about
                                                           30 CPU-minutes; --tune fixed: 10)
      .venv/bin/python bench/learning_curve.py --quick    (a smoke run: 2 seeds, 3 rounds)
      .venv/bin/python bench/learning_curve.py --strategies random,tokens,document
Writes bench/out/learning_curve.json and docs/img/learning_curve.png.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from annotate import metrics  # noqa: E402
from annotate.active import (  # noqa: E402
    density,
    document_vectors,
    select_diverse,
    threshold_closeness,
    total_token_entropy,
)
from annotate.formats.ptc import ptc_rows  # noqa: E402
from annotate.learn.fit_spans import fit_tagger  # noqa: E402
from annotate.learn.tagger import SpanTagger  # noqa: E402
from annotate.learn.train import load_config  # noqa: E402

PTC = ROOT.parent / "shared" / "data" / "ptc"
FIXED = {"sentence_weight": 0.9, "document_weight": 0.0, "threshold": 0.35, "max_gap": 4}
COLOURS = {"random": "#777777", "tokens": "#d62728", "document": "#1f77b4", "density": "#9467bd"}


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--seed-size", type=int, default=10, help="labelled articles to start with")
    ap.add_argument("--batch", type=int, default=20, help="articles added per round")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--test", type=int, default=100, help="held-out articles")
    ap.add_argument("--strategies", default="random,tokens", help="comma-separated")
    ap.add_argument("--jobs", type=int, default=2, help="(seed, strategy) runs in parallel")
    ap.add_argument(
        "--tune",
        choices=["cv", "fixed"],
        default="cv",
        help="cv: every round chooses the score mix, threshold and gap bridging by grouped CV "
        "on the labelled articles, as `annotate train` does; fixed: one rule for all rounds",
    )
    ap.add_argument("--cv-folds", type=int, default=3, help="folds of --tune cv")
    ap.add_argument("--quick", action="store_true", help="2 seeds, 3 rounds: a smoke run")
    ap.add_argument("--replot", action="store_true", help="only redraw the plot from --out")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "learning_curve.json")
    ap.add_argument("--plot", type=Path, default=ROOT / "docs" / "img" / "learning_curve.png")
    args = ap.parse_args()
    args.strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    if "random" not in args.strategies:
        args.strategies.insert(0, "random")
    if args.quick:
        args.seeds, args.rounds = 2, 3
    return args


def tagger_params() -> dict:
    cfg = load_config(None).get("tagger", {})
    names = set(SpanTagger().get_params()) - {"lexicons", *FIXED}
    return {**{k: v for k, v in cfg.items() if k in names}, **FIXED}


def code_state() -> dict:
    """sha256 (first 12) of the tagger's source files and git HEAD: the code measured."""
    import hashlib
    import subprocess

    files = [
        "annotate/learn/tagger.py",
        "annotate/learn/features.py",
        "annotate/learn/tokens.py",
        "annotate/learn/dense.py",
        "annotate/learn/rules.py",
        "annotate/active.py",
    ]
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    state = {"git_head": head}
    for f in files:
        state[f] = hashlib.sha256((ROOT / f).read_bytes()).hexdigest()[:12]
    return state


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def choose(strategy, model, texts, pool, vectors, batch, rng) -> list[int]:
    if strategy == "random":
        return [int(d) for d in rng.choice(pool, size=batch, replace=False)]
    _, probas = model.token_proba([texts[d] for d in pool])
    if strategy == "tokens":
        u = np.array([total_token_entropy(p) for p in probas])
        u = u / (u.max() or 1.0)
    elif strategy == "density":  # total token entropy x similarity to the pool
        u = np.array([total_token_entropy(p) for p in probas]) * density(vectors[pool])
        u = u / (u.max() or 1.0)
    elif strategy == "document":
        u = np.array([threshold_closeness(p, model.threshold) for p in probas])
    else:
        raise SystemExit(f"unknown strategy {strategy!r}")
    return [pool[i] for i in select_diverse(u, vectors[pool], batch)]


def load() -> tuple[list[str], list[list[tuple[int, int]]], list[int], list[int], int]:
    rows, _ = ptc_rows(PTC / "train-articles", PTC / "train-labels-task-tc")
    texts = [r["text"] for r in rows]
    gold = [[(s["start"], s["end"]) for s in r["spans"]] for r in rows]
    return texts, gold


def split(n_texts: int, n_test: int) -> tuple[list[int], list[int]]:
    order = np.random.default_rng(2020).permutation(n_texts)
    return sorted(int(d) for d in order[:n_test]), sorted(int(d) for d in order[n_test:])


def run_one(strategy: str, seed: int, args: argparse.Namespace) -> tuple[list[dict], float]:
    """One learning curve (in a worker process); returns it and its CPU seconds."""
    cpu = cpu_seconds()
    texts, gold = load()
    test, pool = split(len(texts), args.test)
    seed_docs = [
        int(d) for d in np.random.default_rng(seed).choice(pool, args.seed_size, replace=False)
    ]
    vectors = document_vectors(texts)
    curve = run_strategy(
        strategy, texts, gold, seed_docs, pool, test, vectors, tagger_params(), args, seed
    )
    return curve, cpu_seconds() - cpu


def fit(params: dict, texts: list[str], gold: list, args: argparse.Namespace, seed: int):
    """The span tagger on the labelled articles: with --tune cv exactly `annotate train`'s
    procedure (annotate.learn.train.fit_tagger: out-of-fold scores, then the mix, threshold
    and gap that maximise SI F1 on them), else the fixed rule."""
    if args.tune == "fixed":
        return SpanTagger(**params).fit(texts, gold)
    cfg = {**load_config(None).get("tagger", {}), "cv_folds": args.cv_folds}
    model, _, _ = fit_tagger(texts, gold, cfg, {}, seed, lambda _message: None)
    return model


def run_strategy(strategy, texts, gold, seed_docs, pool, test, vectors, params, args, seed):
    labelled = list(seed_docs)
    pool = [d for d in pool if d not in set(labelled)]
    rng = np.random.default_rng(1000 + seed)
    lengths = [len(t.split()) for t in texts]
    curve = []
    for r in range(args.rounds + 1):
        started, cpu = time.perf_counter(), cpu_seconds()
        model = fit(params, [texts[d] for d in labelled], [gold[d] for d in labelled], args, seed)
        pred = model.predict([texts[d] for d in test])
        f1 = metrics.si_prf([[(a, b) for a, b, _ in p] for p in pred], [gold[d] for d in test])
        point = {
            "articles": len(labelled),
            "words": int(sum(lengths[d] for d in labelled)),
            "gold_spans": int(sum(len(gold[d]) for d in labelled)),
            "si_f1": round(f1["f1"], 4),
            "si_precision": round(f1["precision"], 4),
            "si_recall": round(f1["recall"], 4),
            "rule": {k: model.get_params()[k] for k in FIXED},
        }
        curve.append(point)
        if r < args.rounds:
            picked = choose(strategy, model, texts, pool, vectors, args.batch, rng)
            labelled += picked
            pool = [d for d in pool if d not in set(picked)]
        print(
            f"  seed {seed} {strategy:9s} {point['articles']:4d} articles "
            f"{point['words']:7d} words  SI F1 {point['si_f1']:.3f}  "
            f"({time.perf_counter() - started:.0f} s, {cpu_seconds() - cpu:.0f} CPU-s)",
            flush=True,
        )
    return curve


def articles_to_reach(articles: list[int], mean: list[float], target: float) -> int | None:
    for n, f1 in zip(articles, mean, strict=True):
        if f1 >= target:
            return n
    return None


def summarise(curves: list[list[dict]]) -> dict:
    f1 = np.array([[p["si_f1"] for p in c] for c in curves])
    return {
        "articles": [p["articles"] for p in curves[0]],
        "mean": [round(float(x), 4) for x in f1.mean(axis=0)],
        "sd": [round(float(x), 4) for x in f1.std(axis=0, ddof=1 if len(f1) > 1 else 0)],
        "min": [round(float(x), 4) for x in f1.min(axis=0)],
        "max": [round(float(x), 4) for x in f1.max(axis=0)],
        "words_mean": [int(np.mean([c[i]["words"] for c in curves])) for i in range(len(f1[0]))],
        "gold_spans_mean": [
            int(np.mean([c[i]["gold_spans"] for c in curves])) for i in range(len(f1[0]))
        ],
    }


def plot(summary: dict, curves: dict, path: Path, seeds: int, reach: dict) -> None:
    """Left: SI F1 by labelled articles (the claim); right: by labelled words (the cost)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax_words) = plt.subplots(
        1, 2, figsize=(11, 4.5), dpi=120, sharey=True, gridspec_kw={"width_ratios": [3, 2]}
    )
    for strategy in summary:
        s, colour = summary[strategy], COLOURS.get(strategy, "#2ca02c")
        n = np.array(s["articles"])
        for c in curves[strategy]:  # each seed, faint
            f1 = [p["si_f1"] for p in c]
            ax.plot(n, f1, color=colour, alpha=0.3, linewidth=0.8)
            ax_words.plot([p["words"] / 1000 for p in c], f1, color=colour, alpha=0.3, lw=0.8)
        mean, sd = np.array(s["mean"]), np.array(s["sd"])
        needed = reach[strategy]
        label = (
            f"random selection (final SI F1 {s['mean'][-1]:.3f} at {s['articles'][-1]})"
            if strategy == "random"
            else f"{strategy} selection (reaches it at {needed})"
            if needed
            else f"{strategy} selection (does not reach it)"
        )
        ax.plot(n, mean, marker="o", ms=3.5, linewidth=2, color=colour, label=label)
        ax.fill_between(n, mean - sd, mean + sd, color=colour, alpha=0.15, linewidth=0)
        words = np.array(s["words_mean"]) / 1000
        ax_words.plot(words, mean, marker="o", ms=3.5, linewidth=2, color=colour)
    target = summary["random"]["mean"][-1]
    for a in (ax, ax_words):
        a.axhline(target, color="#777777", linestyle=":", linewidth=1)
        a.grid(alpha=0.3)
    ax.set_xlabel("labelled articles")
    ax.set_ylabel("SI F1 on 100 held-out articles")
    ax_words.set_xlabel("labelled words (thousands): the annotators' reading")
    ax.set_title(
        f"Span tagger on PTC: {seeds} seeds (thin lines), mean (dots) ± sd (band)", fontsize=9
    )
    ax_words.set_title("the same runs by words labelled (seed means at each round)", fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def main() -> None:
    args = parse_args()
    if args.replot:
        done = json.loads(args.out.read_text())
        reach = done["verdict"]["articles_to_reach_random_final"]
        plot(done["summary"], done["curves"], args.plot, done["config"]["seeds"], reach)
        print(f"redrew {args.plot} from {args.out}")
        return
    started, cpu = time.perf_counter(), cpu_seconds()
    code = code_state()
    texts, _ = load()
    test, pool = split(len(texts), args.test)
    params = tagger_params()
    rule = (
        f"decision rule chosen each round by {args.cv_folds}-fold CV"
        if args.tune == "cv"
        else f"fixed decision rule {FIXED}"
    )
    print(f"{len(texts)} articles: {len(test)} test, {len(pool)} pool; {rule}")
    runs = [(s, seed) for seed in range(args.seeds) for s in args.strategies]
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as ex:
        futures = {run: ex.submit(run_one, *run, args) for run in runs}
        results = {run: f.result() for run, f in futures.items()}
    curves = {s: [results[(s, seed)][0] for seed in range(args.seeds)] for s in args.strategies}
    run_cpu = {f"{s} seed {seed}": round(c, 1) for (s, seed), (_, c) in results.items()}

    summary = {s: summarise(curves[s]) for s in args.strategies}
    final_n = summary["random"]["articles"][-1]
    target = summary["random"]["mean"][-1]
    reach = {
        s: articles_to_reach(summary[s]["articles"], summary[s]["mean"], target)
        for s in args.strategies
    }
    # for every budget random reaches, the articles each strategy needs for the same mean F1
    savings = {
        s: {
            str(n): articles_to_reach(summary[s]["articles"], summary[s]["mean"], f1)
            for n, f1 in zip(summary["random"]["articles"], summary["random"]["mean"], strict=True)
        }
        for s in args.strategies
    }
    verdict = {
        "random_final_articles": final_n,
        "random_final_si_f1": target,
        "articles_to_reach_random_final": reach,
        "articles_to_reach_random_at_each_budget": savings,
        "claim_holds": {
            s: reach[s] is not None and reach[s] < final_n for s in args.strategies if s != "random"
        },
    }
    result = {
        "config": {k: v for k, v in vars(args).items() if k not in ("out", "plot")},
        "tagger": params,
        "code": code,
        "articles": len(texts),
        "test_articles": len(test),
        "pool_articles": len(pool),
        "summary": summary,
        "verdict": verdict,
        "curves": curves,
        "seconds": round(time.perf_counter() - started, 1),
        "cpu_seconds": round(cpu_seconds() - cpu, 1),  # workers included (reaped children)
        "cpu_seconds_per_run": run_cpu,
        "load_average": os.getloadavg(),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    plot(summary, curves, args.plot, args.seeds, reach)

    head = "".join(f"  {s + ' mean ± sd [words]':>30s}" for s in args.strategies)
    print(f"\nlabelled{head}")
    for i, n in enumerate(summary["random"]["articles"]):
        cells = "".join(
            f"  {summary[s]['mean'][i]:.3f} ± {summary[s]['sd'][i]:.3f} "
            f"[{summary[s]['words_mean'][i]:7d}]".rjust(32)
            for s in args.strategies
        )
        print(f"{n:8d}{cells}")
    print(
        f"\nrandom's final SI F1: {target:.3f} at {final_n} articles. Articles needed to reach it:"
    )
    for s in args.strategies:
        print(f"  {s:9s} {reach[s] if reach[s] is not None else 'not reached'}")
    print("articles needed for random's mean F1 at each budget (random's own budget first):")
    for s in args.strategies:
        print(f"  {s:9s} " + "  ".join(f"{n}->{m or '-'}" for n, m in savings[s].items()))
    print(
        f"wrote {args.out} and {args.plot}: {result['seconds']:.0f} s wall, "
        f"{result['cpu_seconds']:.0f} CPU-s, load {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
