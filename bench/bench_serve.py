"""`annotate serve` as Label Studio's ML backend: /setup time, /predict latency, retrieve rate.

    .venv/bin/python bench/bench_serve.py [--model MODEL_DIR] [--requests 200] [--tasks 100]

Without --model, trains one first as `bench/bench_train.py` does (`annotate import` of both
shared corpora, `annotate train ... --config models/default.toml`, ~2-5 min). Then, against
a real `annotate serve` process on a free port:

- start: seconds from launching the process to /health answering, and to the first
  /predict answered (the model loaded in the background meanwhile);
- /setup: 20 calls with the label config, median and slowest (Label Studio waits 3 s);
- /predict for one ~5 KB article per request (real news articles of 4.5-5.5 KB from
  ../shared/data/semeval2023, else PTC), sequential, each with the label config as Label
  Studio sends it: p50, p95, mean;
- a 100-task retrieve: a fresh local Label Studio (temporary data dir, free port), 100 such
  articles imported through its API, the backend connected (`annotate studio connect`), then
  the data manager's "Retrieve predictions" on all of them (Label Studio sends one /predict
  with the 100 tasks and stores the predictions): wall time and tasks per second; and the
  same 100 tasks in one direct /predict, for the backend's share.

Figures go to stdout and bench/out/serve.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"
OUT = REPO / "bench" / "out" / "serve.json"
sys.path.insert(0, str(REPO))


def annotate(*args: str, env: dict | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "annotate", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"annotate {args[0]} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def train_model(tmp: Path) -> Path:
    annotate("import", "ptc", str(DATA / "ptc" / "train-articles"),
             str(DATA / "ptc" / "train-labels-task-tc"), "--out", str(tmp / "ptc"))  # fmt: skip
    annotate("import", "semeval2023", str(DATA / "semeval2023" / "articles-subtask-1-2"),
             "--frames", str(DATA / "semeval2023" / "train-labels-subtask-2.txt"),
             "--out", str(tmp / "frames"))  # fmt: skip
    annotate("train", str(tmp / "ptc"), str(tmp / "frames"), "--out", str(tmp / "model"),
             "--config", str(REPO / "models" / "default.toml"))  # fmt: skip
    return tmp / "model"


def articles(n: int, low: int = 4500, high: int = 5500) -> list[str]:
    """n real articles of 4.5-5.5 KB (cycled if there are fewer)."""
    found = []
    for folder in (DATA / "semeval2023" / "articles-subtask-1-2", DATA / "ptc" / "train-articles"):
        for path in sorted(folder.glob("*.txt")) if folder.is_dir() else ():
            text = path.read_text(encoding="utf-8")
            if low <= len(text.encode("utf-8")) <= high:
                found.append(text)
    if not found:
        raise SystemExit("no 5 KB articles in ../shared/data")
    return [found[i % len(found)] for i in range(n)]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, help="model directory (default: train one)")
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--tasks", type=int, default=100)
    ap.add_argument("--json", type=Path, default=OUT)
    args = ap.parse_args()
    from annotate.schema import load_schema

    xml = load_schema().xml
    results: dict = {"cpu_count": os.cpu_count(), "load_average_start": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp_name:
        tmp = Path(tmp_name)
        model = args.model or train_model(tmp)
        info = json.loads((model / "model.json").read_text())
        results["model"] = {
            "dir": str(model),
            "model_version": info["model_version"],
            "config": info.get("config", {}).get("name"),
            "corpora": [c.get("path", c) if isinstance(c, dict) else c for c in info["corpora"]]
            if isinstance(info.get("corpora"), list)
            else info.get("corpora"),
        }
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = open(tmp / "serve.log", "wb")
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "annotate", "serve", "--model", str(model), "--port", str(port)],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            while True:
                try:
                    if requests.get(f"{url}/health", timeout=2).ok:
                        break
                except requests.ConnectionError:
                    time.sleep(0.05)
                if proc.poll() is not None:
                    raise SystemExit((tmp / "serve.log").read_text())
            health_s = time.perf_counter() - t0
            docs = articles(max(args.requests, args.tasks))
            one = {"tasks": [{"id": 1, "data": {"text": docs[0]}}], "label_config": xml}
            r = requests.post(f"{url}/predict", json=one, timeout=600)
            r.raise_for_status()
            results["start"] = {
                "health_s": round(health_s, 2),
                "first_predict_s": round(time.perf_counter() - t0, 2),
            }
            setup = []
            for _ in range(20):
                t = time.perf_counter()
                requests.post(
                    f"{url}/setup", json={"project": "1.1", "schema": xml}
                ).raise_for_status()
                setup.append(time.perf_counter() - t)
            results["setup_ms"] = {"p50": ms(statistics.median(setup)), "max": ms(max(setup))}
            lat = []
            session = requests.Session()
            for i in range(args.requests):
                body = {"tasks": [{"id": i, "data": {"text": docs[i]}}], "label_config": xml}
                t = time.perf_counter()
                session.post(f"{url}/predict", json=body, timeout=600).raise_for_status()
                lat.append(time.perf_counter() - t)
            results["predict_5kb_ms"] = {
                "requests": args.requests,
                "mean_chars": round(statistics.mean(len(d) for d in docs[: args.requests])),
                "p50": ms(percentile(lat, 0.5)),
                "p95": ms(percentile(lat, 0.95)),
                "mean": ms(statistics.mean(lat)),
            }
            results["predict_5kb_ms"]["in_process"] = in_process(model, docs[: args.requests], xml)
            batch = {
                "tasks": [{"id": i, "data": {"text": docs[i]}} for i in range(args.tasks)],
                "label_config": xml,
            }
            t = time.perf_counter()
            session.post(f"{url}/predict", json=batch, timeout=600).raise_for_status()
            direct = time.perf_counter() - t
            results["predict_batch"] = {
                "tasks": args.tasks,
                "seconds": round(direct, 2),
                "tasks_per_s": round(args.tasks / direct, 1),
            }
            results["retrieve"] = retrieve_through_label_studio(tmp, url, docs[: args.tasks])
        finally:
            proc.terminate()
            proc.wait(30)
            log.close()
    print(json.dumps(results, indent=2))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")


def in_process(model_dir: Path, docs: list[str], xml: str) -> dict:
    """The same /predict work without HTTP (`serve.predict.answer` in this process): what
    the model and the converters cost, apart from the server and the machine's other load."""
    from annotate.learn.model import Model
    from annotate.schema import load_schema
    from annotate.serve.predict import answer

    model, schema = Model.load(model_dir), load_schema()
    lat = []
    for i, text in enumerate(docs):
        body = {"tasks": [{"id": i, "data": {"text": text}}], "label_config": xml}
        t = time.perf_counter()
        answer(body, model, model.info, schema)
        lat.append(time.perf_counter() - t)
    return {"p50": ms(percentile(lat, 0.5)), "p95": ms(percentile(lat, 0.95))}


def retrieve_through_label_studio(tmp: Path, backend: str, docs: list[str]) -> dict:
    """Label Studio's own 'Retrieve predictions' on len(docs) tasks, timed end to end."""
    from annotate.studio import server
    from annotate.studio.api import Api

    if server.find_label_studio_bin() is None:
        return {"skipped": "no label-studio executable"}
    data_dir = tmp / "studio"
    saved = {
        k: os.environ.pop(k)
        for k in ("LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY")
        if k in os.environ
    }
    info = server.start(port=free_port(), data_dir=data_dir, project="bench-serve")
    try:
        api = Api(info["url"], info["api_key"])
        pid = info["project"]["id"]
        api.post(f"/api/projects/{pid}/import", json=[{"data": {"text": d}} for d in docs])
        env = {
            **os.environ,
            "LABEL_STUDIO_URL": info["url"],
            "LABEL_STUDIO_API_KEY": info["api_key"],
        }
        annotate("studio", "connect", backend, "--project", "bench-serve", env=env)
        t = time.perf_counter()
        done = api.post(
            "/api/dm/actions",
            params={"id": "retrieve_tasks_predictions", "project": pid},
            json={"selectedItems": {"all": True, "excluded": []}},
        )
        seconds = time.perf_counter() - t
        stored = len(api.get("/api/predictions/", params={"project": pid}) or [])
        return {
            "tasks": len(docs),
            "processed": done.get("processed_items"),
            "predictions_stored": stored,
            "seconds": round(seconds, 2),
            "tasks_per_s": round(len(docs) / seconds, 1),
        }
    finally:
        server.stop(data_dir)
        os.environ.update(saved)


if __name__ == "__main__":
    main()
