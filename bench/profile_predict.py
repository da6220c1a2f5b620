"""Where `Model.predict`'s time goes: CPU milliseconds per article for each step, on PTC articles.

The steps run as `Model.predict` runs them for a labelled-span model (tagger features, the
tagger's token and sentence scores, the rules' runs with the technique classifier on every
distinct run, the frames), each timed with `time.process_time` in this one process (no
profiler: its overhead would swamp the numpy steps). Each figure is the median of
`--repeats` passes over the same articles, after a warm-up pass (so the word caches are
warm, as they are a few batches into `annotate score`).

    .venv/bin/python bench/profile_predict.py MODEL_DIR [--articles 100] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from annotate.learn import features
from annotate.learn.model import Model
from annotate.learn.rules import labelled_spans

ROOT = Path(__file__).resolve().parent.parent
PTC = ROOT.parent / "shared" / "data" / "ptc" / "train-articles"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--articles", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    model = Model.load(args.model)
    texts = [p.read_text(encoding="utf-8") for p in sorted(PTC.glob("article*.txt"))]
    texts = texts[: args.articles]
    n = len(texts)
    tagger = model.tagger
    rows: dict[str, list[float]] = {}

    def clock(name, fn, *args):
        t0 = time.process_time()
        out = fn(*args)
        rows.setdefault(name, []).append((time.process_time() - t0) * 1000 / n)
        return out

    def technique(items):
        spans = [(texts[d], a, b) for d, a, b in items]
        X = clock("technique classifier: features", model.technique.features_.transform, spans)
        return clock("technique classifier: linear", model.technique.classifier_.predict_proba, X)

    lexicons = {k: frozenset(v) for k, v in (tagger.lexicons or {}).items()}
    vectors = tagger.vectors()
    model.predict(texts)  # warm-up
    for _ in range(args.repeats):
        clock("Model.predict, all of it", model.predict, texts)
        tok = clock("tagger: tokenize", features.tokenize, texts)
        clock(
            "tagger: token_matrix", features.token_matrix,
            tok, tagger.n_features, tagger.window, lexicons, tagger.sentence_words, vectors,
        )  # fmt: skip
        clock("tagger: dense_tokens", features.dense_tokens, tok, vectors, tagger.vector_scale)
        clock(
            "tagger: sentence_matrix", features.sentence_matrix,
            tok, tagger.n_features, tagger.sentence_chars, vectors, tagger.sentence_vector_weight,
        )  # fmt: skip
        F = clock("tagger featurize (the four above)", tagger.featurize, texts)
        sources = clock(
            "tagger token and sentence scores", tagger.source_scores_featurized, F, range(n)
        )
        runs = {"n": 0}

        def counted(items, runs=runs):
            runs["n"] = len(items)
            return technique(items)

        clock(
            "rules: runs + technique classifier", labelled_spans,
            F.offsets, sources, F.token_sentences(), tagger.rules, model.techniques, counted,
        )  # fmt: skip
        clock("frames", model.frame_classifier.predict_proba, texts)
    n_items = runs["n"]
    print(
        f"{n} PTC articles, {n_items} runs for the technique classifier; CPU ms per article, "
        f"median of {args.repeats}; load average {os.getloadavg()[0]:.1f}"
    )
    print("| step | ms per article |\n|---|---|")
    for name, values in rows.items():
        print(f"| {name} | {np.median(values):.1f} |")


if __name__ == "__main__":
    main()
