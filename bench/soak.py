"""Soak: push and pull 50,000 documents through a real Label Studio, score 100,000; count all.

    .venv/bin/python bench/soak.py [--push-docs 50000] [--score-docs 100000] [--parallel]

Documents are the articles of `../shared/data/ptc/train-articles`, repeated with unique ids
(`soak000123-article<N>`). A fresh local server runs in a temporary data dir on a free port
(started from the test suite's cached migrated database when there is one). Every phase runs
the real CLI (`annotate push`, `annotate pull`, `annotate score`) as a child process; its
wall time and the peak RSS of its whole process tree (sampled every 0.5 s with psutil) are
recorded. Checks, each a hard failure when violated:

- push: the project holds exactly N tasks with N distinct doc_ids (read from the server's
  SQLite database, read-only), and they are exactly the pushed ids;
- pull (after Label Studio's own bulk "predictions to annotations" action, timed apart;
  every document needs a repeated-passage prediction, so use more than twice as many
  documents as there are articles):
  the corpus has N rows with N distinct ids, the pushed ones;
- score: the output has M lines whose ids are the input ids in input order.

With `--parallel`, scoring runs at the same time as the Label Studio phases (shorter total,
but the phases then compete for the CPUs: the figures say so). Figures are written to
`bench/out/soak.json` after every phase (`"complete": false` until the end); every minute
`progress` gets [seconds, tasks on the server, annotations, score lines written].
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
PTC = REPO.parent / "shared" / "data" / "ptc" / "train-articles"
OUT = REPO / "bench" / "out" / "soak.json"
PROJECT = "soak"

figures: dict = {"complete": False}
lock = threading.Lock()


def save() -> None:
    with lock:
        OUT.parent.mkdir(parents=True, exist_ok=True)
        tmp = OUT.with_suffix(".tmp")
        tmp.write_text(json.dumps(figures, indent=2) + "\n")
        tmp.replace(OUT)


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_docs(path: Path, n: int, articles: list[tuple[str, str]]) -> list[str]:
    ids = []
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            name, text = articles[i % len(articles)]
            doc_id = f"soak{i:06d}-{name}"
            ids.append(doc_id)
            f.write(json.dumps({"id": doc_id, "text": text}) + "\n")
    return ids


def tree_rss(proc: psutil.Process) -> int:
    total = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def run_cli(args: list[str], env: dict, log: Path) -> dict:
    """Run `annotate ARGS`; wall seconds, peak tree RSS, CPU seconds, stdout."""
    t0 = time.perf_counter()
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "annotate", *args],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=err,
        )
        ps = psutil.Process(proc.pid)
        peak = 0
        out_chunks: list[bytes] = []
        reader = threading.Thread(target=lambda: out_chunks.append(proc.stdout.read()))
        reader.start()
        cpu = 0.0
        while proc.poll() is None:
            peak = max(peak, tree_rss(ps))
            try:
                times = ps.cpu_times()
                cpu = max(
                    cpu, times.user + times.system + times.children_user + times.children_system
                )
            except psutil.Error:
                pass
            time.sleep(0.5)
        reader.join()
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(
            f"annotate {args[0]} failed ({proc.returncode}): see {log}\n"
            + log.read_text(errors="replace")[-2000:]
        )
    return {
        "seconds": round(seconds, 1),
        "peak_tree_rss_mb": round(peak / 2**20, 1),
        "cpu_s": round(cpu, 1),
        "stdout": b"".join(out_chunks).decode(errors="replace").strip()[-500:],
    }


def start_server(data_dir: Path) -> dict:
    from annotate.studio import server

    spec = importlib.util.spec_from_file_location("soak_conftest", REPO / "tests" / "conftest.py")
    conftest = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = conftest  # dataclasses look their module up
    spec.loader.exec_module(conftest)
    data_dir.mkdir(mode=0o700, parents=True)
    template = conftest._template_dir(server.label_studio_bin())
    seeded = template is not None and conftest._seed_from_template(template, data_dir)
    t0 = time.perf_counter()
    info = server.start(port=free_port(), data_dir=data_dir, project=PROJECT)
    figures["server_start_s"] = round(time.perf_counter() - t0, 1)
    figures["server_from_cached_db"] = seeded
    return info


def db_task_ids(data_dir: Path) -> tuple[int, list[str]]:
    db = sqlite3.connect(f"file:{data_dir / 'label_studio.sqlite3'}?mode=ro", uri=True)
    try:
        (pid,) = db.execute("SELECT id FROM project WHERE title = ?", (PROJECT,)).fetchone()
        ids = [
            r[0]
            for r in db.execute(
                "SELECT json_extract(data, '$.doc_id') FROM task WHERE project_id = ?", (pid,)
            )
        ]
    finally:
        db.close()
    return len(ids), ids


def progress(tmp: Path, done: threading.Event, every: float = 60.0) -> None:
    """Log tasks/annotations on the server and score lines written, every minute."""
    t0 = time.perf_counter()
    while not done.wait(every):
        tasks = annotations = None
        db_path = tmp / "studio" / "label_studio.sqlite3"
        if db_path.exists():
            try:
                db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
                tasks = db.execute("SELECT count(*) FROM task").fetchone()[0]
                annotations = db.execute("SELECT count(*) FROM task_completion").fetchone()[0]
                db.close()
            except sqlite3.Error:
                pass
        lines = 0
        for f in [*tmp.glob(".scores.jsonl.tmp-*"), tmp / "scores.jsonl"]:
            if f.exists():
                with open(f, "rb") as fh:
                    lines += sum(
                        chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b"")
                    )
        elapsed = round(time.perf_counter() - t0)
        say(f"progress {elapsed} s: tasks {tasks}, annotations {annotations}, score lines {lines}")
        with lock:
            figures.setdefault("progress", []).append([elapsed, tasks, annotations, lines])
        save()


def studio_lane(tmp: Path, push_file: Path, push_ids: list[str], env: dict) -> None:
    from bench_studio import accept_predictions  # bench/ is on sys.path when run as a script

    from annotate.corpus import read_corpus
    from annotate.studio import server
    from annotate.studio.api import Api

    data_dir = tmp / "studio"
    info = start_server(data_dir)
    creds = server.credentials(data_dir)
    env = {**env, "LABEL_STUDIO_URL": info["url"], "LABEL_STUDIO_API_KEY": creds["api_key"]}
    say(f"server at {info['url']} in {figures['server_start_s']} s")
    save()
    try:
        say(f"push {len(push_ids)} documents")
        push = run_cli(["push", str(push_file), "--project", PROJECT], env, tmp / "push.log")
        n_tasks, task_ids = db_task_ids(data_dir)
        push.update(
            docs_per_s=round(len(push_ids) / push["seconds"], 1),
            tasks=n_tasks,
            distinct_doc_ids=len(set(task_ids)),
            ids_match=sorted(task_ids) == sorted(push_ids),
        )
        figures["push"] = push
        save()
        say(f"push: {push}")
        assert n_tasks == len(push_ids) == len(set(task_ids)) and push["ids_match"], push

        figures["server_predictions_to_annotations_s"] = accept_predictions(
            Api(info["url"], creds["api_key"]), PROJECT
        )
        save()
        say(f"predictions -> annotations: {figures['server_predictions_to_annotations_s']} s")

        corpus = tmp / "corpus"
        say("pull")
        pull = run_cli(["pull", "--out", str(corpus), "--project", PROJECT], env, tmp / "pull.log")
        ds = read_corpus(corpus)
        ids = ds["id"] if hasattr(ds, "__getitem__") else [r["id"] for r in ds]
        pull.update(
            docs_per_s=round(len(push_ids) / pull["seconds"], 1),
            rows=len(ids),
            distinct_ids=len(set(ids)),
            ids_match=sorted(ids) == sorted(push_ids),
        )
        figures["pull"] = pull
        save()
        say(f"pull: {pull}")
        assert pull["rows"] == len(push_ids) == pull["distinct_ids"] and pull["ids_match"], pull
    finally:
        server.stop(data_dir)


def score_lane(tmp: Path, score_file: Path, score_ids: list[str], env: dict) -> None:
    out = tmp / "scores.jsonl"
    say(f"score {len(score_ids)} documents")
    score = run_cli(["score", str(score_file), "--out", str(out)], env, tmp / "score.log")
    lines = 0
    in_order = True
    with open(out, encoding="utf-8") as f:
        for i, line in enumerate(f):
            lines += 1
            if i >= len(score_ids) or json.loads(line)["id"] != score_ids[i]:
                in_order = False
    score.update(
        docs_per_s=round(len(score_ids) / score["seconds"], 1),
        output_lines=lines,
        ids_in_input_order=in_order,
        output_mb=round(out.stat().st_size / 1e6, 1),
    )
    figures["score"] = score
    save()
    say(f"score: {score}")
    assert lines == len(score_ids) and in_order, score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--push-docs", type=int, default=50_000)
    parser.add_argument("--score-docs", type=int, default=100_000)
    parser.add_argument("--parallel", action="store_true", help="score during the LS phases")
    parser.add_argument("--out", type=Path, default=None, help="where the JSON goes")
    parser.add_argument("--every", type=float, default=60.0, help="progress interval (s)")
    args = parser.parse_args()
    global OUT
    OUT = args.out or OUT
    sys.path.insert(0, str(REPO))

    articles = [(p.stem, p.read_text(encoding="utf-8")) for p in sorted(PTC.glob("*.txt"))]
    if not articles:
        raise SystemExit(f"no articles in {PTC}")
    figures.update(
        push_docs=args.push_docs,
        score_docs=args.score_docs,
        articles=len(articles),
        parallel=args.parallel,
        cpus=os.cpu_count(),
        load_average_at_start=[round(x, 2) for x in os.getloadavg()],
        started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABEL_STUDIO_")}
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        tmp = Path(tmp)
        push_file, score_file = tmp / "push.jsonl", tmp / "score.jsonl"
        push_ids = write_docs(push_file, args.push_docs, articles)
        score_ids = write_docs(score_file, args.score_docs, articles)
        figures["push_input_mb"] = round(push_file.stat().st_size / 1e6, 1)
        figures["score_input_mb"] = round(score_file.stat().st_size / 1e6, 1)
        save()
        errors: list[BaseException] = []
        done = threading.Event()
        threading.Thread(target=progress, args=(tmp, done, args.every), daemon=True).start()

        def guarded(fn, *a):
            try:
                fn(*a)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
                figures.setdefault("errors", []).append(f"{fn.__name__}: {exc}"[:2000])
                save()

        if args.parallel:
            lanes = [
                threading.Thread(target=guarded, args=(studio_lane, tmp, push_file, push_ids, env)),
                threading.Thread(
                    target=guarded, args=(score_lane, tmp, score_file, score_ids, env)
                ),
            ]
            for t in lanes:
                t.start()
            for t in lanes:
                t.join()
        else:
            guarded(studio_lane, tmp, push_file, push_ids, env)
            guarded(score_lane, tmp, score_file, score_ids, env)
        done.set()
    figures["total_s"] = round(time.perf_counter() - t_all, 1)
    figures["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    figures["complete"] = not errors
    save()
    print(json.dumps(figures, indent=2))
    print(f"written to {OUT}")
    if errors:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
