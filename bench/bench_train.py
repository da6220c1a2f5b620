"""Benchmark `annotate train` on both shared corpora: wall clock, CPU-seconds, peak memory.

Imports ../shared/data/ptc, ../shared/data/semeval2023 and ../shared/data/babe with the real
CLI (`annotate import ptc`, `annotate import semeval2023`, `annotate import babe`) into a
temporary directory, then runs

    annotate train PTC_CORPUS SEMEVAL_CORPUS [BABE_CORPUS] --out MODEL

twice in a subprocess, timed and with the summed RSS of the process tree sampled every 0.25 s
(`bench_score.run_measured`): first with an empty word-cluster cache (`ANNOTATE_CACHE_DIR`
pointing at a fresh directory: a machine's first training, which runs the k-means), then with
the cache that run filled (every later training).

    .venv/bin/python bench/bench_train.py [--config models/default.toml] [--no-babe] [--json PATH]

Prints figures and writes bench/out/bench_train.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_score import OUT, ROOT, run_measured  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
ANNOTATE = str(ROOT / ".venv" / "bin" / "annotate")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default=str(ROOT / "models" / "default.toml"))
    ap.add_argument("--no-babe", action="store_true", help="train on PTC and SemEval-2023 only")
    ap.add_argument("--json", type=Path, default=OUT / "bench_train.json")
    args = ap.parse_args()
    results: dict = {
        "config": args.config,
        "corpora": ["ptc", "semeval2023"] + ([] if args.no_babe else ["babe"]),
        "cpu_count": os.cpu_count(),
        "runs": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp_name:
        tmp = Path(tmp_name)
        run_measured(
            [ANNOTATE, "import", "ptc", str(DATA / "ptc" / "train-articles"),
             str(DATA / "ptc" / "train-labels-task-tc"), "--out", str(tmp / "ptc")]
        )  # fmt: skip
        run_measured(
            [ANNOTATE, "import", "semeval2023", str(DATA / "semeval2023" / "articles-subtask-1-2"),
             "--frames", str(DATA / "semeval2023" / "train-labels-subtask-2.txt"),
             "--out", str(tmp / "frames")]
        )  # fmt: skip
        corpora = [str(tmp / "ptc"), str(tmp / "frames")]
        if not args.no_babe:
            run_measured(
                [ANNOTATE, "import", "babe", str(DATA / "babe" / "babe-sg2-train.csv"),
                 "--out", str(tmp / "babe")]
            )  # fmt: skip
            corpora.append(str(tmp / "babe"))
        os.environ["ANNOTATE_CACHE_DIR"] = str(tmp / "cache")  # inherited by the subprocess
        for run in ("first (cold cluster cache)", "again (warm cluster cache)"):
            load = os.getloadavg()[0]
            model = tmp / f"model-{len(results['runs'])}"
            m = run_measured(
                [ANNOTATE, "train", *corpora, "--config", args.config, "--out", str(model)]
            )  # fmt: skip
            m["load_average_start"] = load
            m["training_seconds"] = json.loads((model / "model.json").read_text())[
                "training_seconds"
            ]
            m.pop("stderr")
            results["runs"][run] = m
            print(
                f"train, {run}: {m['seconds']:.1f} s wall ({m['training_seconds']} s training), "
                f"{m['cpu_s']:.1f} CPU-s, peak {m['peak_rss_mb']:.0f} MB, load {load:.1f}",
                flush=True,
            )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
