"""Push and pull many documents through a real local Label Studio: time and peak memory.

    .venv/bin/python bench/bench_studio.py [--docs 10000] [--chars 5000] [--batch-size 500]
                                           [--annotated K] [--compare-pull] [--out FILE]

Documents are synthetic (~5 KB each): words drawn at random from the vocabulary of
`../shared/data/ptc/train-articles` (a fixed word list if that is missing), each with one
passage repeated inside it, so every task gets a repeated-passage pre-annotation. A fresh
server runs in a temporary data dir on a free port. Each phase runs the toolkit in its own
process (as `annotate push` / `annotate pull` would) and reports wall time and that
process's peak RSS. Between push and pull, every task's prediction is turned into an
annotation on the server (Label Studio's own bulk action, not timed as toolkit work), so
pull exports 100% annotated tasks (with `--annotated K`, only the first K tasks are
annotated: a large project of which a little is done). `--compare-pull` also times, on the same
project, the two ways of asking the server for the annotated tasks: the Data Manager task list
filtered on `total_annotations` (what `annotate pull` does, pages keyed by id) and the export
API (`/api/projects/{id}/export?exportType=JSON&download_all_tasks=false`, one answer for all).
Figures go to stdout and `bench/out/studio.json` (or `--out`).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PTC = REPO.parent / "shared" / "data" / "ptc" / "train-articles"
OUT = REPO / "bench" / "out" / "studio.json"

CHILD = r"""
import json, resource, sys, time
from annotate.roundtrip import push_documents
from annotate.studio.pull import pull_corpus
args = json.loads(sys.argv[1])
t0 = time.perf_counter()
if args["op"] == "push":
    result = push_documents([args["path"]], project=args["project"],
                            batch_size=args["batch_size"])
else:
    result = pull_corpus(args["path"], project=args["project"])
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "peak_rss_mb": resource.getrusage(
    resource.RUSAGE_SELF).ru_maxrss / 1024, "result": result}))
"""


def vocabulary() -> list[str]:
    words: set[str] = set()
    if PTC.is_dir():
        for f in sorted(PTC.glob("*.txt"))[:200]:
            words.update(re.findall(r"[A-Za-z]{3,}", f.read_text(encoding="utf-8")))
    if len(words) < 2000:
        rnd = random.Random(1)
        words.update(
            "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(3, 9)))
            for _ in range(20000)
        )
    return sorted(words)


def make_document(rnd: random.Random, words: list[str], chars: int) -> str:
    sentences: list[str] = []
    size = 0
    while size < chars:
        s = " ".join(rnd.choice(words) for _ in range(rnd.randint(8, 22)))
        s = s[0].upper() + s[1:] + "."
        sentences.append(s)
        size += len(s) + 1
    # one passage said twice: a repeated-passage pre-annotation for every document
    i = rnd.randrange(len(sentences) // 2)
    j = rnd.randrange(len(sentences) // 2 + 1, len(sentences))
    sentences[j] = sentences[i]
    return " ".join(sentences)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed_from_test_template(data_dir: Path) -> bool:
    """Start from the test suite's cached migrated database when there is one (as soak.py)."""
    import importlib.util

    from annotate.studio import server

    spec = importlib.util.spec_from_file_location("bench_conftest", REPO / "tests" / "conftest.py")
    conftest = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = conftest  # dataclasses look their module up
    spec.loader.exec_module(conftest)
    data_dir.mkdir(mode=0o700, parents=True)
    template = conftest._template_dir(server.label_studio_bin())
    return template is not None and conftest._seed_from_template(template, data_dir)


def run_child(op: str, path: Path, project: str, env: dict, batch_size: int) -> dict:
    args = {"op": op, "path": str(path), "project": project, "batch_size": batch_size}
    r = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(args)],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    if r.returncode != 0:
        raise SystemExit(f"{op} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def accept_predictions(api, project: str, first: int | None = None) -> float:
    """Stand in for annotators: turn every task's predictions (or the first `first` tasks')
    into annotations (Label Studio's Data Manager action). Returns the seconds it took."""
    pid = api.find_project(project)["id"]
    selected: dict = {"all": True, "excluded": []}
    if first is not None:
        query = {"ordering": ["tasks:id"]}
        items, _ = api.task_page(pid, 1, page_size=first, query=query)
        selected = {"all": False, "included": [t["id"] for t in items]}
    t0 = time.perf_counter()
    api.post(
        "/api/dm/actions",
        params={"id": "predictions_to_annotations", "project": pid},
        json={"selectedItems": selected},
    )
    return round(time.perf_counter() - t0, 1)


def compare_pull_methods(api, project: str) -> dict:
    """Seconds to fetch every annotated task, three ways, on the same project: the Data
    Manager task list filtered on `total_annotations` (pages keyed by id), the synchronous
    export API (one answer holding every task), and an export snapshot (what pull uses)."""
    from annotate.studio.pull import annotated_tasks, exported_tasks

    pid = api.find_project(project)["id"]
    figures: dict = {}
    t0 = time.perf_counter()
    figures["filtered_list_tasks"] = sum(1 for _ in annotated_tasks(api, pid))
    figures["filtered_list_s"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    r = api.session.get(
        f"{api.url}/api/projects/{pid}/export",
        params={"exportType": "JSON", "download_all_tasks": "false"},
        timeout=3600,
    )
    r.raise_for_status()
    figures["export_api_tasks"] = len(json.loads(r.content))
    figures["export_api_s"] = round(time.perf_counter() - t0, 1)
    figures["export_api_mb"] = round(len(r.content) / 1e6, 1)
    del r
    t0 = time.perf_counter()
    figures["snapshot_tasks"] = sum(1 for _ in exported_tasks(api, pid))
    figures["snapshot_s"] = round(time.perf_counter() - t0, 1)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--chars", type=int, default=5_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--annotated", type=int, default=None, help="annotate only K tasks")
    parser.add_argument("--compare-pull", action="store_true")
    parser.add_argument("--no-repush", action="store_true", help="skip the second push")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))
    from annotate.studio import server
    from annotate.studio.api import Api

    figures: dict = {
        "documents": args.docs,
        "chars_per_document": args.chars,
        "batch_size": args.batch_size,
        "annotated": args.annotated if args.annotated is not None else args.docs,
        "cpus": os.cpu_count(),
    }
    with tempfile.TemporaryDirectory(prefix="bench-studio-") as tmp:
        tmp = Path(tmp)
        rnd = random.Random(42)
        words = vocabulary()
        docs_path = tmp / "docs.jsonl"
        with open(docs_path, "w", encoding="utf-8") as f:
            for i in range(args.docs):
                doc = {"id": f"bench{i:05d}", "text": make_document(rnd, words, args.chars)}
                f.write(json.dumps(doc) + "\n")
        figures["input_mb"] = round(docs_path.stat().st_size / 1e6, 1)

        data_dir = tmp / "studio"
        project = "bench"
        env = {k: v for k, v in os.environ.items() if not k.startswith("LABEL_STUDIO_")}
        figures["server_from_cached_db"] = seed_from_test_template(data_dir)
        t0 = time.perf_counter()
        info = server.start(port=free_port(), data_dir=data_dir, project=project)
        figures["server_first_start_s"] = round(time.perf_counter() - t0, 1)
        creds = server.credentials(data_dir)
        env.update(LABEL_STUDIO_URL=info["url"], LABEL_STUDIO_API_KEY=creds["api_key"])
        try:
            push = run_child("push", docs_path, project, env, args.batch_size)
            print(
                f"push: {push['seconds']:.1f} s, peak RSS {push['peak_rss_mb']:.0f} MB, "
                f"{push['result']['new']} new, {push['result']['predictions']} predictions"
            )
            again = None
            if not args.no_repush:
                again = run_child("push", docs_path, project, env, args.batch_size)
                print(
                    f"push again: {again['seconds']:.1f} s, {again['result']['new']} new, "
                    f"{again['result']['already']} already there"
                )

            api = Api(info["url"], creds["api_key"])
            figures["server_predictions_to_annotations_s"] = accept_predictions(
                api, project, args.annotated
            )

            pull = run_child("pull", tmp / "corpus", project, env, args.batch_size)
            print(
                f"pull: {pull['seconds']:.1f} s, peak RSS {pull['peak_rss_mb']:.0f} MB, "
                f"{pull['result']['documents']} documents, {pull['result']['spans']} spans"
            )
            if args.compare_pull:
                figures["pull_methods"] = compare_pull_methods(api, project)
                print(f"pull methods: {figures['pull_methods']}")
        finally:
            server.stop(data_dir)

    figures.update(
        push_s=round(push["seconds"], 1),
        push_docs_per_s=round(args.docs / push["seconds"], 1),
        push_peak_rss_mb=round(push["peak_rss_mb"], 1),
        push_new=push["result"]["new"],
        push_predictions=push["result"]["predictions"],
        pull_s=round(pull["seconds"], 1),
        pull_docs_per_s=round(pull["result"]["documents"] / pull["seconds"], 1),
        pull_peak_rss_mb=round(pull["peak_rss_mb"], 1),
        pull_documents=pull["result"]["documents"],
        pull_spans=pull["result"]["spans"],
    )
    if again is not None:
        figures.update(
            repush_s=round(again["seconds"], 1),
            repush_new=again["result"]["new"],
            repush_already=again["result"]["already"],
            repush_peak_rss_mb=round(again["peak_rss_mb"], 1),
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
