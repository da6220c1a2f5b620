"""The background trainer of `annotate serve`: pull the project, train, swap the model in.

Every `every` submitted annotations (webhooks ANNOTATION_CREATED / ANNOTATION_UPDATED), or
on START_TRAINING, a run starts in a thread of its own, which runs the toolkit's own
commands in subprocesses (never in a request, never in the server's process):

    python -m annotate pull --project TITLE --out TMP/corpus-1     (each project seen)
    python -m annotate train TMP/corpus-1 BASE... --out MODELS/NNNN --config CONFIG

`annotate train` writes its directory atomically; then `on_model(dir)` loads it and the app
serves it (a new model_version). Triggers that arrive during a run merge into one next run.
A failed pull or training is logged with the tail of its output and the old model stays.
Only the newest `keep` directories under MODELS are kept (the served one always).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger("annotate.serve")

RUN_NAME = re.compile(r"^\d{4}-")


class Retrainer:
    """Counts annotations per trigger and runs at most one training at a time."""

    def __init__(
        self,
        *,
        models_dir: str | Path,
        on_model: Callable[[Path], str],
        base: Sequence[str | Path] = (),
        config: str | Path | None = None,
        every: int = 20,
        keep: int = 3,
        python: str = sys.executable,
    ):
        if every < 1:
            raise ValueError("retrain every must be at least 1")
        self.models_dir = Path(models_dir)
        self.on_model = on_model
        self.base = [Path(b).resolve() for b in base]
        self.config = Path(config).resolve() if config else None
        self.every = every
        self.keep = max(1, keep)
        self.python = python
        self._lock = threading.Lock()
        self._projects: set[str] = set()
        self._count = 0
        self._pending = False
        self._thread: threading.Thread | None = None
        self._proc: subprocess.Popen | None = None
        self._closing = False
        self._server: tuple[str, str] | None = None  # from /setup, only if nothing else is set
        self.runs = 0
        self.failures = 0
        self.last_error: str | None = None
        self.last_model: str | None = None

    # ---- triggers ---------------------------------------------------------------------------
    def annotation(self, project: str, *, counts: bool = True) -> dict[str, Any]:
        """One annotation webhook; a submitted one counts towards the next run."""
        with self._lock:
            self._projects.add(project)
            if counts:
                self._count += 1
            due = self._count >= self.every
            if due:
                self._count = 0
        if due:
            self._trigger()
        return {"status": "training" if due else "counted", **self.status()}

    def start_training(self, project: str) -> dict[str, Any]:
        with self._lock:
            self._projects.add(project)
            self._count = 0
        self._trigger()
        return {"status": "training", **self.status()}

    def remember_server(self, url: Any, token: Any) -> None:
        """Label Studio's address and a token from /setup: used for pulls only when neither
        LABEL_STUDIO_URL nor a local server's credentials are there. Never logged."""
        if isinstance(url, str) and url.startswith("http") and isinstance(token, str) and token:
            self._server = (url, token)

    def _trigger(self) -> None:
        with self._lock:
            if self._closing:
                return
            if self._thread is not None and self._thread.is_alive():
                self._pending = True  # merged into one next run
                return
            self._pending = True
            self._thread = threading.Thread(target=self._loop, name="retrain", daemon=True)
            self._thread.start()

    def status(self) -> dict[str, Any]:
        with self._lock:
            running = self._thread is not None and self._thread.is_alive()
            return {
                "running": running,
                "queued": bool(self._pending and running),
                "annotations_since_last_run": self._count,
                "retrain_every": self.every,
                "runs": self.runs,
                "failures": self.failures,
                "last_error": self.last_error,
                "last_model": self.last_model,
            }

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the current run (and a queued one) to end; True if idle."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return thread is None or not thread.is_alive()

    def close(self) -> None:
        """Stop: end a running subprocess (its whole process group), drop queued runs."""
        with self._lock:
            self._closing = True
            self._pending = False
            proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
        if self._thread is not None:
            self._thread.join(15)

    # ---- a run ------------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._lock:
                if not self._pending or self._closing:
                    return
                self._pending = False
                projects = sorted(self._projects)
            self._run(projects)

    def _run(self, projects: list[str]) -> None:
        started = time.perf_counter()
        self.models_dir.mkdir(parents=True, exist_ok=True)
        out = self.models_dir / f"{self._next_number():04d}-{time.strftime('%Y%m%d-%H%M%S')}"
        log.info("retraining on %s (+%d base corpora) -> %s", projects, len(self.base), out)
        try:
            with tempfile.TemporaryDirectory(prefix=".pull-", dir=self.models_dir) as tmp:
                corpora = []
                for n, title in enumerate(projects, 1):
                    corpus = Path(tmp) / f"corpus-{n}"
                    self._command(["pull", "--project", title, "--out", str(corpus)])
                    corpora.append(corpus)
                train = ["train", *map(str, corpora), *map(str, self.base), "--out", str(out)]
                if self.config is not None:
                    train += ["--config", str(self.config)]
                self._command(train)
            version = self.on_model(out)
        except Exception as exc:  # a failed pull/train/load: keep serving the old model
            with self._lock:
                self.failures += 1
                self.last_error = str(exc)
            log.error("retraining failed, still serving the previous model: %s", exc)
            return
        with self._lock:
            self.runs += 1
            self.last_error = None
            self.last_model = str(out)
        log.info("retrained %s in %.0f s", version, time.perf_counter() - started)
        self._prune(out)

    def _next_number(self) -> int:
        numbers = [int(p.name[:4]) for p in self.models_dir.iterdir() if RUN_NAME.match(p.name)]
        return max(numbers, default=0) + 1

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("PYTHONUNBUFFERED", "1")
        local = Path(env.get("ANNOTATE_STUDIO_DIR", ".studio")) / "credentials.json"
        if not env.get("LABEL_STUDIO_URL") and not local.is_file() and self._server:
            env["LABEL_STUDIO_URL"], env["LABEL_STUDIO_API_KEY"] = self._server
        return env

    def _command(self, args: list[str]) -> None:
        cmd = [self.python, "-m", "annotate", *args]
        if shutil.which("nice"):
            cmd = ["nice", "-n", "10", *cmd]  # the requests come first on a shared machine
        with self._lock:
            if self._closing:
                raise RuntimeError("serve is stopping")
            self._proc = subprocess.Popen(
                cmd,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # close() ends exactly this process group
            )
        output, _ = self._proc.communicate()
        code = self._proc.returncode
        with self._lock:
            self._proc = None
        if code != 0:
            tail = " | ".join(output.decode("utf-8", "replace").strip().splitlines()[-5:])
            raise RuntimeError(f"`annotate {args[0]}` exited with status {code}: {tail}")

    def _prune(self, served: Path) -> None:
        runs = sorted(p for p in self.models_dir.iterdir() if RUN_NAME.match(p.name) and p.is_dir())
        for old in runs[: -self.keep]:
            if old.resolve() != served.resolve():
                shutil.rmtree(old, ignore_errors=True)
