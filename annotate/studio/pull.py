"""`annotate pull`: the project's annotated tasks (every annotator) into a corpus directory,
asking the server only for tasks that carry an annotation."""

from __future__ import annotations

import codecs
import json
import logging
import queue
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from annotate.corpus import write_corpus
from annotate.errors import BadInput, StudioError
from annotate.formats import labelstudio as ls
from annotate.schema import load_schema
from annotate.studio.accounts import user_emails
from annotate.studio.api import Api, connect, filter_query, number_filter
from annotate.studio.project import DEFAULT_TITLE, open_project
from annotate.ui import progress

log = logging.getLogger("annotate")

PAGE_SIZE = 200  # tasks per request (with annotations and predictions: ~1 MB at 5 KB a text)
AHEAD = 3  # pages fetched ahead of the conversion


SUBMITTED = (number_filter("total_annotations", "greater", 0),)
SKIPPED_ONLY = (
    number_filter("total_annotations", "equal", 0),
    number_filter("cancelled_annotations", "greater", 0),
)
# what a snapshot holds: tasks with a submitted annotation, every annotation of theirs
SNAPSHOT = {
    "task_filter_options": {"annotated": "only"},
    "annotation_filter_options": {"usual": True, "ground_truth": True, "skipped": True},
    "serialization_options": {"drafts": {"only_id": True}, "predictions": {"only_id": True}},
}


def annotated_tasks(
    api: Api, project_id: int, *, page_size: int = PAGE_SIZE, skipped_only: bool = False
) -> Iterator[dict]:
    """Every task with a submitted annotation, then those only skipped, each in id order,
    with annotations and predictions (the Data Manager list, `fields=all`). With
    `skipped_only`, only the latter."""
    for conditions in (SKIPPED_ONLY,) if skipped_only else (SUBMITTED, SKIPPED_ONLY):
        last = 0
        while True:
            query = filter_query(
                *conditions, number_filter("id", "greater", last), ordering=["tasks:id"]
            )
            items, _ = api.task_page(project_id, 1, fields="all", page_size=page_size, query=query)
            yield from items
            if len(items) < page_size:
                break
            last = max(int(t["id"]) for t in items)


def json_array_items(chunks: Iterable[bytes]) -> Iterator[Any]:
    """The items of a JSON array arriving in chunks of UTF-8, one by one (memory: a chunk and
    an item)."""
    decoder = json.JSONDecoder()
    text = codecs.getincrementaldecoder("utf-8")()
    buf, pos, started = "", 0, False
    for chunk in chunks:
        buf = buf[pos:] + text.decode(chunk)
        pos = 0
        while True:
            while pos < len(buf) and buf[pos] in " \t\r\n,":
                if buf[pos] == "," and not started:
                    raise StudioError("the export is not a JSON array")
                pos += 1
            if pos >= len(buf):
                break
            if not started:
                if buf[pos] != "[":
                    raise StudioError("the export is not a JSON array")
                started, pos = True, pos + 1
                continue
            if buf[pos] == "]":
                return
            try:
                item, pos = decoder.raw_decode(buf, pos)
            except json.JSONDecodeError:
                break  # the item goes on in the next chunk
            yield item
    raise StudioError("the export broke off before its end")


def exported_tasks(api: Api, project_id: int) -> Iterator[dict]:
    """Every task with a submitted annotation (an export snapshot, downloaded as it is
    parsed), then those only skipped (the filtered task list); tasks with annotations.
    Falls back on `annotated_tasks` where the server refuses snapshots (HTTP 403, 404)."""
    base = f"/api/projects/{project_id}/exports"
    try:
        made = api.post(f"{base}/", json=SNAPSHOT)
    except StudioError as exc:
        if "HTTP 403" not in str(exc) and "HTTP 404" not in str(exc):
            raise
        log.info("no export snapshot (%s): listing annotated tasks instead", exc)
        yield from annotated_tasks(api, project_id)
        return
    try:
        status = made.get("status")
        while status in ("created", "in_progress", "queued"):  # a server with a job queue
            time.sleep(1.0)
            status = api.get(f"{base}/{made['id']}").get("status")
        if status == "failed":
            raise StudioError(f"Label Studio failed to export project {project_id}")
        chunks = api.stream(f"{base}/{made['id']}/download", params={"exportType": "JSON"})
        yield from json_array_items(chunks)
    finally:
        try:
            api.delete(f"{base}/{made['id']}", retry=False)
        except StudioError as exc:  # the server died: nothing to clean up then
            log.info("could not delete export snapshot %s (%s)", made.get("id"), exc)
    yield from annotated_tasks(api, project_id, skipped_only=True)


def fetched_ahead(items: Iterator[dict], depth: int = AHEAD * PAGE_SIZE) -> Iterator[dict]:
    """`items`, produced by a background thread (started at once) up to `depth` ahead of the
    consumer; an error there is raised here, and a consumer that stops early stops the thread."""
    done = object()
    box: queue.Queue = queue.Queue(depth)
    stop = threading.Event()
    failure: list[BaseException] = []

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                box.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as exc:  # handed to the consumer
            failure.append(exc)
        put(done)

    def consume() -> Iterator[dict]:
        try:
            while (item := box.get()) is not done:
                yield item
            if failure:
                raise failure[0]
        finally:
            stop.set()

    threading.Thread(target=produce, daemon=True).start()
    return consume()


def pull_corpus(out_dir: str | Path, *, project: str = DEFAULT_TITLE) -> dict[str, Any]:
    """Export every task with a submitted annotation (all annotators) into a corpus.

    Tasks that hold the same document become one row with all their annotations. Returns
    {out, project, project_id, tasks (in the project), annotated_tasks, documents,
    annotations, skipped, annotators, spans, doc_labels}.

    Only tasks that carry an annotation are asked for, so a pull costs in proportion to what was
    annotated, not to the size of the project. They come from an export snapshot (Label
    Studio's export API: the server writes the tasks with a submitted annotation to a file,
    predictions and drafts as ids only, which the pull downloads and parses as it arrives, then
    deletes); tasks that were only skipped come from the Data Manager task list filtered on the
    task's counters. On a server that refuses snapshots, the filtered task list serves for all
    (`annotated_tasks`: pages keyed by task id, fetched ahead in a thread). The snapshot was
    measured 2-3 times faster per task than the filtered list (README, "Label Studio round
    trip"). Rows go to a temporary file as they arrive; memory holds document id -> where its
    rows are, so it stays flat in the size of the project.
    """
    schema = load_schema()
    api, url = connect()
    proj = open_project(api, project, schema)
    pid = proj["id"]
    users = user_emails(api)
    counts: Counter = Counter()
    # rows go to a temporary file as they arrive; memory holds doc id -> where its rows are
    places: dict[str, list[tuple[int, int]]] = {}
    with tempfile.TemporaryFile(prefix="annotate-pull-") as spool:
        tasks = fetched_ahead(exported_tasks(api, pid))  # the server starts on the snapshot
        import datasets.arrow_writer  # noqa: F401 - write_corpus's, loaded while the server works

        with progress(f"pull from {project!r}", proj.get("num_tasks_with_annotations")) as advance:
            for task in tasks:
                counts["annotated_tasks"] += 1
                row = ls.rows_from_task(task, schema, users=users, counts=counts)
                advance(1)
                if not row["annotators"]:
                    continue
                data = json.dumps(row, ensure_ascii=False).encode("utf-8")
                places.setdefault(row["id"], []).append((spool.tell(), len(data)))
                spool.write(data)
        tasks_in_project = int(proj.get("task_number") or counts["annotated_tasks"])
        if not places:
            raise StudioError(
                f"project {project!r} has no submitted annotation yet ({tasks_in_project} "
                f"task(s), {counts['skipped']} skipped): nothing to pull, {out_dir} left as it was"
            )

        def read(place: tuple[int, int]) -> dict:
            spool.seek(place[0])
            return json.loads(spool.read(place[1]))

        def rows() -> Iterator[dict]:
            """One row per document, in first-seen order; the same document in several
            tasks: one row holding all their annotations."""
            for doc_id, where in places.items():
                first = read(where[0])
                for place in where[1:]:
                    row = read(place)
                    if first["text"] != row["text"]:
                        raise BadInput(
                            f"two tasks hold different texts for document {doc_id!r}",
                            f"Label Studio project {project!r}",
                        )
                    for key in ("spans", "doc_labels", "annotators", "annotated"):
                        first[key] = first[key] + row[key]
                    first["annotators"] = sorted(set(first["annotators"]))
                    first["annotated"] = sorted(set(first["annotated"]))
                yield first

        spool.flush()
        info = write_corpus(
            rows(),
            out_dir,
            source={"label_studio": url, "project": project, "project_id": pid},
            schema=schema,
            where=f"Label Studio project {project!r}",
        )
    return {
        "out": str(out_dir),
        "project": project,
        "project_id": pid,
        "tasks": tasks_in_project,
        "annotated_tasks": counts["annotated_tasks"],
        "documents": info["counts"]["documents"],
        "annotations": counts["submitted"],
        "skipped": counts["skipped"],
        "annotators": info["counts"]["annotators"],
        "spans": info["counts"]["spans"],
        "doc_labels": info["counts"]["doc_labels"],
    }


def pull_summary(s: dict[str, Any]) -> str:
    """`pull_corpus`'s result in a sentence (what `annotate pull` prints)."""
    return (
        f"wrote {s['out']}: {s['documents']} annotated document(s) of {s['tasks']} task(s), "
        f"{s['annotations']} annotation(s) by {len(s['annotators'])} annotator(s) "
        f"({s['skipped']} skipped left out), {s['spans']} span(s), "
        f"{s['doc_labels']} frame label(s)"
    )
