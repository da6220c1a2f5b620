"""Label Studio JSON <-> toolkit data: pure converters, no HTTP.

- `task_from_document`: a document as a task (`data.text`, `data.doc_id`, `data.meta`).
- `prediction_from_record`: a score record (CONTRACTS.md section 6) as a prediction:
  repeated passages become `Repetition` regions linked later -> earlier by the `repeats`
  relation (same document), with a region note naming the other article for
  cross-document repeats; model spans become technique regions; predicted frames a
  `frame` choice.
- `rows_from_task`: a task with its annotations as a corpus row (CONTRACTS.md section 4),
  one entry per annotator, span text checked against the document.

Label values are the contract strings (the `alias` of a `<Label>` when it has one): that is
what Label Studio stores when an annotator picks a label, and what it accepts in predictions.
A display name found in a result (`value` of a `<Label>`) is mapped back to its alias.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from annotate import corpus
from annotate.errors import BadInput
from annotate.schema import (
    FRAME_CONTROL,
    REPEATS_RELATION,
    SPAN_CONTROL,
    TEXT_OBJECT,
    Schema,
)

REPEATS_SOURCE = "repeats"
MODEL_SOURCE = "model"


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


def task_from_document(doc) -> dict[str, Any]:
    """A Label Studio task for a `Document` (the label config reads `$text` and `$doc_id`)."""
    return {"data": {"text": doc.text, "doc_id": doc.id, "meta": _json_safe(doc.meta or {})}}


# ---- predictions ---------------------------------------------------------------------------


def _region(rid: str, control: str, start: int, end: int, text: str, label: str) -> dict:
    return {
        "id": rid,
        "from_name": control,
        "to_name": TEXT_OBJECT,
        "type": "labels",
        "value": {"start": int(start), "end": int(end), "text": text, "labels": [label]},
    }


def prediction_score(record: Mapping[str, Any]) -> float:
    """How sure the prediction is, in [0, 1]: low first under `prediction-score-min` sampling.

    With a model: confidence of the document decision, max(p, 1 - p) of `propaganda`.
    Repeated passages only: the lowest span score (1.0 when there is no span).
    """
    p = record.get("propaganda")
    if p is not None:
        return round(max(float(p), 1.0 - float(p)), 6)
    scores = [float(s.get("score", 1.0)) for s in record.get("spans") or ()]
    return round(min(scores), 6) if scores else 1.0


def prediction_from_record(
    record: Mapping[str, Any],
    schema: Schema,
    model_version: str,
    text: str | None = None,
) -> dict[str, Any]:
    """A Label Studio prediction for one score record (CONTRACTS.md section 6).

    `text` (the document) lets a repeat whose earlier occurrence is not itself among the
    record's spans still get a region to link to.
    """
    doc_id = str(record["id"])
    repetition = schema.repetition
    result: list[dict] = []
    by_offsets: dict[tuple[int, int], str] = {}  # Repetition regions by (start, end)

    def add_repetition(start: int, end: int, span_text: str, score: float | None) -> str:
        key = (start, end)
        if key not in by_offsets:
            rid = f"rep{len(by_offsets) + 1}"
            region = _region(rid, SPAN_CONTROL, start, end, span_text, repetition)
            if score is not None:
                region["score"] = float(score)
            result.append(region)
            by_offsets[key] = rid
        return by_offsets[key]

    spans = sorted(record.get("spans") or (), key=lambda s: (s["start"], s["end"]))
    repeats = [s for s in spans if s.get("source") == REPEATS_SOURCE and repetition]
    model = [s for s in spans if s.get("source") != REPEATS_SOURCE]

    for s in repeats:
        add_repetition(s["start"], s["end"], s["text"], s.get("score"))
    links: set[tuple[str, str]] = set()
    for s in repeats:
        rid = by_offsets[(s["start"], s["end"])]
        of = s.get("of") or {}
        if not of:
            continue
        of_start, of_end = int(of["start"]), int(of["end"])
        if str(of.get("id", doc_id)) != doc_id:
            note = f"repeats {of['id']} [{of_start}:{of_end}]"
            region = next(r for r in result if r["id"] == rid)
            notes = region.setdefault("meta", {}).setdefault("text", [])
            if note not in notes:
                notes.append(note)
            continue
        if (of_start, of_end) >= (s["start"], s["end"]):
            continue  # link only a later copy to an earlier occurrence
        if (of_start, of_end) not in by_offsets:
            if text is None:
                continue
            add_repetition(of_start, of_end, text[of_start:of_end], None)
        to_id = by_offsets[(of_start, of_end)]
        if (rid, to_id) not in links:
            links.add((rid, to_id))
    for rid, to_id in sorted(links):
        result.append(
            {
                "type": "relation",
                "from_id": rid,
                "to_id": to_id,
                "direction": "right",
                "labels": [REPEATS_RELATION],
            }
        )
    # region notes are lists in Label Studio's own format; one line for the UI
    for region in result:
        if "meta" in region:
            region["meta"]["text"] = ["; ".join(region["meta"]["text"])]

    for i, s in enumerate(model, 1):
        region = _region(f"m{i}", SPAN_CONTROL, s["start"], s["end"], s["text"], s["label"])
        if s.get("score") is not None:
            region["score"] = float(s["score"])
        result.append(region)

    frames = list(record.get("frame_labels") or ())
    if frames:
        result.append(
            {
                "id": "frames",
                "from_name": FRAME_CONTROL,
                "to_name": TEXT_OBJECT,
                "type": "choices",
                "value": {"choices": frames},
            }
        )
    return {"model_version": model_version, "score": prediction_score(record), "result": result}


@lru_cache(maxsize=8)
def _interface(xml: str):
    from label_studio_sdk.label_interface import LabelInterface

    return LabelInterface(xml)


def check_prediction(prediction: dict, schema: Schema, doc_id: str = "") -> None:
    """Raise BadInput unless Label Studio's LabelInterface accepts the prediction."""
    errors = _interface(schema.xml).validate_prediction(prediction, return_errors=True)
    if errors:
        raise BadInput(f"prediction for {doc_id!r} does not fit the label config: {errors[:3]}")


# ---- annotations -> corpus rows ----------------------------------------------------------------


def _utf16_to_codepoints(text: str, offset: int) -> int | None:
    """The code-point index of a UTF-16 code-unit offset into `text`, if it falls on one."""
    units = 0
    for i, ch in enumerate(text):
        if units == offset:
            return i
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > offset:
            return None
    return len(text) if units == offset else None


def _span_offsets(text: str, value: dict, where: str) -> tuple[int, int]:
    """Offsets of a region whose `text` must equal `document[start:end]`."""
    start, end = int(value["start"]), int(value["end"])
    want = value.get("text")
    if want is None or text[start:end] == want:
        if not 0 <= start < end <= len(text):
            raise BadInput(f"span {start}-{end} lies outside the text ({len(text)})", where)
        return start, end
    # a client that counted UTF-16 code units (as JavaScript does) instead of code points
    cs, ce = _utf16_to_codepoints(text, start), _utf16_to_codepoints(text, end)
    if cs is not None and ce is not None and text[cs:ce] == want:
        return cs, ce
    raise BadInput(
        f"span {start}-{end} text {want[:40]!r} does not match the document "
        f"({text[start:end][:40]!r})",
        where,
    )


def annotator_name(annotation: Mapping[str, Any], users: Mapping[int, str] | None = None) -> str:
    """The annotator's e-mail: `completed_by` as an object or a user id, else the name
    Label Studio shows on the annotation (`created_username`, "email, id")."""
    completed_by = annotation.get("completed_by")
    if isinstance(completed_by, dict):
        return completed_by.get("email") or f"user{completed_by.get('id')}"
    if users and completed_by in users:
        return users[completed_by]
    shown = (annotation.get("created_username") or "").strip()
    if "@" in shown:
        return shown.rsplit(",", 1)[0].strip()
    return f"user{completed_by}"


def submitted_annotations(task: Mapping[str, Any]) -> tuple[list[dict], int]:
    """(submitted annotations, number skipped). Drafts are not annotations and are ignored."""
    submitted, skipped = [], 0
    for ann in task.get("annotations") or ():
        if ann.get("was_cancelled"):
            skipped += 1
        else:
            submitted.append(ann)
    return submitted, skipped


def rows_from_task(
    task: Mapping[str, Any],
    schema: Schema,
    *,
    users: Mapping[int, str] | None = None,
    counts: Counter | None = None,
) -> dict[str, Any]:
    """A corpus row: every annotator's submitted annotation of one task (skipped left out)."""
    data = task.get("data") or {}
    text = data.get("text")
    if not isinstance(text, str):
        raise BadInput("task has no text", "Label Studio", f"task {task.get('id')}")
    doc_id = str(data.get("doc_id") or f"task-{task.get('id')}")
    meta = data.get("meta") or {}
    if isinstance(meta, str):
        try:
            meta = json.loads(meta)
        except json.JSONDecodeError:
            meta = {"meta": meta}
    meta = {**meta, "label_studio_task": task.get("id")}
    where = "Label Studio"
    submitted, skipped = submitted_annotations(task)
    if counts is not None:
        counts["skipped"] += skipped
        counts["submitted"] += len(submitted)

    span_labels = _label_names(schema, SPAN_CONTROL)
    spans: list[dict] = []
    doc_labels: list[dict] = []
    annotators: list[str] = []
    for ann in submitted:
        who = annotator_name(ann, users)
        annotators.append(who)
        rec = f"task {task.get('id')} (document {doc_id!r}), annotation {ann.get('id')} by {who}"
        regions: dict[str, dict] = {}
        relations: list[dict] = []
        for res in ann.get("result") or ():
            kind = res.get("type")
            if kind == "relation":
                relations.append(res)
                continue
            value = res.get("value") or {}
            control = res.get("from_name")
            if control == SPAN_CONTROL and "start" in value and value.get("labels"):
                start, end = _span_offsets(text, value, f"{where}, {rec}")
                for label in value["labels"]:
                    entry = corpus.span(text, start, end, span_labels.get(label, label), who)
                    spans.append(entry)
                    regions.setdefault(res.get("id"), entry)
            elif kind == "choices" and control in schema.labels:
                names = _label_names(schema, control)
                for label in value.get("choices") or ():
                    doc_labels.append(
                        {"control": control, "label": names.get(label, label), "annotator": who}
                    )
        for rel in relations:
            _link(rel, regions, schema)
    return corpus.row(
        doc_id,
        text,
        meta,
        annotated=schema.controls if submitted else (),
        annotators=annotators,
        spans=spans,
        doc_labels=doc_labels,
    )


def _label_names(schema: Schema, control: str) -> dict[str, str]:
    """Display name -> contract string (alias) for one control."""
    aliases = getattr(schema, "display_names", None)
    return {v: k for k, v in aliases(control).items()} if aliases else {}


def _link(rel: dict, regions: dict[str, dict], schema: Schema) -> None:
    """Apply a `repeats` relation: the later copy gets of_start/of_end of the earlier one."""
    labels = rel.get("labels") or []
    a, b = regions.get(rel.get("from_id")), regions.get(rel.get("to_id"))
    if a is None or b is None:
        return
    both_repetition = a["label"] == b["label"] == schema.repetition
    if REPEATS_RELATION not in labels and not (not labels and both_repetition):
        return
    direction = rel.get("direction", "right")
    if direction == "left":
        a, b = b, a
    elif direction == "bi" and (a["start"], a["end"]) < (b["start"], b["end"]):
        a, b = b, a
    a["of_start"], a["of_end"] = b["start"], b["end"]
