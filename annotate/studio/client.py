"""Talk to Label Studio: push documents as tasks (with pre-annotations), pull annotations.

Connection: `LABEL_STUDIO_URL` + `LABEL_STUDIO_API_KEY` when set (a team server), else the
local server that `annotate studio start` runs (its `credentials.json`). Every request has
a timeout and is retried with backoff when the server cannot be reached or is busy;
failures end in `StudioError` with a message saying what to do.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import requests

from annotate.errors import StudioError

log = logging.getLogger("annotate")

CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = float(os.environ.get("ANNOTATE_STUDIO_TIMEOUT", "600"))
RETRIES = 4
RETRY_STATUS = {429, 502, 503, 504}


class Api:
    """A small Label Studio REST client: JSON in and out, timeouts, retries with backoff."""

    def __init__(self, url: str, api_key: str):
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.session = requests.Session()
        self.session.headers.update(
            {"Authorization": f"Token {api_key}", "Accept": "application/json"}
        )
        self._sdk = None

    @property
    def sdk(self):
        """The label-studio-sdk client for the same server."""
        if self._sdk is None:
            from label_studio_sdk import LabelStudio

            self._sdk = LabelStudio(base_url=self.url, api_key=self.api_key, timeout=READ_TIMEOUT)
        return self._sdk

    def request(self, method: str, path: str, *, retry: bool = True, **kwargs) -> Any:
        url = path if path.startswith("http") else f"{self.url}{path}"
        kwargs.setdefault("timeout", (CONNECT_TIMEOUT, READ_TIMEOUT))
        idempotent = method.upper() in ("GET", "PUT", "DELETE", "PATCH", "HEAD")
        attempts = RETRIES if retry else 1
        delay = 1.0
        for attempt in range(1, attempts + 1):
            try:
                r = self.session.request(method, url, **kwargs)
            except requests.ConnectionError as exc:
                # refused or reset: a POST may have reached the server only if the
                # connection broke mid-way; callers that care (imports) re-check state.
                problem = f"cannot reach Label Studio at {self.url} ({_short(exc)})"
            except requests.Timeout:
                problem = f"Label Studio at {self.url} did not answer in time"
                if not idempotent:
                    raise StudioError(f"{method} {path}: {problem}") from None
            else:
                if r.status_code in RETRY_STATUS:
                    problem = f"Label Studio is busy (HTTP {r.status_code})"
                elif r.status_code == 500 and method.upper() == "GET":
                    # a task listing that races another client's deletes can fail with 500;
                    # a read is safe to repeat
                    problem = f"Label Studio failed a read (HTTP 500: {r.text[:200]})"
                elif r.status_code == 401:
                    raise StudioError(
                        f"Label Studio at {self.url} refused the API key (HTTP 401): check "
                        "LABEL_STUDIO_API_KEY or the data dir's credentials.json"
                    )
                elif r.status_code >= 400:
                    raise StudioError(
                        f"{method} {path} failed: HTTP {r.status_code}: {r.text[:500]}"
                    )
                else:
                    if not r.content:
                        return None
                    try:
                        return r.json()
                    except ValueError:
                        return r.text
            if attempt == attempts:
                break
            log.info("%s; retrying in %.0f s", problem, delay)
            time.sleep(delay)
            delay *= 2
        raise StudioError(
            f"{problem} (after {attempts} attempts). Is the server running? "
            "Try `annotate studio status`."
        )

    def get(self, path: str, **kwargs) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> Any:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs) -> Any:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs) -> Any:
        return self.request("DELETE", path, **kwargs)

    def pages(self, path: str, params: dict | None = None, page_size: int = 100) -> Iterator[dict]:
        """Items of a paginated list endpoint, page by page."""
        page = 1
        while True:
            body = self.get(path, params={**(params or {}), "page": page, "page_size": page_size})
            if isinstance(body, list):  # some endpoints are not paginated
                yield from body
                return
            items = body.get("results", body.get("tasks", []))
            yield from items
            if not body.get("next") or not items:
                return
            page += 1

    def tasks(
        self,
        project_id: int,
        *,
        fields: str = "task_only",
        page_size: int = 500,
        query: dict | None = None,
    ):
        """Every task of a project, page by page (the tasks list has no `next` link).

        `query`: a Data Manager query (filters, ordering), e.g. only tasks above an id.
        """
        page, seen = 1, 0
        while True:
            params = {
                "project": project_id,
                "page": page,
                "page_size": page_size,
                "resolve_uri": "false",
            }
            if fields == "all":
                params["fields"] = "all"
            if query:
                params["query"] = json.dumps(query)
            try:
                body = self.get("/api/tasks/", params=params)
            except StudioError as exc:
                if "HTTP 404" in str(exc) and page > 1:  # past the last page
                    return
                raise
            items = body.get("tasks", body.get("results", [])) if isinstance(body, dict) else body
            yield from items
            seen += len(items)
            total = body.get("total") if isinstance(body, dict) else None
            if not items or len(items) < page_size or (total is not None and seen >= total):
                return
            page += 1

    def find_project(self, title: str) -> dict | None:
        """The project with exactly this title (the lowest id if several)."""
        matches = [p for p in self.pages("/api/projects/", {"title": title}) if p["title"] == title]
        return min(matches, key=lambda p: p["id"]) if matches else None


def _short(exc: Exception) -> str:
    text = str(exc)
    if "Connection refused" in text:
        return "connection refused"
    return text[:200]


def connect(data_dir: str | Path | None = None) -> tuple[Api, str]:
    """(api, url) for the team server named by the environment, else the local one."""
    from annotate.studio import server

    team = server.remote()
    if team:
        url, key = team
        return Api(url, key), url
    data_dir = Path(data_dir or os.environ.get("ANNOTATE_STUDIO_DIR", ".studio"))
    creds_path = data_dir / server.CREDENTIALS
    creds = server._read_json(creds_path)
    if not creds or not creds.get("url") or not creds.get("api_key"):
        raise StudioError(
            f"no Label Studio to talk to: run `annotate studio start` (no {creds_path}), "
            "or set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY"
        )
    return Api(creds["url"], creds["api_key"]), creds["url"]


def _progress(total: int | None, description: str):
    """A rich progress bar on a terminal, else a do-nothing stand-in."""
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        return bar, bar.add_task(description, total=total)
    return None, None


def _batches(items: Iterable, size: int) -> Iterator[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# ---- push ----------------------------------------------------------------------------------


def _project(api: Api, title: str, schema, *, create: bool) -> dict:
    from annotate.studio import server

    found = api.find_project(title)
    if found is not None:
        return found
    if not create:
        raise StudioError(f"Label Studio has no project titled {title!r} (see --project)")
    made = server.sync_project(api, title, schema)
    first = api.find_project(title)
    if first is not None and first["id"] != made["id"]:  # another push created it meanwhile
        api.delete(f"/api/projects/{made['id']}/")  # ours is empty: the lowest id stays
        return first
    return api.get(f"/api/projects/{made['id']}/")


def existing_tasks(api: Api, project_id: int) -> dict[str, dict]:
    """doc_id -> {id, text} of the tasks already in the project."""
    found: dict[str, dict] = {}
    for task in api.tasks(project_id, page_size=1000):
        data = task.get("data") or {}
        doc_id = data.get("doc_id")
        if doc_id is not None:
            found.setdefault(str(doc_id), {"id": task["id"], "text": data.get("text")})
    return found


def push_documents(
    paths: Iterable[str | Path],
    *,
    project: str,
    model: str | Path | Any = None,
    batch_size: int = 500,
    select: int | None = None,
) -> dict[str, Any]:
    """Import documents as tasks with pre-annotations; documents already there are left alone.

    With `select` (and a model), only the `select` documents of the pool the model is least
    sure about are pushed (`annotate.active.select_documents`), their prediction scores set to
    1 - uncertainty, and the project switched to Label Studio's uncertainty sampling.

    Tasks are keyed by document id: pushing the same documents again adds nothing, and an
    interrupted push can simply be run again. Every new task carries one prediction: the
    repeated-passage detector's spans (and with `model`, the model's spans and frames).
    """
    from annotate import repeats
    from annotate.documents import read_documents
    from annotate.formats import labelstudio as ls
    from annotate.schema import load_schema
    from annotate.scoring import score_documents

    if batch_size < 1:
        raise StudioError("--batch-size must be at least 1")
    schema = load_schema()
    docs = read_documents(paths)  # bad input fails here, before anything is sent
    loaded = None
    if model is not None:
        if hasattr(model, "predict"):
            loaded = model
        else:
            from annotate.learn.model import Model

            loaded = Model.load(model)
    version = getattr(loaded, "model_version", None) or repeats.MODEL_VERSION
    selected_scores: dict[str, float] = {}
    if select is not None and loaded is None:
        from annotate.errors import BadInput

        raise BadInput("--select needs --model: uncertainty comes from a trained model")

    api, url = connect()
    proj = _project(api, project, schema, create=True)
    pid = proj["id"]
    mark = task_mark(api, pid)  # before the listing: see `remove_duplicates`
    # an empty project needs no listing (listing costs the server ~10 ms a task)
    existing = existing_tasks(api, pid) if mark[0] else {}
    if select is not None:  # choose among the documents not yet in the project
        from annotate.active import select_documents

        pool = [d for d in docs if d.id not in existing]
        docs, selected_scores = select_documents(pool, loaded, select)
    new_ids = {d.id for d in docs if d.id not in existing}
    summary = {
        "project": project,
        "project_id": pid,
        "url": f"{url}/projects/{pid}",
        "documents": len(docs),
        "new": 0,
        "already": len(docs) - len(new_ids),
        "predictions": 0,
        "duplicates_removed": 0,
        "model_version": version,
    }
    if not new_ids:
        return summary

    interface = schema.interface()
    by_id = {d.id: d for d in docs}

    def tasks() -> Iterator[dict]:
        # repeats are found among all documents of the run, new or not
        for record in score_documents(docs, loaded):
            doc = by_id[record["id"]]
            if doc.id not in new_ids:
                continue
            task = ls.task_from_document(doc)
            pred = ls.prediction_from_record(record, schema, version, text=doc.text)
            if doc.id in selected_scores:
                pred["score"] = selected_scores[doc.id]
            errors = interface.validate_prediction(pred, return_errors=True)
            if errors:
                raise StudioError(
                    f"prediction for {doc.id!r} does not fit the label config: {errors[:3]}"
                )
            if pred["result"] or doc.id in selected_scores:  # a chosen task keeps its score
                task["predictions"] = [pred]
            yield task

    bar, bar_task = _progress(len(new_ids), f"push to {project!r}")
    try:
        if bar:
            bar.start()
        for batch in _batches(tasks(), batch_size):
            added, preds = _import_batch(api, pid, batch)
            summary["new"] += added
            summary["predictions"] += preds
            if bar:
                bar.advance(bar_task, len(batch))
    finally:
        if bar:
            bar.stop()
    summary["duplicates_removed"] = remove_duplicates(api, pid, mark, existing, summary["new"])
    if select is not None:
        # Label Studio serves the lowest-scored predictions of project.model_version first
        from annotate.active import UNCERTAINTY_SAMPLING

        api.patch(
            f"/api/projects/{pid}/",
            json={"sampling": UNCERTAINTY_SAMPLING, "model_version": version},
        )
        summary["selected"] = len(docs)
    return summary


def task_mark(api: Api, project_id: int) -> tuple[int, int]:
    """(number of tasks, highest task id) of a project: one cheap request."""
    body = api.get(
        "/api/tasks/",
        params={
            "project": project_id,
            "page_size": 1,
            "resolve_uri": "false",
            "query": json.dumps({"ordering": ["-tasks:id"]}),
        },
    )
    items = body.get("tasks", []) if isinstance(body, dict) else body
    total = body.get("total", len(items)) if isinstance(body, dict) else len(items)
    return int(total or 0), int(items[0]["id"]) if items else 0


def _untouched(task: dict) -> bool:
    """No annotation, no skip, no draft: deleting the task loses nobody's work."""
    return not (
        task.get("total_annotations") or task.get("cancelled_annotations") or task.get("drafts")
    )


def remove_duplicates(
    api: Api, project_id: int, mark: tuple[int, int], existing: dict[str, dict], added: int
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
    above = {
        "filters": {
            "conjunction": "and",
            "items": [
                {
                    "filter": "filter:tasks:id",
                    "operator": "greater",
                    "type": "Number",
                    "value": highest,
                }
            ],
        }
    }
    groups: dict[str, dict[int, dict]] = {}
    for doc_id, task in existing.items():
        groups.setdefault(doc_id, {})[task["id"]] = {**task, "old": task["id"] <= highest}
    for task in api.tasks(project_id, page_size=500, query=above):
        doc_id = (task.get("data") or {}).get("doc_id")
        if doc_id is not None:
            groups.setdefault(str(doc_id), {})[task["id"]] = task
    removed = 0
    for tasks in groups.values():
        if len(tasks) < 2:
            continue
        annotated = [i for i, t in tasks.items() if not _untouched(t) or t.get("old")]
        keep = min(annotated or tasks)
        for task_id, task in sorted(tasks.items()):
            if task_id == keep or task.get("old") or not _untouched(task):
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


def _import_batch(api: Api, project_id: int, batch: list[dict]) -> tuple[int, int]:
    """Import one batch; after a failed request, re-import only what did not arrive."""
    delay = 2.0
    for attempt in range(1, RETRIES + 1):
        try:
            body = api.post(
                f"/api/projects/{project_id}/import",
                json=batch,
                params={"commit_to_project": "true"},
                retry=False,
            )
            return int(body.get("task_count", len(batch))), int(body.get("prediction_count", 0))
        except StudioError as exc:
            if attempt == RETRIES or "HTTP 4" in str(exc):
                raise
            log.info("import failed (%s); checking what arrived, retrying in %.0f s", exc, delay)
            time.sleep(delay)
            delay *= 2
            try:
                there = existing_tasks(api, project_id)
            except StudioError:
                continue
            batch = [t for t in batch if t["data"]["doc_id"] not in there]
            if not batch:
                return 0, 0
    return 0, 0


def push(
    paths: Iterable[str | Path],
    *,
    project: str,
    model: str | Path | None = None,
    batch_size: int = 500,
    select: int | None = None,
) -> str:
    """`annotate push`: see `push_documents`; returns a one-paragraph summary."""
    s = push_documents(paths, project=project, model=model, batch_size=batch_size, select=select)
    return (
        f"project {s['project']!r}: {s['new']} new task(s), {s['already']} already there "
        f"({s['documents']} document(s) read); {s['predictions']} pre-annotation(s) "
        f"({s['model_version']}). Open {s['url']}"
    ) + (
        f" ({s['duplicates_removed']} duplicate task(s) of a concurrent push removed)"
        if s.get("duplicates_removed")
        else ""
    )


# ---- predictions for existing tasks ------------------------------------------------------------


def push_predictions(
    records: Iterable[dict],
    *,
    project: str = "Propaganda and framing",
    model_version: str,
    batch_size: int = 500,
) -> dict[str, Any]:
    """Attach score records (CONTRACTS.md section 6) as predictions to the matching tasks.

    Tasks are matched by document id; records without a task are counted as `missing`;
    a task that already has a prediction of `model_version` is left alone (`already`).
    Records are consumed as a stream, `batch_size` predictions per request.
    """
    from annotate.errors import BadInput
    from annotate.formats import labelstudio as ls
    from annotate.schema import load_schema

    schema = load_schema()
    interface = schema.interface()
    api, url = connect()
    proj = _project(api, project, schema, create=False)
    pid = proj["id"]
    tasks = existing_tasks(api, pid)
    have = {
        p["task"]
        for p in (api.get("/api/predictions/", params={"project": pid}) or [])
        if p.get("model_version") == model_version
    }
    counts = {"project": project, "pushed": 0, "already": 0, "missing": 0}

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
            errors = interface.validate_prediction(pred, return_errors=True)
            if errors:
                raise BadInput(
                    f"prediction does not fit the label config: {errors[:3]}",
                    "score records",
                    f"document {record['id']!r}",
                )
            have.add(task["id"])
            yield {"task": task["id"], **pred}

    for batch in _batches(predictions(), batch_size):
        api.post(f"/api/projects/{pid}/import/predictions", json=batch, retry=False)
        counts["pushed"] += len(batch)
    return counts


# ---- pull ---------------------------------------------------------------------------------------


def _users(api: Api) -> dict[int, str]:
    try:
        body = api.get("/api/users/")
    except StudioError as exc:  # not allowed to list users: fall back to names on annotations
        log.info("cannot list users (%s)", exc)
        return {}
    items = body.get("results", []) if isinstance(body, dict) else body
    return {u["id"]: u.get("email") or u.get("username") or f"user{u['id']}" for u in items}


def pull_corpus(out_dir: str | Path, *, project: str) -> dict[str, Any]:
    """Export every task with a submitted annotation (all annotators) into a corpus."""
    from collections import Counter

    from annotate.corpus import write_corpus
    from annotate.errors import BadInput
    from annotate.formats import labelstudio as ls
    from annotate.schema import load_schema

    if not sys.stderr.isatty():
        from datasets.utils.logging import disable_progress_bar

        disable_progress_bar()
    schema = load_schema()
    api, url = connect()
    proj = _project(api, project, schema, create=False)
    pid = proj["id"]
    users = _users(api)
    counts: Counter = Counter()
    # rows go to a temporary file as they arrive; memory holds doc id -> where its rows are
    places: dict[str, list[tuple[int, int]]] = {}
    with tempfile.TemporaryFile(prefix="annotate-pull-") as spool:
        bar, bar_task = _progress(proj.get("task_number"), f"pull from {project!r}")
        try:
            if bar:
                bar.start()
            for task in api.tasks(pid, fields="all", page_size=200):
                counts["tasks"] += 1
                if bar:
                    bar.advance(bar_task)
                row = ls.rows_from_task(task, schema, users=users, counts=counts)
                if not row["annotators"]:
                    continue
                data = pickle.dumps(row, protocol=pickle.HIGHEST_PROTOCOL)
                places.setdefault(row["id"], []).append((spool.tell(), len(data)))
                spool.write(data)
        finally:
            if bar:
                bar.stop()
        if not places:
            raise StudioError(
                f"project {project!r} has no submitted annotation yet ({counts['tasks']} task(s), "
                f"{counts['skipped']} skipped): nothing to pull, {out_dir} left as it was"
            )

        def read(place: tuple[int, int]) -> dict:
            spool.seek(place[0])
            return pickle.loads(spool.read(place[1]))

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
        "tasks": counts["tasks"],
        "documents": info["counts"]["documents"],
        "annotations": counts["submitted"],
        "skipped": counts["skipped"],
        "annotators": info["counts"]["annotators"],
        "spans": info["counts"]["spans"],
        "doc_labels": info["counts"]["doc_labels"],
    }


def pull(out_dir: str | Path, *, project: str) -> str:
    """`annotate pull`: see `pull_corpus`; returns a one-line summary."""
    s = pull_corpus(out_dir, project=project)
    return (
        f"wrote {s['out']}: {s['documents']} annotated document(s) of {s['tasks']} task(s), "
        f"{s['annotations']} annotation(s) by {len(s['annotators'])} annotator(s) "
        f"({s['skipped']} skipped left out), {s['spans']} span(s), {s['doc_labels']} frame label(s)"
    )


# ---- users ----------------------------------------------------------------------------------


def invite_url(api: Api) -> str:
    """The sign-up link that lets someone join this server's organization."""
    body = api.get("/api/invite")
    return f"{api.url}{body['invite_url']}"


def add_user(email: str, password: str | None = None) -> dict[str, Any]:
    """Create an annotator account (sign-up through the invite link), or just give the link.

    Without `password` the result holds `invite_url` for the person to sign up themselves.
    """
    from annotate.errors import BadInput

    if "@" not in email or email.startswith("@") or email.endswith("@"):
        raise BadInput(f"{email!r} is not an e-mail address")
    api, url = connect()
    link = invite_url(api)
    if password is None:
        return {"email": email, "created": False, "invite_url": link}
    if len(password) < 8:
        raise BadInput("the password must have at least 8 characters")
    try:
        _, r = post_form(link, {"email": email, "password": password})
    except requests.RequestException as exc:
        raise StudioError(f"cannot reach Label Studio at {url} ({_short(exc)})") from None
    if r.status_code != 302:
        if "already" in r.text.lower() and "exist" in r.text.lower():
            raise BadInput(f"a user {email!r} already exists")
        raise StudioError(f"sign-up of {email!r} failed (HTTP {r.status_code})")
    if not can_log_in(url, email, password):
        raise StudioError(f"{email!r} was created but cannot log in")
    return {"email": email, "created": True, "url": url}


def post_form(page: str, fields: dict[str, str]) -> tuple[requests.Session, requests.Response]:
    """Submit one of Label Studio's HTML forms (login, sign-up) as a browser would: GET the
    page for its CSRF cookie, then POST the fields. Returns the session and the response."""
    session = requests.Session()
    timeout = (CONNECT_TIMEOUT, 60)
    session.get(page, timeout=timeout)
    data = {**fields, "csrfmiddlewaretoken": session.cookies.get("csrftoken", "")}
    r = session.post(
        page, data=data, headers={"Referer": page}, allow_redirects=False, timeout=timeout
    )
    return session, r


def login_session(url: str, email: str, password: str) -> requests.Session | None:
    """A session logged in through the login form, or None if the form refuses."""
    session, r = post_form(f"{url.rstrip('/')}/user/login/", {"email": email, "password": password})
    return session if r.status_code == 302 else None


def can_log_in(url: str, email: str, password: str) -> bool:
    """Does the login form accept these credentials?"""
    session = login_session(url, email, password)
    if session is None:
        return False
    who = session.get(f"{url.rstrip('/')}/api/current-user/whoami", timeout=(CONNECT_TIMEOUT, 60))
    return who.status_code == 200 and who.json().get("email") == email
