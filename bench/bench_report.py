"""Benchmark `annotate report` over N score records: wall clock, CPU-seconds, peak memory.

The records are built here, not scored: scoring 100,000 documents takes minutes (see
bench_score.py) and the report is what is measured. Each record is what `annotate score
--model` writes (CONTRACTS.md section 6) for one of the 371 PTC training articles
(../shared/data/ptc/train-articles), taken in turn:

- model spans: the article's gold technique spans (train-labels-task-tc) with their text, a
  random score in [0.5, 1); `propaganda` grows with the span count plus noise; 14 frame
  probabilities at random, `frame_labels` those >= 0.5;
- meta: one of 60 synthetic outlets (Zipf-like shares), a date over two years, a title, a url;
- repeats: N/100 passages, at most PLANTED (sentences of 12+ words), each printed by 3 to
  40 documents of several outlets, every occurrence a `source: "repeats"` span whose `of`
  points to the passage's first printing (as the detector links a copy to an earlier
  occurrence); and FOOTER_OUTLETS outlets whose every article ends with their footer.
  Copies of the same article are not linked (as if each were a different article), so the
  repeats are exactly the planted ones and the check below can count them.

The report runs as the real command line in a subprocess,

    annotate report RECORDS.jsonl --out REPORT.html --json SUMMARY.json

timed (wall clock; user+system CPU) with the child's own peak RSS (getrusage at its exit).
The summary is then checked: every planted passage is one crossing group with its outlets,
every footer one single-outlet group. `--screenshot PNG` also renders the report of a
smaller collection (--screenshot-size) in Debian's chromium for the README.

    .venv/bin/python bench/bench_report.py [--sizes 10000,100000] [--format jsonl|parquet]
        [--screenshot docs/img/collection-report.png]

Prints figures and writes bench/out/bench_report.json (or --json PATH).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PTC = ROOT.parent / "shared" / "data" / "ptc"
OUT = ROOT / "bench" / "out"
OUTLETS = 60
PLANTED = 500
FOOTER_OUTLETS = 8
START = dt.date(2023, 1, 1)
DAYS = 730
SEED = 22


def load_articles() -> list[tuple[str, str, list[tuple[int, int, str]]]]:
    """(id, text, gold technique spans) for the PTC training articles."""
    sys.path.insert(0, str(ROOT))
    from annotate.documents import read_text_file

    out = []
    for path in sorted((PTC / "train-articles").glob("article*.txt")):
        aid = path.stem.removeprefix("article")
        text = read_text_file(path)
        spans = []
        labels = PTC / "train-labels-task-tc" / f"article{aid}.task2-TC.labels"
        if labels.exists():
            for line in labels.read_text().splitlines():
                _, label, s, e = line.split("\t")
                spans.append((int(s), int(e), label))
        out.append((aid, text, sorted(spans)))
    return out


def passages(articles, n: int, rng: random.Random) -> list[str]:
    """n distinct sentences of 12 to 60 words from the articles."""
    sentences = sorted(
        {
            s.strip()
            for _, text, _ in articles
            for s in re.split(r"(?<=[.!?])\s+", text)
            if 12 <= len(s.split()) <= 60
        }
    )
    return rng.sample(sentences, n)


def build_records(n: int, path: Path, seed: int = SEED) -> dict:
    """Write n score records to `path` (.jsonl or .parquet); return what was planted."""
    sys.path.insert(0, str(ROOT))
    from annotate.schema import load_schema

    rng = random.Random(seed)
    articles = load_articles()
    frames = load_schema().frames
    outlets = [f"outlet{k:02d}.example" for k in range(OUTLETS)]
    weights = [1 / (k + 1) ** 0.8 for k in range(OUTLETS)]
    bias = {o: rng.uniform(-0.15, 0.15) for o in outlets}
    footers = {o: f"{o} - all rights reserved. Reproduction of this article in whole or in part "
                  f"without written permission of {o} is prohibited." for o in outlets[3 : 3 + FOOTER_OUTLETS]}  # fmt: skip
    prior = {f: rng.uniform(0.1, 0.75) for f in frames}  # frames: some common, some rare
    outlet_of = rng.choices(outlets, weights, k=n)
    day_of = [rng.randrange(DAYS) for _ in range(n)]
    # each occurrence points to the passage's first printing; the first to the second
    planted_in: dict[int, list[tuple[str, int]]] = {}  # doc -> [(passage, doc its of names)]
    plan = []
    for text in passages(articles, max(20, min(PLANTED, n // 100)), rng):
        docs = sorted(rng.sample(range(n), rng.randint(3, 40)), key=lambda d: (day_of[d], d))
        if len({outlet_of[d] for d in docs}) < 2:
            continue
        plan.append({"passage": text, "documents": sorted(f"d{d}" for d in docs),
                     "outlets": sorted({outlet_of[d] for d in docs})})  # fmt: skip
        for d in docs:
            planted_in.setdefault(d, []).append((text, docs[1] if d == docs[0] else docs[0]))
    footer_docs: dict[str, list[int]] = {}
    for i, o in enumerate(outlet_of):
        if o in footers and len(footer_docs.setdefault(o, [])) < 2:
            footer_docs[o].append(i)

    def extras(i: int) -> list[tuple[str, int, int]]:
        """(passage, the doc its `of` names, start) planted after article i's text."""
        out = list(planted_in.get(i, []))
        if outlet_of[i] in footers:
            first, second = footer_docs[outlet_of[i]]
            out.append((footers[outlet_of[i]], second if i == first else first))
        placed, end = [], len(articles[i % len(articles)][1])
        for passage, of_doc in out:
            placed.append((passage, of_doc, end + 2))
            end += 2 + len(passage)
        return placed

    writer = _writer(path)
    for i in range(n):
        aid, text, gold = articles[i % len(articles)]
        outlet = outlet_of[i]
        spans = [
            {"start": s, "end": e, "text": text[s:e], "label": lab,
             "score": round(rng.uniform(0.5, 1.0), 3), "source": "model"}
            for s, e, lab in gold
        ]  # fmt: skip
        for passage, of_doc, start in extras(i):
            there = next(at for p, _, at in extras(of_doc) if p == passage)
            of = {"id": f"d{of_doc}", "start": there, "end": there + len(passage)}
            spans.append({"start": start, "end": start + len(passage), "text": passage,
                          "label": "Repetition", "score": 1.0, "source": "repeats", "of": of})  # fmt: skip
        propaganda = min(1.0, max(0.0, 0.1 + 0.035 * len(gold) + bias[outlet] + rng.gauss(0, 0.12)))
        probs = {f: round(min(1.0, prior[f] * rng.uniform(0.3, 1.7)), 3) for f in frames}
        writer.write(
            {
                "id": f"d{i}",
                "propaganda": round(propaganda, 4),
                "frames": probs,
                "frame_labels": [f for f, p in probs.items() if p >= 0.5],
                "spans": spans,
                "meta": {
                    "outlet": outlet,
                    "date": (START + dt.timedelta(days=day_of[i])).isoformat(),
                    "title": text.split("\n", 1)[0][:120],
                    "url": f"https://{outlet}/{aid}/{i}",
                },
            }
        )
    writer.close()
    counts = {o: outlet_of.count(o) for o in footers}
    return {"planted": plan, "footers": {footers[o]: counts[o] for o in footers}}


class _Jsonl:
    def __init__(self, path: Path):
        self.f = open(path, "w", encoding="utf-8")

    def write(self, record: dict) -> None:
        self.f.write(json.dumps(record, ensure_ascii=False) + "\n")

    def close(self) -> None:
        self.f.close()


class _Parquet:
    def __init__(self, path: Path, rows: int = 4096):
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.pa = pa
        self.schema = pa.schema([("id", pa.string()), ("propaganda", pa.float64()),
                                 ("frames", pa.string()), ("frame_labels", pa.string()),
                                 ("spans", pa.string()), ("meta", pa.string())])  # fmt: skip
        self.writer = pq.ParquetWriter(path, self.schema)
        self.rows: list[dict] = []
        self.size = rows

    def write(self, record: dict) -> None:
        nested = ("frames", "frame_labels", "spans", "meta")
        self.rows.append({k: json.dumps(v, ensure_ascii=False) if k in nested else v
                          for k, v in record.items()})  # fmt: skip
        if len(self.rows) >= self.size:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            self.writer.write_table(self.pa.Table.from_pylist(self.rows, schema=self.schema))
            self.rows = []

    def close(self) -> None:
        self.flush()
        self.writer.close()


def _writer(path: Path):
    return _Parquet(path) if path.suffix == ".parquet" else _Jsonl(path)


def check(summary: dict, planted: dict) -> dict:
    """Did the report find what was planted? Planted passages are crossing groups with their
    documents and outlets; each footer is one single-outlet group with every article."""
    p = summary["passages"]
    found = {g["passage"]: g for g in p["crossing"]}
    shown = [x for x in planted["planted"] if x["passage"] in found]
    exact = sum(
        found[x["passage"]]["documents"] == len(x["documents"])
        and found[x["passage"]]["outlet_names"] == x["outlets"]
        for x in shown
    )
    footers = {g["passage"]: g["documents"] for g in p["single_outlet"]}
    return {
        "planted_groups": len(planted["planted"]),
        "crossing_groups": p["groups"],
        "shown_groups_matching_a_planted_passage": f"{exact}/{len(p['crossing'])}",
        "footers": len(planted["footers"]),
        "single_outlet_groups": p["single_outlet_groups"],
        "footer_groups_complete": sum(footers.get(t) == c for t, c in planted["footers"].items()),
    }


# `python -m annotate` as runpy runs it, plus the process's own peak RSS written at exit
_CHILD = """
import atexit, resource, runpy, sys
peak_file = sys.argv.pop(1)
def _peak():
    with open(peak_file, "w") as f:
        f.write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
atexit.register(_peak)
sys.argv[0] = "annotate"
runpy.run_module("annotate", run_name="__main__", alter_sys=True)
"""


def run_report(records: Path, out_dir: Path) -> dict:
    """`annotate report RECORDS --out --json` in a subprocess: wall, CPU, its peak RSS."""
    out_dir.mkdir(parents=True, exist_ok=True)
    html, js, peak = out_dir / "report.html", out_dir / "summary.json", out_dir / "peak"
    cmd = [sys.executable, "-c", _CHILD, str(peak), "report", str(records), "--out", str(html),
           "--json", str(js)]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        sys.exit(f"annotate report failed ({proc.returncode}): {proc.stderr}")
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 2),
        "peak_rss_mb": round(int(peak.read_text()) / 1024, 1),  # KiB on Linux
        "report_mb": round(html.stat().st_size / 1e6, 2),
        "summary": json.loads(js.read_text()),
        "stderr": proc.stderr.strip(),
        "html": html,
    }


def screenshot(html: Path, png: Path, section: str = "time") -> None:
    """The report in Debian's chromium (as tests/browser_helpers.py launches it), scrolled to
    `section`: the plots over time and the first coordinated passages."""
    sys.path.insert(0, str(ROOT / "tests"))
    import browser_helpers as bh
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = bh.launch(p)
        page = browser.new_page(viewport={"width": 1280, "height": 1500})
        page.goto(html.resolve().as_uri())
        page.wait_for_load_state("load")
        page.evaluate("id => document.getElementById(id).scrollIntoView()", section)
        png.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(png), full_page=False)
        browser.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000", help="Record counts, comma-separated.")
    ap.add_argument("--format", choices=("jsonl", "parquet"), default="jsonl")
    ap.add_argument("--json", type=Path, default=OUT / "bench_report.json")
    ap.add_argument("--screenshot", type=Path, help="Also write a screenshot of a smaller report.")
    ap.add_argument("--screenshot-size", type=int, default=5000)
    ap.add_argument("--keep", type=Path, help="Keep the records and the reports in this folder.")
    args = ap.parse_args()
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for size in (int(x) for x in args.sizes.split(",")):
            records = work / f"records-{size}.{args.format}"
            t0 = time.perf_counter()
            planted = build_records(size, records)
            built = time.perf_counter() - t0
            run = run_report(records, work / f"report-{size}")
            result = {
                "documents": size,
                "format": args.format,
                "records_mb": round(records.stat().st_size / 1e6, 1),
                "build_s": round(built, 1),
                **{k: run[k] for k in ("wall_s", "cpu_s", "peak_rss_mb", "report_mb")},
                "docs_per_s": round(size / run["wall_s"]),
                "cli": run["stderr"].split(": ", 1)[-1],
                "check": check(run["summary"], planted),
            }
            print(json.dumps(result, indent=1), flush=True)
            runs.append(result)
            if not args.keep:
                records.unlink()
        if args.screenshot:
            small = work / f"records-{args.screenshot_size}.jsonl"
            build_records(args.screenshot_size, small)
            shot = run_report(small, work / "shot")
            screenshot(shot["html"], args.screenshot)
            print(f"screenshot of the {args.screenshot_size:,}-record report: {args.screenshot}")
    load = os.getloadavg()
    out = {"runs": runs, "targets": {"wall_s": 60, "peak_rss_mb": 500},
           "load_average": [round(x, 2) for x in load]}  # fmt: skip
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=1) + "\n")
    last = runs[-1]
    ok = last["wall_s"] < 60 and last["peak_rss_mb"] < 500
    print(
        f"{last['documents']:,} records: {last['wall_s']} s, {last['peak_rss_mb']} MB peak; "
        f"{'met' if ok else 'MISSED'} (under 60 s and 500 MB); load {load[0]:.1f} -> {args.json}"
    )


if __name__ == "__main__":
    main()
