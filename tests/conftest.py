"""Shared fixtures. `studio`: one real Label Studio server for the whole test session."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@dataclass
class Studio:
    """A running Label Studio started for the tests (SQLite in a temporary data dir)."""

    url: str
    username: str
    password: str
    api_key: str
    data_dir: Path
    project: str  # title of the project synced at start
    env: dict[str, str] = field(default_factory=dict)  # LABEL_STUDIO_URL/API_KEY for the CLI

    def api(self):
        """A REST client for this server (annotate.studio.client.Api)."""
        from annotate.studio.client import Api

        return Api(self.url, self.api_key)

    def new_project(self, prefix: str = "test") -> str:
        """A fresh, unique project title (created on first push/sync)."""
        return f"{prefix}-{uuid.uuid4().hex[:8]}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def studio(tmp_path_factory) -> Studio:
    """Start a real Label Studio on a free port in a temporary data dir; stop it at the end.

    Skips (with the reason) when no `label-studio` executable is installed. For a quick
    edit-test loop, `ANNOTATE_TEST_STUDIO_DIR=<data dir of a running server>` reuses that
    server (and leaves it running).
    """
    from annotate.studio import server

    if server.find_label_studio_bin() is None:
        pytest.skip(
            "no label-studio executable (run `make install`, set LABEL_STUDIO_BIN, "
            "or put label-studio on PATH)"
        )
    saved = {
        k: os.environ.pop(k)
        for k in ("LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY")
        if k in os.environ
    }
    project = "Propaganda and framing"
    reuse = os.environ.get("ANNOTATE_TEST_STUDIO_DIR")  # a running server's data dir (dev loop)
    if reuse and server.status(reuse)["running"]:
        data_dir = Path(reuse).resolve()
    else:
        reuse = None
        data_dir = tmp_path_factory.mktemp("studio")
    try:
        info = server.start(host="127.0.0.1", port=free_port(), data_dir=data_dir, project=project)
        creds = server.credentials(data_dir)
        yield Studio(
            url=info["url"],
            username=creds["username"],
            password=creds["password"],
            api_key=creds["api_key"],
            data_dir=data_dir,
            project=project,
            env={"LABEL_STUDIO_URL": info["url"], "LABEL_STUDIO_API_KEY": creds["api_key"]},
        )
    finally:
        if not reuse:
            server.stop(data_dir)
        os.environ.update(saved)
