"""Benchmark `annotate score` at scale: docs/s, CPU-seconds, peak memory, and the floor.

Input: JSON Lines made from the 371 PTC training articles (../shared/data/ptc/train-articles)
repeated to N documents with unique ids (so after the first 371 every document is a whole-
article copy of an earlier one: the cross-document pass has work on every document). Each
configuration runs the real command line in a subprocess:

    annotate score IN.jsonl --out OUT.jsonl --workers W [--engine dask] [--model DIR]

and is timed (wall clock and CPU-seconds of the process tree) while the memory of the
process and all its children is sampled every 0.25 s: peaks of the summed RSS (pages shared
between processes counted in each), of the summed PSS (shared pages split among the
processes sharing them) and of the largest single process's RSS (a worker, or the parent). The floor is a bare
reader in a subprocess: read the same JSONL line by line, json.loads, and run the word regex
over the text. Configurations without a model (`--configs`) run at every size in `--sizes`;
with a model (`--model-configs`) at `--model-sizes`. The model is `--model DIR`, or one
trained here (annotate.learn.train.train, `--train-config`, default models/default.toml) on
the PTC and SemEval-2023 (frames) corpora into a temporary directory.

    .venv/bin/python bench/bench_score.py [--sizes 10000,100000] [--configs local-1,local-2,dask-2]
        [--model-sizes 10000] [--model-configs local-1,local-2] [--model DIR]

Prints figures and writes bench/out/bench_score.json (or --json PATH).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
PTC = ROOT.parent / "shared" / "data" / "ptc" / "train-articles"
OUT = ROOT / "bench" / "out"

FLOOR = """
import json, re, sys
word = re.compile(r"\\w+")
n = 0
with open(sys.argv[1], "rb") as f:
    for line in f:
        n += len(word.findall(json.loads(line)["text"]))
print(n)
"""


def make_input(path: Path, n: int) -> float:
    """Write n documents; returns the mean document size in KB."""
    texts = [(p.stem, p.read_bytes().decode("utf-8")) for p in sorted(PTC.glob("article*.txt"))]
    total = 0
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            stem, text = texts[i % len(texts)]
            f.write(json.dumps({"id": f"{stem}-{i}", "text": text}, ensure_ascii=False) + "\n")
            total += len(text.encode("utf-8"))
    return total / n / 1000


def run_measured(cmd: list[str]) -> dict:
    """Wall time and peak RSS (process + children) of a command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ps = psutil.Process(proc.pid)
    peak = peak_pss = peak_one = 0
    while proc.poll() is None:
        try:
            rss = pss = 0
            for p in [ps, *ps.children(recursive=True)]:
                try:
                    # PSS splits pages shared between processes (the forked model, the
                    # memory-mapped arrays) among them; summed RSS counts them in each
                    info = p.memory_full_info()
                except psutil.Error:
                    continue
                rss += info.rss
                pss += info.pss
                peak_one = max(peak_one, info.rss)
            peak, peak_pss = max(peak, rss), max(peak_pss, pss)
        except psutil.Error:
            pass
        time.sleep(0.25)  # walking the process tree costs CPU: ~5% of a core at 0.1 s
    out, err = proc.communicate()
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the run and its reaped descendants
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err.decode()[-2000:]}")
    return {
        "seconds": seconds,
        "cpu_s": cpu,
        "peak_rss_mb": peak / 2**20,
        "peak_pss_mb": peak_pss / 2**20,
        "peak_process_rss_mb": peak_one / 2**20,
        "stderr": err.decode().strip(),
    }


def train_model(tmp: Path, config: str) -> tuple[Path, dict]:
    """A model trained on the PTC and SemEval-2023 (frames) corpora; (path, timing)."""
    sys.path.insert(0, str(ROOT))
    from annotate.corpus import write_corpus
    from annotate.formats.ptc import ptc_rows
    from annotate.formats.semeval2023 import semeval2023_rows
    from annotate.learn.train import train

    data = ROOT.parent / "shared" / "data"
    ptc, _ = ptc_rows(data / "ptc" / "train-articles", data / "ptc" / "train-labels-task-tc")
    sem, _ = semeval2023_rows(
        data / "semeval2023" / "articles-subtask-1-2",
        frames=data / "semeval2023" / "train-labels-subtask-2.txt",
    )
    write_corpus(ptc, tmp / "ptc", source={"format": "ptc"})
    write_corpus(sem, tmp / "semeval2023", source={"format": "semeval2023"})
    t0, cpu0 = time.perf_counter(), time.process_time()
    summary = train(
        [tmp / "ptc", tmp / "semeval2023"], tmp / "model", config=config, progress=lambda m: None
    )
    timing = {
        "train_s": round(time.perf_counter() - t0, 1),
        "train_cpu_s": round(time.process_time() - cpu0, 1),
        "summary": summary,
    }
    return tmp / "model", timing


def run_config(config: str, src: Path, n: int, floor: dict, tmp: Path, model: Path | None):
    """Run one configuration (engine-workers) on src; its figures."""
    engine, workers = config.split("-")
    out = tmp / f"out-{n}-{config}{'-model' if model else ''}.jsonl"
    cmd = [sys.executable, "-m", "annotate", "score", str(src), "--out", str(out)]
    cmd += ["--workers", workers]
    if engine == "dask":
        cmd += ["--engine", "dask"]
    if model is not None:
        cmd += ["--model", str(model)]
    m = run_measured(cmd)
    r = {
        "seconds": round(m["seconds"], 1),
        "docs_per_s": round(n / m["seconds"], 1),
        "x_floor": round(m["seconds"] / floor["seconds"], 1),
        "cpu_s": round(m["cpu_s"], 1),
        "docs_per_cpu_s": round(n / m["cpu_s"], 1),
        "x_floor_cpu": round(m["cpu_s"] / floor["cpu_s"], 1),
        "load_average": os.getloadavg(),
        "peak_rss_mb": round(m["peak_rss_mb"], 1),
        "peak_pss_mb": round(m["peak_pss_mb"], 1),
        "peak_process_rss_mb": round(m["peak_process_rss_mb"], 1),
        "output_mb": round(out.stat().st_size / 2**20, 1),
        "summary": m["stderr"].splitlines()[-1] if m["stderr"] else "",
    }
    label = f"{config}{' + model' if model else ''}"
    print(
        f"  {label}: {r['seconds']} s, {r['docs_per_s']} docs/s, "
        f"{r['x_floor']}x floor, peak RSS {r['peak_rss_mb']} MB (PSS {r['peak_pss_mb']} MB, "
        f"largest process {r['peak_process_rss_mb']} MB); CPU {r['cpu_s']} s "
        f"({r['docs_per_cpu_s']} docs per CPU-s, {r['x_floor_cpu']}x floor CPU), "
        f"load {r['load_average'][0]:.1f}",
        flush=True,
    )
    return r, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10000,100000", help="sizes for --configs")
    ap.add_argument("--configs", default="local-1,local-2,dask-2", help="without a model")
    ap.add_argument("--model-sizes", default="10000", help="sizes for --model-configs")
    ap.add_argument("--model-configs", default="local-1,local-2", help="with a model ('' skips)")
    ap.add_argument("--model", help="a trained model directory (default: train one here)")
    ap.add_argument("--train-config", default=str(ROOT / "models" / "default.toml"))
    ap.add_argument("--keep", action="store_true", help="keep the outputs in bench/out/")
    ap.add_argument("--json", default=str(OUT / "bench_score.json"), help="where to write figures")
    args = ap.parse_args()
    python = sys.executable
    sizes = [int(x) for x in args.sizes.split(",") if x]
    model_sizes = [int(x) for x in args.model_sizes.split(",") if x]
    configs = [c for c in args.configs.split(",") if c]
    model_configs = [c for c in args.model_configs.split(",") if c]
    if not model_configs:
        model_sizes = []
    results: dict = {
        "cpu_count": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "runs": [],
    }
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-score-") as tmp_name:
        tmp = Path(tmp_name)
        model = Path(args.model) if args.model else None
        if model_sizes and model is None:
            print("training a model on PTC + SemEval-2023 ...", flush=True)
            model, timing = train_model(tmp / "train", args.train_config)
            results["model_training"] = timing
            print(f"  {timing['summary']}", flush=True)
            print(f"  trained in {timing['train_s']} s ({timing['train_cpu_s']} CPU-s)", flush=True)
        if model is not None and model_sizes:
            results["model"] = json.loads((model / "model.json").read_text()).get(
                "model_version", str(model)
            )
        for n in sorted(set(sizes) | set(model_sizes)):
            src = tmp / f"ptc-{n}.jsonl"
            kb = make_input(src, n)
            floor = run_measured([python, "-c", FLOOR, str(src)])
            row = {
                "documents": n,
                "mean_kb": round(kb, 2),
                "floor_s": round(floor["seconds"], 2),
                "floor_cpu_s": round(floor["cpu_s"], 2),
                "floor_docs_per_s": round(n / floor["seconds"], 1),
                "configs": {},
            }
            print(
                f"{n} docs ({kb:.1f} KB): floor (read + regex) {floor['seconds']:.1f} s, "
                f"CPU {floor['cpu_s']:.1f} s, load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
            plan = [(c, None) for c in configs if n in sizes]
            plan += [(c, model) for c in model_configs if n in model_sizes]
            for config, with_model in plan:
                r, out = run_config(config, src, n, floor, tmp, with_model)
                row["configs"][config + ("+model" if with_model else "")] = r
                if args.keep:
                    out.replace(OUT / out.name)
                else:
                    out.unlink()
                Path(args.json).write_text(
                    json.dumps(results | {"runs": [*results["runs"], row]}, indent=2) + "\n"
                )
            results["runs"].append(row)
            src.unlink()
            Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    runs = {r["documents"]: r for r in results["runs"]}
    if 10000 in runs and 100000 in runs:
        for config in runs[100000]["configs"]:
            if config in runs[10000]["configs"]:
                a = runs[10000]["configs"][config]["peak_rss_mb"]
                b = runs[100000]["configs"][config]["peak_rss_mb"]
                print(f"peak memory 100k / 10k, {config}: {b / a:.2f}")
                results.setdefault("memory_ratio_100k_10k", {})[config] = round(b / a, 2)
    results["load_average_at_end"] = os.getloadavg()
    Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
