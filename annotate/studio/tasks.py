"""Documents into a project as tasks (with their pre-annotations), predictions onto existing
tasks, and the clean-up of duplicate tasks that concurrent pushes make.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from annotate.documents import Document
from annotate.errors import BadInput, StudioError
from annotate.formats import labelstudio as ls
from annotate.schema import Schema, load_schema
from annotate.studio import api as studio_api
from annotate.studio.api import Api, connect, filter_query, number_filter
from annotate.studio.project import DEFAULT_TITLE, open_project
from annotate.ui import progress

log = logging.getLogger("annotate")

Mark = tuple[int, int]  # (number of tasks, highest task id) of a project


def batches(items: Iterable, size: int) -> Iterator[list]:
    """`items` in lists of `size` (the last one shorter)."""
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def task_mark(api: Api, project_id: int) -> Mark:
    """(number of tasks, highest task id) of a project: one cheap request."""
    items, total = api.task_page(
        project_id, 1, page_size=1, query=filter_query(ordering=["-tasks:id"])
    )
    return int(total if total is not None else len(items)), int(items[0]["id"]) if items else 0


def existing_tasks(
    api: Api, project_id: int, *, with_text: bool = False, above: int = 0
) -> dict[str, dict]:
    """doc_id -> {id} (and `text` with `with_text`) of the project's tasks (with id > `above`);
    the lowest task id when a document has several."""
    query = filter_query(number_filter("id", "greater", above)) if above else None
    found: dict[str, dict] = {}
    for task in api.tasks(project_id, page_size=1000, query=query):
        data = task.get("data") or {}
        doc_id = data.get("doc_id")
        if doc_id is not None and str(doc_id) not in found:
            entry = {"id": task["id"]}
            if with_text:
                entry["text"] = data.get("text")
            found[str(doc_id)] = entry
    return found


def snapshot(api: Api, project_id: int) -> tuple[Mark, dict[str, dict]]:
    """The project's mark, then its tasks by document id (an empty project is not listed:
    a listing costs the server ~10 ms a task). The mark comes first: see `remove_duplicates`."""
    mark = task_mark(api, project_id)
    return mark, existing_tasks(api, project_id) if mark[0] else {}


def untouched(task: Mapping[str, Any]) -> bool:
    """No annotation, no skip, no draft: deleting the task loses nobody's work."""
    return not (
        task.get("total_annotations") or task.get("cancelled_annotations") or task.get("drafts")
    )


def remove_duplicates(
    api: Api, project_id: int, mark: Mark, existing: Mapping[str, dict], added: int
) -> int:
    """After an import, delete the extra tasks that concurrent pushes made for one document.

    Label Studio has no uniqueness constraint on task data, and a lock cannot be shared with
    every client of a team server (a file lock only covers one machine). So two pushes
    that list the project before either imports both import the same documents. Each push
    therefore reconciles after importing: `mark` = (task count, highest task id) taken
    before it listed the project. If the count grew by exactly what this push added, nobody
    else imported meanwhile and nothing is listed. Otherwise the tasks above the mark
    (everything created since, by anyone) are listed and, per document id, the lowest task
    id (the lowest annotated one, if any) is kept; the others are deleted when they carry
    no annotation, skip or draft. Every push applies the same rule, so two pushes agree on
    which task stays, and the one that finishes last sees every duplicate (a duplicate of
    a document is always created above the mark of the push that created it).
    Returns the number of tasks deleted.
    """
    total_before, highest = mark
    if task_mark(api, project_id)[0] == total_before + added:
        return 0
    groups: dict[str, dict[int, dict]] = {}
    for doc_id, task in existing.items():
        groups.setdefault(doc_id, {})[task["id"]] = {**task, "old": task["id"] <= highest}
    above = filter_query(number_filter("id", "greater", highest))
    for task in api.tasks(project_id, page_size=500, query=above):
        doc_id = (task.get("data") or {}).get("doc_id")
        if doc_id is not None:
            groups.setdefault(str(doc_id), {})[task["id"]] = task
    removed = 0
    for tasks in groups.values():
        if len(tasks) < 2:
            continue
        annotated = [i for i, t in tasks.items() if not untouched(t) or t.get("old")]
        keep = min(annotated or tasks)
        for task_id, task in sorted(tasks.items()):
            if task_id == keep or task.get("old") or not untouched(task):
                continue
            try:
                api.delete(f"/api/tasks/{task_id}/")
            except StudioError as exc:
                if "HTTP 404" not in str(exc):  # already deleted by the other push
                    raise
                continue
            removed += 1
    if removed:
        log.info("removed %d duplicate task(s) made by concurrent pushes", removed)
    return removed


def import_batch(api: Api, project_id: int, batch: list[dict], since: int = 0) -> tuple[int, int]:
    """Import one batch: (tasks, predictions) made. After a failed request, re-import only
    the documents that did not arrive (tasks above id `since` are checked)."""
    delay = 2.0
    for attempt in range(1, studio_api.RETRIES + 1):
        try:
            body = api.post(
                f"/api/projects/{project_id}/import",
                json=batch,
                params={"commit_to_project": "true"},
                retry=False,
            )
            if not isinstance(body, dict):  # cut off mid-answer: did the tasks arrive?
                raise StudioError(f"import answered {str(body)[:100]!r}, not a summary")
            return int(body.get("task_count", len(batch))), int(body.get("prediction_count", 0))
        except StudioError as exc:
            if attempt == studio_api.RETRIES or "HTTP 4" in str(exc):
                raise
            log.info("import failed (%s); checking what arrived, retrying in %.0f s", exc, delay)
            time.sleep(delay)
            delay *= 2
            try:
                there = existing_tasks(api, project_id, above=since)
            except StudioError:
                continue
            batch = [t for t in batch if t["data"]["doc_id"] not in there]
            if not batch:
                return 0, 0
    return 0, 0


class _Sender:
    """Runs `send(batch)` in a background thread, a few batches queued at most, so the next
    batch is built (scored) while the server imports this one. Errors reach the caller."""

    def __init__(self, send: Callable[[list], None], depth: int = 2):
        self.send = send
        self.queue: queue.Queue = queue.Queue(depth)
        self.error: BaseException | None = None
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (batch := self.queue.get()) is not None:
            if self.error is None and not self.stopped:
                try:
                    self.send(batch)
                except BaseException as exc:  # handed to the caller
                    self.error = exc

    def put(self, batch: list) -> None:
        while True:
            if self.error is not None:
                raise self.error
            try:
                self.queue.put(batch, timeout=0.5)
                return
            except queue.Full:
                continue

    def close(self) -> None:
        """Wait until every batch is sent; raise the first error."""
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error

    def abandon(self) -> None:
        """Send nothing more (the caller failed); the batch in flight finishes."""
        self.stopped = True
        try:
            self.queue.put_nowait(None)
        except queue.Full:
            pass


def push_tasks(
    api: Api,
    project_id: int,
    pairs: Iterable[tuple[Document, Mapping[str, Any]]],
    schema: Schema,
    *,
    model_version: str,
    batch_size: int = 500,
    scores: Mapping[str, float] | None = None,
    state: tuple[Mark, dict[str, dict]] | None = None,
    total: int | None = None,
) -> dict[str, Any]:
    """Import (document, score record) pairs as tasks, each with its record as a prediction;
    documents that already have a task are left alone.

    `scores`: doc id -> prediction score to set (active learning: 1 - uncertainty); such a
    task keeps its prediction even when it has no region. `state`: `snapshot()` taken
    before the pairs were chosen (taken here otherwise). `total`: documents expected to be
    new (for the progress bar). Returns {project_id, url, documents, new, already,
    predictions, duplicates_removed, model_version}.

    Tasks are keyed by document id (`data.doc_id`): pushing the same documents again adds
    nothing, and an interrupted push can simply be run again. Tasks go out batch by batch from a
    background thread while the next batch is built, so memory holds a few batches, not the run.
    """
    if batch_size < 1:
        raise BadInput("--batch-size must be at least 1")
    scores = scores or {}
    mark, existing = state if state is not None else snapshot(api, project_id)
    summary: dict[str, Any] = {
        "project_id": project_id,
        "url": f"{api.url}/projects/{project_id}",
        "documents": 0,
        "new": 0,
        "already": 0,
        "predictions": 0,
        "duplicates_removed": 0,
        "model_version": model_version,
    }

    def new_tasks() -> Iterator[dict]:
        for doc, record in pairs:
            if str(record["id"]) != doc.id:
                raise StudioError(f"score record {record['id']!r} is not document {doc.id!r}")
            summary["documents"] += 1
            if doc.id in existing:
                summary["already"] += 1
                continue
            task = ls.task_from_document(doc)
            pred = ls.prediction_from_record(record, schema, model_version, text=doc.text)
            if doc.id in scores:
                pred["score"] = scores[doc.id]
            ls.check_prediction(pred, schema, doc.id)
            if pred["result"] or doc.id in scores:  # a chosen task keeps its score
                task["predictions"] = [pred]
            yield task

    with progress("push", total) as advance:

        def send(batch: list[dict]) -> None:
            made, preds = import_batch(api, project_id, batch, since=mark[1])
            summary["new"] += made
            summary["predictions"] += preds
            advance(len(batch))

        sender = _Sender(send)
        try:
            for batch in batches(new_tasks(), batch_size):
                sender.put(batch)
        except BaseException:
            sender.abandon()
            raise
        sender.close()
    if summary["new"]:
        summary["duplicates_removed"] = remove_duplicates(
            api, project_id, mark, existing, summary["new"]
        )
    return summary


def push_predictions(
    api: Api,
    project_id: int,
    records: Iterable[Mapping[str, Any]],
    schema: Schema,
    *,
    model_version: str,
    batch_size: int = 500,
) -> dict[str, Any]:
    """Attach score records (CONTRACTS.md section 6) as predictions to the matching tasks.

    Tasks are matched by document id; records without a task are counted as `missing`;
    a task that already has a prediction of `model_version` is left alone (`already`).
    Records are consumed as a stream, `batch_size` predictions per request.
    Returns {project_id, pushed, already, missing}.
    """
    tasks = existing_tasks(api, project_id, with_text=True)
    have = {
        p["task"]
        for p in (api.get("/api/predictions/", params={"project": project_id}) or [])
        if p.get("model_version") == model_version
    }
    counts = {"project_id": project_id, "pushed": 0, "already": 0, "missing": 0}

    def predictions() -> Iterator[dict]:
        for record in records:
            task = tasks.get(str(record["id"]))
            if task is None:
                counts["missing"] += 1
                continue
            if task["id"] in have:
                counts["already"] += 1
                continue
            text = task["text"] or ""
            for s in record.get("spans") or ():
                if text[s["start"] : s["end"]] != s["text"]:
                    raise BadInput(
                        f"span {s['start']}-{s['end']} {s['text'][:40]!r} does not match the "
                        f"text of task {task['id']} in Label Studio",
                        "score records",
                        f"document {record['id']!r}",
                    )
            pred = ls.prediction_from_record(record, schema, model_version, text=text)
            ls.check_prediction(pred, schema, str(record["id"]))
            have.add(task["id"])
            yield {"task": task["id"], **pred}

    for batch in batches(predictions(), batch_size):
        api.post(f"/api/projects/{project_id}/import/predictions", json=batch, retry=False)
        counts["pushed"] += len(batch)
    return counts


def push_score_records(
    records: Iterable[Mapping[str, Any]],
    *,
    project: str = DEFAULT_TITLE,
    model_version: str,
    batch_size: int = 500,
) -> dict[str, Any]:
    """`push_predictions` to the project titled `project` on the server `connect()` finds.

    Returns {project, project_id, pushed, already, missing}."""
    schema = load_schema()
    api, _ = connect()
    proj = open_project(api, project, schema)
    counts = push_predictions(
        api, proj["id"], records, schema, model_version=model_version, batch_size=batch_size
    )
    return {"project": project, **counts}
