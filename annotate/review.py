"""Adjudication: put the documents where annotators disagree most in front of a reviewer.

`annotate pull` keeps every annotator's labels; train, evaluate and audit merge them with a
policy (`--policy majority|union|annotator:NAME`, see `annotate.corpus`). Where annotators
disagree, a reviewer should decide instead. `review()`:

1. reads the project's tasks and their submitted annotations (as `annotate pull` does);
2. scores each document with at least two annotators by *disagreement* in [0, 1]: per pair
   of annotators, 1 - the mean of the unlabelled and the per-label SemEval-2020 SI F1 of
   their spans (`annotate.agreement.pair_span_f1`), and 1 - the Jaccard overlap of their
   frame sets; averaged over pairs, then over the two controls;
3. for the `top` documents, adds each annotator's version as a prediction named
   `annotator:<email>` (Label Studio shows predictions side by side with the annotations),
   marks the task with `data.review_rank` (1 = most disputed) and `data.review_disagreement`,
   and keeps a Data Manager tab "Review: disagreements" listing exactly those tasks in rank
   order. Flags of tasks that have dropped out of the top are cleared.

Run it again after the reviewer's work or new annotations: predictions are replaced.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from annotate.agreement import pair_span_f1
from annotate.errors import StudioError
from annotate.schema import FRAME_CONTROL, SPAN_CONTROL, Schema, load_schema

ANNOTATOR_VERSION = "annotator:"  # prediction model_version prefix
RANK_FIELD = "review_rank"
DISAGREEMENT_FIELD = "review_disagreement"
VIEW_TITLE = "Review: disagreements"


def pair_disagreement(row: Mapping[str, Any], a: str, b: str) -> dict[str, float | None]:
    """Span and frame disagreement of annotators `a` and `b` on one corpus row."""
    result: dict[str, float | None] = {"spans": None, "frames": None}
    if SPAN_CONTROL in row["annotated"]:
        doc = {
            who: [(s["start"], s["end"], s["label"]) for s in row["spans"] if s["annotator"] == who]
            for who in (a, b)
        }
        unlabelled = pair_span_f1([doc], a, b)
        labels = sorted({lab for who in (a, b) for _, _, lab in doc[who]})
        per_label = [pair_span_f1([doc], a, b, lab) for lab in labels]
        per_label = [f for f in per_label if f is not None]
        if unlabelled is None:  # neither marked a span: they agree
            result["spans"] = 0.0
        else:
            labelled = sum(per_label) / len(per_label) if per_label else 0.0
            result["spans"] = 1.0 - (unlabelled + labelled) / 2
    if FRAME_CONTROL in row["annotated"]:
        fa, fb = (
            {
                d["label"]
                for d in row["doc_labels"]
                if d["annotator"] == who and d["control"] == FRAME_CONTROL
            }
            for who in (a, b)
        )
        union = fa | fb
        result["frames"] = 1.0 - len(fa & fb) / len(union) if union else 0.0
    return result


def disagreement(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """How much the annotators of a row disagree (None with fewer than two annotators)."""
    annotators = sorted(set(row.get("annotators") or ()))
    if len(annotators) < 2:
        return None
    pairs = [pair_disagreement(row, a, b) for a, b in itertools.combinations(annotators, 2)]
    parts: dict[str, float | None] = {}
    for control in ("spans", "frames"):
        values = [p[control] for p in pairs if p[control] is not None]
        parts[control] = round(sum(values) / len(values), 4) if values else None
    present = [v for v in parts.values() if v is not None]
    return {
        "doc_id": row["id"],
        "annotators": annotators,
        "spans": parts["spans"],
        "frames": parts["frames"],
        "disagreement": round(sum(present) / len(present), 4) if present else 0.0,
    }


def rank_disagreements(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows with two or more annotators, most disputed first."""
    scored = [d for r in rows if (d := disagreement(r)) is not None]
    return sorted(scored, key=lambda d: (-d["disagreement"], d["doc_id"]))


def annotator_record(row: Mapping[str, Any], who: str) -> dict[str, Any]:
    """One annotator's labels of a row as a score record (CONTRACTS.md section 6)."""
    return {
        "id": row["id"],
        "spans": [
            {
                "start": s["start"],
                "end": s["end"],
                "text": s["text"],
                "label": s["label"],
                "source": "annotator",
            }
            for s in row["spans"]
            if s["annotator"] == who
        ],
        "frame_labels": sorted(
            d["label"]
            for d in row["doc_labels"]
            if d["annotator"] == who and d["control"] == FRAME_CONTROL
        ),
    }


def annotator_prediction(
    row: Mapping[str, Any], who: str, schema: Schema, score: float
) -> dict[str, Any]:
    """A Label Studio prediction showing annotator `who`'s version of the document."""
    from annotate.formats.labelstudio import prediction_from_record

    pred = prediction_from_record(
        annotator_record(row, who), schema, f"{ANNOTATOR_VERSION}{who}", text=row["text"]
    )
    pred["score"] = round(float(score), 6)
    return pred


def review(project: str, *, top: int = 20) -> dict[str, Any]:
    """Rank the project's documents by annotator disagreement and set up the top ones for review."""
    from annotate.formats import labelstudio as ls
    from annotate.studio import client

    if top < 1:
        from annotate.errors import BadInput

        raise BadInput("--top must be at least 1")
    schema = load_schema()
    interface = schema.interface()
    api, url = client.connect()
    proj = api.find_project(project)
    if proj is None:
        raise StudioError(f"Label Studio has no project titled {project!r} (see --project)")
    pid = proj["id"]
    users = client._users(api)
    tasks: dict[str, dict] = {}
    rows: list[dict] = []
    for task in api.tasks(pid, fields="all", page_size=200):
        row = ls.rows_from_task(task, schema, users=users)
        tasks[row["id"]] = task
        if len(row["annotators"]) >= 2:
            rows.append(row)
    ranked = rank_disagreements(rows)
    chosen = [d for d in ranked if d["disagreement"] > 0][:top]
    by_id = {r["id"]: r for r in rows}

    predictions = []
    for rank, d in enumerate(chosen, 1):
        task = tasks[d["doc_id"]]
        _drop_annotator_predictions(api, task)
        for who in d["annotators"]:
            pred = annotator_prediction(by_id[d["doc_id"]], who, schema, 1.0 - d["disagreement"])
            errors = interface.validate_prediction(pred, return_errors=True)
            if errors:
                raise StudioError(f"review prediction for {d['doc_id']!r} is invalid: {errors[:3]}")
            predictions.append({"task": task["id"], **pred})
        _set_flags(api, task, {RANK_FIELD: rank, DISAGREEMENT_FIELD: d["disagreement"]})
        d["task"] = task["id"]
        d["url"] = f"{url}/projects/{pid}/data?task={task['id']}"
    if predictions:
        api.post(f"/api/projects/{pid}/import/predictions", json=predictions, retry=False)
    chosen_ids = {d["doc_id"] for d in chosen}
    cleared = 0
    for doc_id, task in tasks.items():
        if doc_id not in chosen_ids and RANK_FIELD in (task.get("data") or {}):
            _drop_annotator_predictions(api, task)
            _set_flags(api, task, None)
            cleared += 1
    view = _review_view(api, pid)
    return {
        "project": project,
        "project_id": pid,
        "documents": len(tasks),
        "with_two_or_more_annotators": len(rows),
        "for_review": chosen,
        "predictions": len(predictions),
        "cleared": cleared,
        "view": view,
        "url": f"{url}/projects/{pid}/data?tab={view}",
    }


def _drop_annotator_predictions(api, task: dict) -> None:
    for pred in task.get("predictions") or ():
        version = pred.get("model_version") or ""
        if version.startswith(ANNOTATOR_VERSION) and pred.get("id") is not None:
            api.delete(f"/api/predictions/{pred['id']}/")


def _set_flags(api, task: dict, flags: dict | None) -> None:
    data = {
        k: v
        for k, v in (task.get("data") or {}).items()
        if k not in (RANK_FIELD, DISAGREEMENT_FIELD)
    }
    if flags:
        data.update(flags)
    api.patch(f"/api/tasks/{task['id']}/", json={"data": data})


def _review_view(api, project_id: int) -> int:
    """The Data Manager tab listing flagged tasks, most disputed first (created once)."""
    rank = f"tasks:data.{RANK_FIELD}"
    wanted = {
        "title": VIEW_TITLE,
        "filters": {
            "conjunction": "and",
            "items": [
                {"filter": f"filter:{rank}", "operator": "greater", "type": "Number", "value": 0}
            ],
        },
        "ordering": [rank],
        "columnsDisplayType": {rank: "Number", f"tasks:data.{DISAGREEMENT_FIELD}": "Number"},
    }
    views = api.get("/api/dm/views/", params={"project": project_id}) or []
    for view in views:
        if (view.get("data") or {}).get("title") == VIEW_TITLE:
            api.patch(f"/api/dm/views/{view['id']}/", json={"project": project_id, "data": wanted})
            return int(view["id"])
    made = api.post("/api/dm/views/", json={"project": project_id, "data": wanted})
    return int(made["id"])


def review_table(result: dict[str, Any]):
    """A rich table of the documents set up for review."""
    from rich.table import Table

    table = Table(
        title=(
            f"{len(result['for_review'])} document(s) for review in {result['project']!r} "
            f"({result['with_two_or_more_annotators']} with two or more annotators). "
            f"Open the '{VIEW_TITLE}' tab: {result['url']}"
        ),
        title_justify="left",
    )
    for column in ("rank", "doc", "annotators", "spans", "frames", "disagreement"):
        table.add_column(column)

    def fmt(x: float | None) -> str:
        return "-" if x is None else f"{x:.2f}"

    for rank, d in enumerate(result["for_review"], 1):
        table.add_row(
            str(rank),
            d["doc_id"],
            ", ".join(d["annotators"]),
            fmt(d["spans"]),
            fmt(d["frames"]),
            fmt(d["disagreement"]),
        )
    return table
