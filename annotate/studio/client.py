"""Talk to Label Studio: push documents as tasks (with pre-annotations), pull annotations.

Connection: `LABEL_STUDIO_URL` + `LABEL_STUDIO_API_KEY` when set (a team server), else the
local server that `annotate studio start` runs (its `credentials.json`). Every request has
a timeout and is retried with backoff when the server cannot be reached or is busy;
failures end in `StudioError` with a message saying what to do.
"""

from __future__ import annotations

import logging
import os
import sys
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
