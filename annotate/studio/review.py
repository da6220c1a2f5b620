"""Adjudication in Label Studio: show a reviewer every annotator's version of the most disputed
documents.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from annotate.formats import labelstudio as ls
from annotate.schema import FRAME_CONTROL, Schema
from annotate.studio.accounts import user_emails
from annotate.studio.api import Api, filter_query, number_filter
from annotate.studio.project import ensure_view
from annotate.studio.pull import annotated_tasks

ANNOTATOR_VERSION = "annotator:"  # prediction model_version prefix
RANK_FIELD = "review_rank"
DISAGREEMENT_FIELD = "review_disagreement"
VIEW_TITLE = "Review: disagreements"


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
    pred = ls.prediction_from_record(
        annotator_record(row, who), schema, f"{ANNOTATOR_VERSION}{who}", text=row["text"]
    )
    pred["score"] = round(float(score), 6)
    return pred


def annotated_rows(
    api: Api, project_id: int, schema: Schema
) -> tuple[dict[str, dict], list[dict[str, Any]]]:
    """(doc id -> task, for the annotated and the flagged tasks; corpus rows of the tasks
    with two or more annotators)."""
    users = user_emails(api)
    tasks: dict[str, dict] = {}
    rows: list[dict] = []
    for task in annotated_tasks(api, project_id):
        row = ls.rows_from_task(task, schema, users=users)
        tasks[row["id"]] = task
        if len(row["annotators"]) >= 2:
            rows.append(row)
    flagged = filter_query(number_filter(f"data.{RANK_FIELD}", "greater", 0))
    for task in api.tasks(project_id, fields="all", query=flagged):
        tasks.setdefault(str((task.get("data") or {}).get("doc_id")), task)
    return tasks, rows


def set_up_review(
    api: Api,
    project_id: int,
    chosen: Sequence[dict[str, Any]],
    rows: Sequence[Mapping[str, Any]],
    tasks: Mapping[str, dict],
    schema: Schema,
) -> dict[str, Any]:
    """Flag the `chosen` documents (`disagreement` dicts, most disputed first) for review.

    Returns {project_id, for_review (each with task and url), predictions, cleared, view, url}.

    `annotate pull` keeps every annotator's labels; train, evaluate and audit merge them with a
    policy (`--policy majority|union|annotator:NAME`, see `annotate.corpus`). Where annotators
    disagree (ranked by `annotate.disagreement`), a reviewer should decide instead. For each
    chosen document `set_up_review` adds each annotator's version as a prediction named
    `annotator:<email>` (Label Studio shows predictions side by side with the annotations),
    marks the task with `data.review_rank` (1 = most disputed) and `data.review_disagreement`,
    and keeps a Data Manager tab "Review: disagreements" listing exactly those tasks in rank
    order. Flags of tasks that have dropped out are cleared. Run it again after the reviewer's
    work or new annotations: predictions are replaced.
    """
    by_id = {r["id"]: r for r in rows}
    chosen = [dict(d) for d in chosen]
    predictions = []
    for rank, d in enumerate(chosen, 1):
        task = tasks[d["doc_id"]]
        _drop_annotator_predictions(api, task)
        for who in d["annotators"]:
            pred = annotator_prediction(by_id[d["doc_id"]], who, schema, 1.0 - d["disagreement"])
            ls.check_prediction(pred, schema, d["doc_id"])
            predictions.append({"task": task["id"], **pred})
        _set_flags(api, task, {RANK_FIELD: rank, DISAGREEMENT_FIELD: d["disagreement"]})
        d["task"] = task["id"]
        d["url"] = f"{api.url}/projects/{project_id}/data?task={task['id']}"
    if predictions:
        api.post(f"/api/projects/{project_id}/import/predictions", json=predictions, retry=False)
    chosen_ids = {d["doc_id"] for d in chosen}
    cleared = 0
    for doc_id, task in tasks.items():
        if doc_id not in chosen_ids and RANK_FIELD in (task.get("data") or {}):
            _drop_annotator_predictions(api, task)
            _set_flags(api, task, None)
            cleared += 1
    view = _review_view(api, project_id)
    return {
        "project_id": project_id,
        "for_review": chosen,
        "predictions": len(predictions),
        "cleared": cleared,
        "view": view,
        "url": f"{api.url}/projects/{project_id}/data?tab={view}",
    }


def _drop_annotator_predictions(api: Api, task: dict) -> None:
    for pred in task.get("predictions") or ():
        version = pred.get("model_version") or ""
        if version.startswith(ANNOTATOR_VERSION) and pred.get("id") is not None:
            api.delete(f"/api/predictions/{pred['id']}/")


def _set_flags(api: Api, task: dict, flags: dict | None) -> None:
    data = {
        k: v
        for k, v in (task.get("data") or {}).items()
        if k not in (RANK_FIELD, DISAGREEMENT_FIELD)
    }
    if flags:
        data.update(flags)
    api.patch(f"/api/tasks/{task['id']}/", json={"data": data})


def _review_view(api: Api, project_id: int) -> int:
    """The Data Manager tab listing flagged tasks, most disputed first."""
    rank = f"tasks:data.{RANK_FIELD}"
    return ensure_view(
        api,
        project_id,
        VIEW_TITLE,
        {
            "filters": filter_query(number_filter(f"data.{RANK_FIELD}", "greater", 0))["filters"],
            "ordering": [rank],
            "columnsDisplayType": {rank: "Number", f"tasks:data.{DISAGREEMENT_FIELD}": "Number"},
        },
    )
