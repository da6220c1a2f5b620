"""Score records (CONTRACTS.md section 6): one dict per document, built from its repeats, the
model's prediction and the input's other fields (`meta`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from annotate.repeats import DETECTOR, Repeat
from annotate.schema import REPETITION_LABEL

READER_FIELDS = ("source",)  # meta the reader adds itself (where it found the document)


def repeat_span(r: Repeat) -> dict:
    """A `Repetition` span of the repeated-passage detector, pointing to the other occurrence."""
    return {
        "start": r.start,
        "end": r.end,
        "text": r.text,
        "label": REPETITION_LABEL,
        "score": r.score,
        "source": DETECTOR,
        "of": {"id": r.of_id, "start": r.of_start, "end": r.of_end},
    }


def record_meta(meta: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The input document's other fields as a record's `meta`; None when it had none (the
    reader's own `source` does not count)."""
    if not meta:
        return None
    kept = {k: v for k, v in meta.items() if k not in READER_FIELDS}
    return kept or None


def make_record(
    doc_id: str,
    text: str,
    reps: list[Repeat],
    prediction: Mapping[str, Any] | None,
    meta: Mapping[str, Any] | None = None,
) -> dict:
    """One CONTRACTS §6 record; model spans are checked against the text. `meta`: the
    `record_meta` of the input document (absent from the record when None)."""
    record: dict[str, Any] = {"id": doc_id}
    spans = [repeat_span(r) for r in reps]
    if prediction is not None:
        record["propaganda"] = float(prediction["propaganda"])
        record["frames"] = {k: float(v) for k, v in prediction.get("frames", {}).items()}
        record["frame_labels"] = list(prediction.get("frame_labels", []))
        for s in prediction.get("spans", []):
            start, end = int(s["start"]), int(s["end"])
            if not 0 <= start < end <= len(text):
                raise ValueError(f"model span {start}-{end} outside document {doc_id!r}")
            span = {**s, "start": start, "end": end, "text": text[start:end]}
            span.setdefault("source", "model")
            spans.append(span)
    spans.sort(key=lambda s: (s["start"], s["end"], s.get("source", "")))
    record["spans"] = spans
    if meta is not None:
        record["meta"] = dict(meta)
    return record


def count_spans(records: Iterable[dict]) -> dict[str, int]:
    """Repeat spans, documents with any, and model spans of `records`."""
    counts = {"repeats": 0, "docs_with_repeats": 0, "model": 0}
    for r in records:
        n_rep = sum(1 for s in r["spans"] if s.get("source") == DETECTOR)
        counts["repeats"] += n_rep
        counts["docs_with_repeats"] += bool(n_rep)
        counts["model"] += len(r["spans"]) - n_rep
    return counts
