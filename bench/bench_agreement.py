"""Agreement between two annotation rounds of the same articles, and how long it takes.

PTC (SemEval-2020 Task 11, 14 techniques) and SemEval-2023 Task 3 (23 techniques, mapped to
the 14 with docs/label-maps/semeval2023-to-ptc.tsv) annotated the same news articles. Their
texts differ by a few characters; articles whose two texts have the same length are kept
(offsets line up), each round becomes one annotator, and `annotate.agreement` compares them.

    .venv/bin/python bench/bench_agreement.py   # prints figures, writes bench/out/agreement.json
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from annotate import corpus
from annotate.agreement import agreement_of_rows
from annotate.formats.ptc import ptc_rows
from annotate.formats.semeval2023 import semeval2023_rows

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"


def main() -> None:
    ptc, _ = ptc_rows(DATA / "ptc" / "train-articles", DATA / "ptc" / "train-labels-task-tc")
    se, _ = semeval2023_rows(
        DATA / "semeval2023" / "articles-subtask-3",
        spans=DATA / "semeval2023" / "labels-subtask-3-spans",
        label_map=ROOT / "docs" / "label-maps" / "semeval2023-to-ptc.tsv",
    )
    by_id = {r["id"]: r for r in se}
    rows, skipped = [], 0
    for r in ptc:
        other = by_id.get(r["id"])
        if other is None or len(other["text"]) != len(r["text"]):
            skipped += 1
            continue
        text = other["text"]
        spans = [
            corpus.span(text, s["start"], s["end"], s["label"], "ptc2020") for s in r["spans"]
        ] + [
            corpus.span(text, s["start"], s["end"], s["label"], "semeval2023")
            for s in other["spans"]
        ]
        rows.append(
            corpus.row(
                r["id"],
                text,
                annotated=["technique"],
                annotators=["ptc2020", "semeval2023"],
                spans=spans,
            )
        )
    started = time.perf_counter()
    result = agreement_of_rows(rows)
    seconds = time.perf_counter() - started
    figures = {
        "articles_compared": len(rows),
        "articles_skipped_text_length_differs": skipped,
        "spans": sum(len(r["spans"]) for r in rows),
        "pairwise_f1": result["spans"]["pairwise_f1"],
        "per_label": {k: v["pairwise_f1"] for k, v in result["spans"]["per_label"].items()},
        "seconds": round(seconds, 3),
    }
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "agreement.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
