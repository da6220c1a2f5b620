"""The Label Studio REST client (`Api`) and where to find the server (`connect`, `remote`)."""

from __future__ import annotations

import json
import logging
import os
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
CREDENTIALS = "credentials.json"  # in the data dir: url, username, password, api_key
DEFAULT_DATA_DIR = ".studio"


class Api:
    """A small Label Studio REST client: JSON in and out, timeouts, retries with backoff."""

    def __init__(self, url: str, api_key: str):
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.session = requests.Session()
        self.session.headers.update(
            {"Authorization": f"Token {api_key}", "Accept": "application/json"}
        )

    def request(self, method: str, path: str, *, retry: bool = True, **kwargs: Any) -> Any:
        """One request: the decoded JSON answer (text if not JSON, None if empty)."""
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
                problem = f"cannot reach Label Studio at {self.url} ({short_error(exc)})"
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

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Any:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
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

    def task_page(
        self,
        project_id: int,
        page: int,
        *,
        fields: str = "task_only",
        page_size: int = 500,
        query: dict | None = None,
    ) -> tuple[list[dict], int | None]:
        """One page of a project's task list: (tasks, total), ([], None) past the last page.

        `query`: a Data Manager query (filters, ordering), e.g. only tasks above an id.
        """
        params: dict[str, Any] = {
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
                return [], None
            raise
        if isinstance(body, dict):
            return body.get("tasks", body.get("results", [])), body.get("total")
        return body, None

    def tasks(
        self,
        project_id: int,
        *,
        fields: str = "task_only",
        page_size: int = 500,
        query: dict | None = None,
    ) -> Iterator[dict]:
        """Every task of a project (or those `query` selects), page by page."""
        page, seen = 1, 0
        while True:
            items, total = self.task_page(
                project_id, page, fields=fields, page_size=page_size, query=query
            )
            yield from items
            seen += len(items)
            if not items or len(items) < page_size or (total is not None and seen >= total):
                return
            page += 1

    def stream(
        self, path: str, params: dict | None = None, chunk: int = 1 << 20
    ) -> Iterator[bytes]:
        """The body of a GET (a download) in chunks as it arrives; one attempt, no retry."""
        url = path if path.startswith("http") else f"{self.url}{path}"
        try:
            with self.session.get(
                url, params=params, stream=True, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT)
            ) as r:
                if r.status_code >= 400:
                    raise StudioError(f"GET {path} failed: HTTP {r.status_code}: {r.text[:500]}")
                yield from r.iter_content(chunk)
        except requests.RequestException as exc:
            raise StudioError(
                f"download from Label Studio at {self.url} broke off ({short_error(exc)}). "
                "Is the server running? Try `annotate studio status`."
            ) from None

    def find_project(self, title: str) -> dict | None:
        """The project with exactly this title (the lowest id if several)."""
        matches = [p for p in self.pages("/api/projects/", {"title": title}) if p["title"] == title]
        return min(matches, key=lambda p: p["id"]) if matches else None


def filter_query(*items: dict, ordering: Iterable[str] = ()) -> dict:
    """A Data Manager query: every filter item must hold (`conjunction` "and")."""
    query: dict[str, Any] = {"filters": {"conjunction": "and", "items": list(items)}}
    if ordering:
        query["ordering"] = list(ordering)
    return query


def number_filter(column: str, operator: str, value: int | float) -> dict:
    """One Data Manager filter item on a numeric task column (`id`, `total_annotations`)."""
    return {
        "filter": f"filter:tasks:{column}",
        "operator": operator,
        "type": "Number",
        "value": value,
    }


def short_error(exc: Exception) -> str:
    """A connection error in a few words (no URL-encoded request dump)."""
    text = str(exc)
    if "Connection refused" in text:
        return "connection refused"
    return text[:200]


def read_json(path: Path) -> dict | None:
    """A JSON file's object, or None when the file is missing or not JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def remote() -> tuple[str, str] | None:
    """(url, api_key) of a team server named by the environment, or None."""
    url = os.environ.get("LABEL_STUDIO_URL", "").strip()
    key = os.environ.get("LABEL_STUDIO_API_KEY", "").strip()
    if url and key:
        return url.rstrip("/"), key
    if url or key:
        raise StudioError("set both LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY (or neither)")
    return None


def data_dir_path(data_dir: str | Path | None = None) -> Path:
    """The local server's data dir: as given, else `$ANNOTATE_STUDIO_DIR`, else `.studio`."""
    if data_dir is not None:
        return Path(data_dir)
    return Path(os.environ.get("ANNOTATE_STUDIO_DIR") or DEFAULT_DATA_DIR)


def connect(data_dir: str | Path | None = None) -> tuple[Api, str]:
    """(api, url) for the team server named by the environment, else the local one.

    Connection: `LABEL_STUDIO_URL` + `LABEL_STUDIO_API_KEY` when set (a team server), else the
    local server that `annotate studio start` runs (its `credentials.json`). Every request has
    a timeout and is retried with backoff when the server cannot be reached or is busy;
    failures end in `StudioError` with a message saying what to do.
    """
    team = remote()
    if team:
        url, key = team
        return Api(url, key), url
    creds_path = data_dir_path(data_dir) / CREDENTIALS
    creds = read_json(creds_path)
    if not creds or not creds.get("url") or not creds.get("api_key"):
        raise StudioError(
            f"no Label Studio to talk to: run `annotate studio start` (no {creds_path}), "
            "or set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY"
        )
    return Api(creds["url"], creds["api_key"]), creds["url"]
