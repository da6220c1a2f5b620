"""Faults around Label Studio: servers that die, stall or refuse; concurrent pushes; secrets.

Tests marked `studio` use a real Label Studio: the session server, or (where the test kills
it) a dedicated one in a temporary data dir. Slow and hanging servers are simulated with a
tiny HTTP server on 127.0.0.1: the real one cannot be made to do that on cue.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import pytest
import requests

from annotate.corpus import corpus_sha256, read_corpus
from annotate.errors import StudioError
from annotate.roundtrip import push_documents
from annotate.studio import accounts, process, server
from annotate.studio import api as studio_api
from annotate.studio import tasks as studio_tasks
from annotate.studio.api import Api

REPO = Path(__file__).resolve().parent.parent


def cli(args: list[str], env: dict, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "annotate", *args],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABEL_STUDIO_")}
    env.update(extra)
    return env


def write_jsonl(
    path: Path, ids, text=lambda i: f"Document {i}: the council met and voted."
) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for i in ids:
            f.write(json.dumps({"id": f"d{i:05d}", "text": text(i)}) + "\n")
    return path


def assert_clean_failure(proc_result: tuple[int, str, str], secrets: list[str]) -> None:
    code, stdout, stderr = proc_result
    assert code == 1, (code, stdout, stderr)
    assert "Label Studio:" in stderr, stderr
    assert "Traceback" not in stderr + stdout
    for secret in secrets:
        assert secret not in stdout + stderr


def finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str, str]:
    stdout, stderr = proc.communicate(timeout=timeout)
    return proc.returncode, stdout, stderr


# ---- a stand-in server for stalls and busy answers -------------------------------------------


class StandIn:
    """A local HTTP server answering from a script: `status` (503) a few times, or hang."""

    def __init__(self, busy: int = 0, hang: float = 0.0, status: int = 503):
        self.busy, self.hang, self.status, self.requests = busy, hang, status, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                outer.requests.append((self.command, self.path, time.monotonic()))
                if self.headers.get("Content-Length"):
                    self.rfile.read(int(self.headers["Content-Length"]))
                if outer.hang:
                    time.sleep(outer.hang)
                status = outer.status if len(outer.requests) <= outer.busy else 200
                body = json.dumps({"ok": True}).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass

            do_GET = do_POST = _answer

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_busy_server_is_retried_with_backoff():
    stand_in = StandIn(busy=2)
    try:
        api = Api(stand_in.url, "k" * 40)
        assert api.get("/api/anything") == {"ok": True}
    finally:
        stand_in.close()
    times = [t for _, _, t in stand_in.requests]
    assert len(times) == 3  # 503, 503, then OK
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert gaps[0] >= 0.9 and gaps[1] >= 1.8  # waits 1 s, then 2 s


def test_a_failed_read_is_retried_but_a_failed_write_is_not():
    # a task listing racing another push's deletes can get HTTP 500: reads are repeated
    stand_in = StandIn(busy=1, status=500)
    try:
        api = Api(stand_in.url, "k" * 40)
        assert api.get("/api/tasks/") == {"ok": True}
        assert [m for m, _, _ in stand_in.requests] == ["GET", "GET"]
        stand_in.requests.clear()
        with pytest.raises(StudioError, match="HTTP 500"):
            api.post("/api/projects/1/import", json=[])
        assert [m for m, _, _ in stand_in.requests] == ["POST"]
    finally:
        stand_in.close()


def test_busy_server_gives_up_with_a_clear_error(monkeypatch):
    monkeypatch.setattr(studio_api, "RETRIES", 2)
    stand_in = StandIn(busy=100)
    try:
        with pytest.raises(StudioError, match=r"busy \(HTTP 503\) \(after 2 attempts\)"):
            Api(stand_in.url, "k" * 40).get("/api/anything")
    finally:
        stand_in.close()
    assert len(stand_in.requests) == 2


def test_hanging_server_times_out(monkeypatch):
    monkeypatch.setattr(studio_api, "READ_TIMEOUT", 0.5)
    monkeypatch.setattr(studio_api, "RETRIES", 2)
    stand_in = StandIn(hang=5.0)
    try:
        api = Api(stand_in.url, "k" * 40)
        t0 = time.monotonic()
        with pytest.raises(StudioError, match="did not answer in time"):
            api.get("/api/tasks/")
        assert time.monotonic() - t0 < 4.0  # 2 x 0.5 s timeout + 1 s backoff
        assert [m for m, _, _ in stand_in.requests] == ["GET", "GET"]
        # a POST that timed out may have arrived: not blindly repeated
        with pytest.raises(StudioError, match="did not answer in time"):
            api.post("/api/projects/1/import", json=[])
        assert [m for m, _, _ in stand_in.requests].count("POST") == 1
    finally:
        stand_in.close()


# ---- secrets -------------------------------------------------------------------------------


def test_unreachable_server_errors_keep_secrets_out(tmp_path):
    """Every way of pointing the CLI at a dead server: one line, exit 1, no secret shown."""
    data_dir = tmp_path / ".studio"
    creds = server.credentials(data_dir)
    creds["url"] = "http://127.0.0.1:9"  # nothing listens on the discard port
    (data_dir / server.CREDENTIALS).write_text(json.dumps(creds))
    docs = write_jsonl(tmp_path / "d.jsonl", range(3))
    secrets = [creds["api_key"], creds["password"]]
    local = base_env(ANNOTATE_STUDIO_DIR=str(data_dir))
    team = base_env(LABEL_STUDIO_URL="http://127.0.0.1:9", LABEL_STUDIO_API_KEY=creds["api_key"])
    runs = [
        cli(["push", str(docs)], local),
        cli(["-v", "push", str(docs)], local),
        cli(["-v", "pull", "--out", str(tmp_path / "c")], team),
        cli(["-v", "studio", "start", "--data-dir", str(tmp_path / "x")], team),
    ]
    for proc in runs:
        assert_clean_failure(finish(proc), secrets)
    assert not (tmp_path / "c").exists()


@pytest.mark.studio
def test_server_log_holds_no_secret(studio):
    log = (studio.data_dir / server.LOG).read_text(encoding="utf-8", errors="replace")
    assert log  # the server writes its log there
    assert studio.password not in log
    assert studio.api_key not in log


# ---- the server dies mid-way ------------------------------------------------------------------


@pytest.fixture
def own_studio(tmp_path):
    """A dedicated real server (its own data dir) that a test may kill."""
    from conftest import _seed_from_template, _template_dir, free_port

    if server.find_label_studio_bin() is None:
        pytest.skip("no label-studio executable")
    data_dir = tmp_path / "own-studio"
    data_dir.mkdir(mode=0o700)
    template = _template_dir(server.label_studio_bin())
    if template is not None:
        _seed_from_template(template, data_dir)
    port = free_port()
    info = server.start(port=port, data_dir=data_dir, project="faults")
    try:
        yield {"data_dir": data_dir, "port": port, "url": info["url"]}
    finally:
        server.stop(data_dir)


def kill_server(data_dir: Path) -> None:
    state = json.loads((data_dir / server.STATE).read_text())
    os.killpg(int(state["pgid"]), signal.SIGKILL)
    deadline = time.monotonic() + 30
    while process.alive(int(state["pid"])) and time.monotonic() < deadline:
        time.sleep(0.1)


def db_doc_ids(data_dir: Path, title: str) -> list[str]:
    db = sqlite3.connect(f"file:{data_dir / 'label_studio.sqlite3'}?mode=ro", uri=True, timeout=30)
    try:
        row = db.execute("SELECT id FROM project WHERE title = ?", (title,)).fetchone()
        if row is None:
            return []
        return [
            r[0]
            for r in db.execute(
                "SELECT json_extract(data, '$.doc_id') FROM task WHERE project_id = ?", row
            )
        ]
    finally:
        db.close()


def connected_to(proc: subprocess.Popen, port: int) -> bool:
    try:
        conns = psutil.Process(proc.pid).net_connections(kind="tcp")
    except psutil.Error:
        return False
    return any(c.raddr and c.raddr.port == port and c.status == "ESTABLISHED" for c in conns)


@pytest.mark.studio
def test_server_killed_mid_push_and_mid_pull(own_studio, tmp_path):
    data_dir, port = own_studio["data_dir"], own_studio["port"]
    creds = server.credentials(data_dir)
    secrets = [creds["api_key"], creds["password"]]
    env = base_env(ANNOTATE_STUDIO_DIR=str(data_dir))
    title = "faults"
    n = 2000
    docs = write_jsonl(tmp_path / "docs.jsonl", range(n))

    # 1. kill the server while a push is importing
    push = cli(["-v", "push", str(docs), "--project", title, "--batch-size", "20"], env)
    deadline = time.monotonic() + 300
    while len(db_doc_ids(data_dir, title)) < 100:
        assert push.poll() is None, finish(push)
        assert time.monotonic() < deadline, "push made no progress"
        time.sleep(0.2)
    kill_server(data_dir)
    assert_clean_failure(finish(push), secrets)
    arrived = db_doc_ids(data_dir, title)
    assert 0 < len(arrived) < n and len(set(arrived)) == len(arrived)

    # 2. restart; someone annotates a task that arrived; push again: all there, once
    server.start(port=port, data_dir=data_dir, project=title)
    api = Api(creds["url"], creds["api_key"])
    pid = api.find_project(title)["id"]
    first = next(api.tasks(pid, page_size=1))
    frame = {"from_name": "frame", "to_name": "text", "type": "choices"}
    api.post(
        f"/api/tasks/{first['id']}/annotations/",
        json={"result": [{**frame, "value": {"choices": ["Economic"]}}]},
    )
    code, stdout, stderr = finish(cli(["push", str(docs), "--project", title], env))
    assert code == 0, stderr
    assert f"{n - len(arrived)} new task(s), {len(arrived)} already there" in stdout
    ids = db_doc_ids(data_dir, title)
    assert sorted(ids) == sorted(f"d{i:05d}" for i in range(n))
    kept = api.get(f"/api/tasks/{first['id']}/")
    assert kept["total_annotations"] == 1

    # 3. a good pull, then kill the server mid-way through the next: corpus unchanged
    out = tmp_path / "corpus"
    code, _, stderr = finish(cli(["pull", "--out", str(out), "--project", title], env))
    assert code == 0, stderr
    before = corpus_sha256(out)
    entries = sorted(p.name for p in tmp_path.iterdir())
    # a pull costs in proportion to the annotated tasks: give the next one work to be cut off in
    annotated = {"result": [{**frame, "value": {"choices": ["Political"]}}]}
    api.post(
        f"/api/projects/{pid}/import",
        json=[
            {"data": {"doc_id": f"x{i:05d}", "text": f"Extra {i}."}, "annotations": [annotated]}
            for i in range(n)
        ],
        params={"commit_to_project": "true"},
    )
    pull = cli(["-v", "pull", "--out", str(out), "--project", title], env)
    deadline = time.monotonic() + 120
    while not connected_to(pull, port):
        assert pull.poll() is None, finish(pull)
        assert time.monotonic() < deadline, "pull never connected"
        time.sleep(0.05)
    time.sleep(0.5)  # into the task listing
    kill_server(data_dir)
    assert_clean_failure(finish(pull), secrets)
    assert corpus_sha256(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == entries  # no half-written corpus
    assert len(read_corpus(out)) == 1
    # and into a new directory: nothing appears
    code, _, _ = finish(cli(["pull", "--out", str(tmp_path / "new"), "--project", title], env))
    assert code == 1 and not (tmp_path / "new").exists()


# ---- concurrent pushes -------------------------------------------------------------------------


@pytest.mark.studio
def test_two_concurrent_pushes_make_no_duplicates(studio, tmp_path):
    title = studio.new_project("concurrent")
    a = write_jsonl(tmp_path / "a.jsonl", range(0, 80))
    b = write_jsonl(tmp_path / "b.jsonl", range(30, 110))  # 50 documents in both
    env = base_env(**studio.env)
    procs = [
        cli(["-v", "push", str(p), "--project", title, "--batch-size", "10"], env) for p in (a, b)
    ]
    results = [finish(p) for p in procs]
    assert all(code == 0 for code, _, _ in results), results
    api = studio.api()
    projects = [p for p in api.pages("/api/projects/", {"title": title}) if p["title"] == title]
    assert len(projects) == 1  # the project, too, exists once
    ids = [t["data"]["doc_id"] for t in api.tasks(projects[0]["id"])]
    assert sorted(ids) == [f"d{i:05d}" for i in range(110)]


# ---- overlap ---------------------------------------------------------------------------------


def _login(url: str, email: str, password: str) -> requests.Session:
    session = accounts.login_session(url, email, password)
    assert session is not None
    return session


@pytest.mark.studio
def test_overlap_offers_a_task_to_a_second_annotator(studio, tmp_path, monkeypatch):
    for k, v in studio.env.items():
        monkeypatch.setenv(k, v)
    title = studio.new_project("overlap")
    info = server.start(project=title)  # team mode: only syncs the project
    assert info["project"]["overlap"] == 1  # Label Studio's default kept
    api = studio.api()
    pid = info["project"]["id"]
    push_documents([write_jsonl(tmp_path / "d.jsonl", [1])], project=title)
    task = next(api.tasks(pid))
    frame = {"from_name": "frame", "to_name": "text", "type": "choices"}
    api.post(
        f"/api/tasks/{task['id']}/annotations/",
        json={"result": [{**frame, "value": {"choices": ["Economic"]}}]},
    )
    email, password = f"second-{uuid.uuid4().hex[:8]}@example.org", "second-pass-1"
    accounts.add_user(email, password)
    second = _login(studio.url, email, password)
    project_url = f"{studio.url}/api/projects/{pid}/"
    # the second annotator is a member of the organization; overlap 1: nothing left for them
    assert second.get(f"{project_url}next", timeout=60).status_code == 404

    code, stdout, stderr = finish(
        cli(["studio", "start", "--project", title, "--overlap", "2"], base_env(**studio.env))
    )
    assert code == 0, stderr
    assert "overlap   2 annotation(s) per task" in stdout
    assert api.get(f"/api/projects/{pid}/")["maximum_annotations"] == 2
    offered = second.get(f"{project_url}next", timeout=60)
    assert offered.status_code == 200 and offered.json()["id"] == task["id"]
    # starting again without --overlap keeps the project's setting
    assert server.start(project=title)["project"]["overlap"] == 2
    code, _, stderr = finish(
        cli(["studio", "start", "--project", title, "--overlap", "0"], base_env(**studio.env))
    )
    assert code == 2 and "Traceback" not in stderr


@pytest.mark.studio
def test_duplicates_removed_keep_the_annotated_task(studio, tmp_path, monkeypatch):
    for k, v in studio.env.items():
        monkeypatch.setenv(k, v)
    title = studio.new_project("dups")
    push_documents([write_jsonl(tmp_path / "a.jsonl", [0])], project=title)
    api = studio.api()
    pid = api.find_project(title)["id"]
    mark = studio_tasks.task_mark(api, pid)
    existing = studio_tasks.existing_tasks(api, pid)
    # what a concurrent push would leave: d00000 again, d00001 and d00002 twice each
    dup = [{"data": {"doc_id": f"d{i:05d}", "text": f"t{i}"}} for i in (0, 1, 1, 2, 2)]
    made = api.post(
        f"/api/projects/{pid}/import",
        json=dup,
        params={"commit_to_project": "true", "return_task_ids": "true"},
    )["task_ids"]
    frame = {"from_name": "frame", "to_name": "text", "type": "choices"}
    annotated = max(made[3:])  # the later copy of d00002 gets an annotation
    api.post(
        f"/api/tasks/{annotated}/annotations/",
        json={"result": [{**frame, "value": {"choices": ["Economic"]}}]},
    )
    removed = studio_tasks.remove_duplicates(api, pid, mark, existing, added=0)
    assert removed == 3
    tasks = {t["data"]["doc_id"]: t for t in api.tasks(pid)}
    assert len(list(api.tasks(pid))) == 3
    assert tasks["d00000"]["id"] == existing["d00000"]["id"]  # the old task stays
    assert tasks["d00001"]["id"] == min(made[1:3])  # the lowest id stays
    assert tasks["d00002"]["id"] == annotated  # annotated work is never deleted
    assert (
        studio_tasks.remove_duplicates(api, pid, studio_tasks.task_mark(api, pid), {}, added=0) == 0
    )
