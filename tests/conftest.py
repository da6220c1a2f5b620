"""Shared fixtures. `studio`: one real Label Studio server for the whole test session."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import sqlite3
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"

# Word clusters are cached between trainings (annotate.learn.vectors.cache_dir): the tests
# share one cache of their own, never the user's, and the CLI subprocesses inherit it.
os.environ["ANNOTATE_CACHE_DIR"] = tempfile.mkdtemp(prefix="annotate-test-cache-")


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
        """A REST client for this server (annotate.studio.api.Api)."""
        from annotate.studio.api import Api

        return Api(self.url, self.api_key)

    def new_project(self, prefix: str = "test") -> str:
        """A fresh, unique project title (created on first push/sync)."""
        return f"{prefix}-{uuid.uuid4().hex[:8]}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# A freshly migrated database takes Label Studio minutes to build; the fixture keeps one
# (per Label Studio version) in ~/.cache/annotate/studio-template and starts from a copy.
# ANNOTATE_TEST_STUDIO_CACHE=0 turns this off; another path puts the cache there.
TEMPLATE_FILES = ("label_studio.sqlite3", ".env", "credentials.json")


def _template_dir(executable: str) -> Path | None:
    setting = os.environ.get("ANNOTATE_TEST_STUDIO_CACHE", "")
    if setting == "0":
        return None
    root = Path(setting) if setting else Path.home() / ".cache" / "annotate" / "studio-template"
    exe = Path(executable).resolve()
    versions = sorted(exe.parent.parent.glob("lib/python*/site-packages/label_studio-*.dist-info"))
    key = versions[-1].name if versions else f"{exe}-{exe.stat().st_mtime_ns}"
    return root / hashlib.sha256(f"{exe}|{key}".encode()).hexdigest()[:16]


def _seed_from_template(template: Path, data_dir: Path) -> bool:
    if not all((template / f).is_file() for f in TEMPLATE_FILES):
        return False
    for name in TEMPLATE_FILES:
        shutil.copy2(template / name, data_dir / name)
    return True


def _save_template(data_dir: Path, template: Path) -> None:
    """Keep a consistent copy of a just-started server's database (best effort)."""
    try:
        template.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=template.parent))
        with sqlite3.connect(data_dir / "label_studio.sqlite3") as src:
            with sqlite3.connect(tmp / "label_studio.sqlite3") as dst:
                src.backup(dst)
        for name in TEMPLATE_FILES[1:]:
            shutil.copy2(data_dir / name, tmp / name)
        os.chmod(tmp / "label_studio.sqlite3", 0o600)
        try:
            tmp.rename(template)
        except OSError:  # another session saved one first
            shutil.rmtree(tmp, ignore_errors=True)
    except (OSError, sqlite3.Error):
        pass


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
    template = None if reuse else _template_dir(server.label_studio_bin())
    seeded = template is not None and _seed_from_template(template, data_dir)
    try:
        info = server.start(host="127.0.0.1", port=free_port(), data_dir=data_dir, project=project)
        if template is not None and not seeded:
            _save_template(data_dir, template)
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
