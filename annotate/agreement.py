"""Inter-annotator agreement on a corpus (CONTRACTS.md section 8).

Who annotated what: every annotator of a row (`annotate.corpus.annotators_of`: the row's
`annotators`, else everyone named in its labels, else `gold`) annotated every control the
row lists in `annotated` (one Label Studio submission covers the whole document). A control
is compared on the documents where at least two annotators annotated it.

- Frames: Krippendorff's alpha (nominal; the `krippendorff` package) over (document, frame)
  presence decisions, annotators as coders; an annotator who did not annotate a document's
  frames is a missing value. `per_label`: the same over one frame's decisions.
- Spans: the SemEval-2020 SI partial-overlap F1 (`annotate.metrics.si_prf`) for every pair of
  annotators over the documents both annotated, one as gold and one as prediction (F1 is
  symmetric), averaged over pairs. `per_label`: the same restricted to one label, averaged
  over the pairs where either annotator used that label.

Alpha is `None` where it is undefined (fewer than two values or no unit with two coders).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from annotate import metrics
from annotate.corpus import annotators_of, iter_rows
from annotate.schema import FRAME_CONTROL, SPAN_CONTROL, Schema, load_schema
from annotate.ui import write_json


def agreement(
    corpus_dir: str | Path | Sequence[str | Path],
    *,
    json_out: str | Path | None = None,
    report: str | Path | None = None,
    schema: Schema | None = None,
) -> dict[str, Any]:
    """Agreement figures for a corpus; optionally written as JSON and as an HTML report."""
    dirs = [corpus_dir] if isinstance(corpus_dir, str | Path) else list(corpus_dir)
    result = agreement_of_rows(iter_rows(dirs), schema=schema)
    if json_out is not None:
        write_json(json_out, result)
    if report is not None:
        from annotate.report import write_agreement_report

        write_agreement_report(result, report)
    return result


def agreement_of_rows(rows, *, schema: Schema | None = None) -> dict[str, Any]:
    """Agreement over corpus rows (plain dicts as `annotate.corpus` writes them)."""
    schema = schema or load_schema()
    frames_docs: list[dict[str, set[str]]] = []  # per document: annotator -> frames
    span_docs: list[dict[str, list[tuple[int, int, str]]]] = []  # annotator -> spans
    documents = 0
    for r in rows:
        names = annotators_of(r)
        compared = len(names) >= 2 and bool({FRAME_CONTROL, SPAN_CONTROL} & set(r["annotated"]))
        if not compared:
            continue
        documents += 1
        if FRAME_CONTROL in r["annotated"]:
            chosen: dict[str, set[str]] = {a: set() for a in names}
            for d in r["doc_labels"]:
                if d["control"] == FRAME_CONTROL and d["annotator"] in chosen:
                    chosen[d["annotator"]].add(d["label"])
            frames_docs.append(chosen)
        if SPAN_CONTROL in r["annotated"]:
            marked: dict[str, list[tuple[int, int, str]]] = {a: [] for a in names}
            for s in r["spans"]:
                if s["annotator"] in marked:
                    marked[s["annotator"]].append((s["start"], s["end"], s["label"]))
            span_docs.append(marked)
    annotators = sorted({a for doc in frames_docs + span_docs for a in doc})
    return {
        "documents": documents,
        "annotators": annotators,
        "frames": frame_agreement(frames_docs, annotators, schema.frames) if frames_docs else None,
        "spans": span_agreement(span_docs, annotators, schema.techniques) if span_docs else None,
        "pairs": pair_agreement(frames_docs, span_docs, annotators, schema.frames),
    }


def frame_alpha(
    frames_docs: Sequence[dict[str, set[str]]], annotators: Sequence[str], frames: Sequence[str]
) -> float | None:
    """Nominal Krippendorff's alpha over (document, frame) presence decisions."""
    import krippendorff

    units = []
    for doc in frames_docs:
        for frame in frames:
            units.append([float(frame in doc[a]) if a in doc else np.nan for a in annotators])
    if not units:
        return None
    data = np.array(units, dtype=float).T  # coders x units
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            alpha = krippendorff.alpha(
                reliability_data=data, value_domain=[0.0, 1.0], level_of_measurement="nominal"
            )
    except ValueError:
        return None
    return None if np.isnan(alpha) else float(alpha)


def frame_agreement(
    frames_docs: Sequence[dict[str, set[str]]], annotators: Sequence[str], frames: Sequence[str]
) -> dict[str, Any]:
    return {
        "documents": len(frames_docs),
        "krippendorff_alpha": frame_alpha(frames_docs, annotators, frames),
        "per_label": {
            f: {"krippendorff_alpha": frame_alpha(frames_docs, annotators, [f])} for f in frames
        },
    }


def _pair_docs(span_docs, a: str, b: str):
    return [doc for doc in span_docs if a in doc and b in doc]


def pair_span_f1(docs, a: str, b: str, label: str | None = None) -> float | None:
    """SI F1 of `b` against `a` as gold over `docs`; None when neither marked anything."""
    gold = [[(s, e) for s, e, lab in doc[a] if label is None or lab == label] for doc in docs]
    pred = [[(s, e) for s, e, lab in doc[b] if label is None or lab == label] for doc in docs]
    if not any(gold) and not any(pred):
        return None
    return metrics.si_prf(pred, gold)["f1"]


def span_agreement(
    span_docs: Sequence[dict], annotators: Sequence[str], techniques: Sequence[str]
) -> dict[str, Any]:
    pairs = [
        (a, b) for a, b in itertools.combinations(annotators, 2) if _pair_docs(span_docs, a, b)
    ]

    def average(label: str | None) -> float | None:
        scores = [pair_span_f1(_pair_docs(span_docs, a, b), a, b, label) for a, b in pairs]
        scores = [s for s in scores if s is not None]
        return sum(scores) / len(scores) if scores else None

    return {
        "documents": len(span_docs),
        "pairwise_f1": average(None),
        "per_label": {t: {"pairwise_f1": average(t)} for t in techniques},
    }


def pair_agreement(
    frames_docs: Sequence[dict], span_docs: Sequence[dict], annotators: Sequence[str], frames
) -> list[dict[str, Any]]:
    """Per pair of annotators: shared documents, span F1, frame alpha (two coders)."""
    out = []
    for a, b in itertools.combinations(annotators, 2):
        f_docs = [{k: d[k] for k in (a, b)} for d in frames_docs if a in d and b in d]
        s_docs = _pair_docs(span_docs, a, b)
        if not f_docs and not s_docs:
            continue
        out.append(
            {
                "annotators": [a, b],
                "frame_documents": len(f_docs),
                "frames_krippendorff_alpha": frame_alpha(f_docs, [a, b], frames)
                if f_docs
                else None,
                "span_documents": len(s_docs),
                "spans_f1": pair_span_f1(s_docs, a, b) if s_docs else None,
            }
        )
    return out


def agreement_table(result: dict[str, Any]):
    """A rich Table: overall figures, then one line per pair of annotators."""
    from rich.markup import escape
    from rich.table import Table

    def fmt(x: float | None) -> str:
        return "-" if x is None else f"{x:.3f}"

    table = Table(
        title=f"Agreement: {result['documents']} documents, {len(result['annotators'])} annotators",
        title_justify="left",
    )
    table.add_column("annotators")
    table.add_column("frame docs", justify="right")
    table.add_column("frames alpha", justify="right")
    table.add_column("span docs", justify="right")
    table.add_column("spans F1", justify="right")
    frames, spans = result["frames"], result["spans"]
    table.add_row(
        "all (alpha; F1 averaged over pairs)",
        str(frames["documents"]) if frames else "0",
        fmt(frames and frames["krippendorff_alpha"]),
        str(spans["documents"]) if spans else "0",
        fmt(spans and spans["pairwise_f1"]),
    )
    table.add_section()
    for p in result["pairs"]:
        table.add_row(
            escape(" / ".join(p["annotators"])),
            str(p["frame_documents"]),
            fmt(p["frames_krippendorff_alpha"]),
            str(p["span_documents"]),
            fmt(p["spans_f1"]),
        )
    return table
