"""`annotate serve` as Label Studio's ML backend: a real `annotate serve` process (on a free
port, a small real model) and the real Label Studio of the test session (marker `studio`).

Label Studio itself asks the backend for predictions (the data manager's
`retrieve_tasks_predictions` action on tasks imported through its own API), sends the
webhooks that retrain the model, and health-checks it with basic auth. Expected offsets come
from the toolkit's own scoring of the same text, so an off-by-one fails here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from conftest import free_port

from annotate.documents import Document
from annotate.formats.labelstudio import prediction_from_record
from annotate.schema import load_schema
from annotate.scoring import score_records

pytestmark = pytest.mark.studio

REPO = Path(__file__).resolve().parent.parent
SEED = REPO / "seeds" / "000_62e5311f9cbaaa12.txt"
SEMEVAL = REPO.parent / "shared" / "data" / "semeval2023"
AUTH = ("trainer", "s3cret-" + uuid.uuid4().hex[:8])
SHORT = (
    "The corrupt elite betrayed the nation. Everyone knows the corrupt elite lies, "
    "and the corrupt-elite press repeats it: CORRUPT ELITE, corrupt elites, corruption."
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A real model trained on 20 SemEval-2023 articles; its root has train/ and tiny.toml."""
    if not SEMEVAL.is_dir():
        pytest.skip("../shared/data/semeval2023 not present")
    from learn_helpers import tiny_semeval_model

    return tiny_semeval_model(tmp_path_factory.mktemp("serve-model"))


class Backend:
    def __init__(self, url: str, proc: subprocess.Popen, log: Path, auth=None):
        self.url, self.proc, self.log, self.auth = url, proc, log, auth

    def get(self, path: str, **kw) -> requests.Response:
        return requests.get(self.url + path, auth=self.auth, timeout=60, **kw)

    def post(self, path: str, **kw) -> requests.Response:
        return requests.post(self.url + path, auth=self.auth, timeout=120, **kw)


def start_serve(model: Path, log: Path, *args: str, env: dict | None = None, auth=None):
    port = free_port()
    cmd = [sys.executable, "-m", "annotate", "serve", "--model", str(model), "--port", str(port)]
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [*cmd, *args], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO
        )
    backend = Backend(f"http://127.0.0.1:{port}", proc, log, auth)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if backend.get("/health").status_code in (200, 401):
                return backend
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"serve did not answer: {log.read_text()}")


def stop_serve(backend: Backend) -> None:
    backend.proc.terminate()
    try:
        backend.proc.wait(30)
    except subprocess.TimeoutExpired:
        backend.proc.kill()
        backend.proc.wait()


@pytest.fixture(scope="module")
def backend(tiny, studio, tmp_path_factory):
    """One `annotate serve` for the protocol tests (no retraining in reach, 2 MB body limit)."""
    tmp = tmp_path_factory.mktemp("serve")
    env = {**os.environ, **studio.env}
    b = start_serve(
        tiny, tmp / "serve.log", "--retrain-every", "1000", "--max-body-mb", "2", env=env
    )
    yield b
    stop_serve(b)


def model_version(model: Path) -> str:
    return json.loads((model / "model.json").read_text())["model_version"]


def new_project(studio, tasks: list[dict]) -> tuple[str, int, list[int]]:
    """A fresh project with tasks imported through Label Studio's own API (no predictions)."""
    from annotate.studio import server

    api = studio.api()
    title = studio.new_project("serve")
    pid = server.sync_project(api, title)["id"]
    api.post(f"/api/projects/{pid}/import", json=tasks)
    ids = sorted(t["id"] for t in api.tasks(pid))
    return title, pid, ids


def connect(studio, url: str, title: str, auth=None) -> subprocess.CompletedProcess:
    env = {**os.environ, **studio.env}
    if auth:
        env["ANNOTATE_SERVE_AUTH"] = ":".join(auth)
    return subprocess.run(
        [sys.executable, "-m", "annotate", "studio", "connect", url, "--project", title],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


def retrieve(studio, pid: int) -> dict:
    """The data manager's 'Retrieve predictions' on every task of the project."""
    return studio.api().post(
        "/api/dm/actions",
        params={"id": "retrieve_tasks_predictions", "project": pid},
        json={"selectedItems": {"all": True, "excluded": []}},
    )


def task_predictions(studio, task_id: int) -> list[dict]:
    """The task's stored predictions (without asking the backend, as opening it would)."""
    return studio.api().get("/api/predictions/", params={"task": task_id})


# ---- the protocol ------------------------------------------------------------------------------


def test_health_and_setup_answer_at_once(backend, tiny):
    r = backend.get("/health")
    assert r.status_code == 200
    assert r.json()["status"] == "UP"
    assert r.json()["model_version"] == model_version(tiny)
    started = time.perf_counter()
    r = backend.post("/setup", json={"project": "1.1", "schema": load_schema().xml})
    assert time.perf_counter() - started < 1.0  # Label Studio gives /setup 3 s
    assert r.status_code == 200 and r.json() == {"model_version": model_version(tiny)}


def test_malformed_requests_get_400_with_a_message(backend):
    bad = {
        "not json": b"{tasks: ]",
        "empty": b"",
        "not utf-8": b'{"tasks": ["\xff\xfe"]}',
        "a list": b"[]",
        "tasks not a list": json.dumps({"tasks": "all"}).encode(),
        "task without text": json.dumps({"tasks": [{"id": 1, "data": {"image": "x"}}]}).encode(),
        "task not an object": json.dumps({"tasks": [7]}).encode(),
        "context without result": json.dumps(
            {"tasks": [{"id": 1, "data": {"text": "a b"}}], "params": {"context": {"x": 1}}}
        ).encode(),
    }
    for name, body in bad.items():
        r = backend.post("/predict", data=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, (name, r.status_code, r.text)
        assert r.json()["error"], name
        assert "Traceback" not in r.text and 'File "' not in r.text, name
    r = backend.post("/webhook", data=b'{"no": "action"}')
    assert r.status_code == 400 and "action" in r.json()["error"]
    r = backend.post("/webhook", json={"action": "PROJECT_UPDATED", "project": {"id": 1}})
    assert r.status_code == 200 and r.json()["status"] == "ignored"
    assert backend.get("/health").status_code == 200  # still serving


def test_a_label_config_the_model_was_not_trained_for_is_refused(backend):
    xml = load_schema().xml
    other = xml.replace('alias="Loaded_Language"', 'alias="Emotive_Words"')
    assert other != xml
    task = {"id": 1, "data": {"text": SHORT}}
    for path, body in (
        ("/predict", {"tasks": [task], "label_config": other}),
        ("/setup", {"project": "1.1", "schema": other}),
    ):
        r = backend.post(path, json=body)
        assert r.status_code == 422, r.text
        message = r.json()["error"]
        assert "not trained for" in message and "Emotive_Words" in message
        assert "Loaded_Language" in message
    r = backend.post("/predict", json={"tasks": [task], "label_config": "<View><Text"})
    assert r.status_code == 422 and "label config" in r.json()["error"]
    # the same labels with other hints or styling fit
    restyled = xml.replace("font-size: 16px", "font-size: 18px")
    assert restyled != xml
    r = backend.post("/predict", json={"tasks": [task], "label_config": restyled})
    assert r.status_code == 200, r.text


def test_oversized_request_gets_413(backend):
    big = {"tasks": [{"id": 1, "data": {"text": "word " * 600_000}}]}  # 3 MB > 2 MB
    r = backend.post("/predict", json=big)
    assert r.status_code == 413 and "limit" in r.json()["error"]

    def chunks():  # no Content-Length: the limit holds while streaming
        yield b'{"tasks": [{"id": 1, "data": {"text": "'
        for _ in range(300):
            yield b"x" * 10_000
        yield b'"}}]}'

    r = backend.post("/predict", data=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert backend.get("/health").status_code == 200


def test_interactive_answer_is_every_other_occurrence(backend):
    start = SHORT.index("corrupt elite")
    region = {
        "id": "a1",
        "from_name": "technique",
        "to_name": "text",
        "type": "labels",
        "origin": "manual",
        "value": {
            "start": start,
            "end": start + len("corrupt elite"),
            "text": "corrupt elite",
            "labels": ["Loaded_Language"],
        },
    }
    body = {
        "tasks": [{"id": 5, "data": {"text": SHORT}}],
        "label_config": load_schema().xml,
        "params": {"context": {"result": [region]}},
    }
    r = backend.post("/predict", json=body)
    assert r.status_code == 200, r.text
    (answer,) = r.json()["results"]
    found = [(x["value"]["start"], x["value"]["end"]) for x in answer["result"]]
    texts = [SHORT[a:b] for a, b in found]
    # case-insensitive, whole words, any punctuation between them; not the marked one itself,
    # not "elites" nor "corruption"
    assert texts == ["corrupt elite", "corrupt-elite", "CORRUPT ELITE"]
    for x in answer["result"]:
        assert x["value"]["labels"] == ["Loaded_Language"]
        assert x["value"]["text"] == SHORT[x["value"]["start"] : x["value"]["end"]]
        assert x["from_name"] == "technique" and x["type"] == "labels"


def test_serve_refuses_a_model_for_another_label_config(tiny, tmp_path):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny, model)
    info = json.loads((model / "model.json").read_text())
    info["label_config_sha256"] = "0" * 64
    (model / "model.json").write_text(json.dumps(info))
    done = subprocess.run(
        [sys.executable, "-m", "annotate", "serve", "--model", str(model), "--port", "1"],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert "another label config" in done.stderr and "Traceback" not in done.stderr


# ---- with Label Studio -------------------------------------------------------------------------


def test_label_studio_retrieves_the_models_predictions(studio, backend, tiny):
    from annotate.learn.model import Model

    seed = SEED.read_text(encoding="utf-8")
    title, pid, ids = new_project(
        studio,
        [{"data": {"text": seed, "doc_id": "seed"}}, {"data": {"text": SHORT, "doc_id": "short"}}],
    )
    done = connect(studio, backend.url, title)
    assert done.returncode == 0, done.stderr
    assert "connected" in done.stdout
    assert not any(task_predictions(studio, i) for i in ids)
    result = retrieve(studio, pid)
    assert result.get("processed_items") == 2, result

    model, schema = Model.load(tiny), load_schema()
    version = model_version(tiny)
    for task_id, (doc_id, text) in zip(ids, (("seed", seed), ("short", SHORT)), strict=True):
        (pred,) = task_predictions(studio, task_id)
        assert pred["model_version"] == version
        (record,) = score_records([Document(doc_id, text)], model)
        expected = prediction_from_record(record, schema, version, text=text)
        assert pred["result"] == expected["result"]
        assert pred["score"] == pytest.approx(expected["score"])
        for region in pred["result"]:
            value = region.get("value") or {}
            if "start" in value:
                assert text[value["start"] : value["end"]] == value["text"]
    (seed_pred,) = task_predictions(studio, ids[0])
    labels = [r["value"]["labels"][0] for r in seed_pred["result"] if r.get("type") == "labels"]
    assert "Repetition" in labels  # the passages repeated within the task
    assert any(r["type"] == "relation" for r in seed_pred["result"])
    assert any(r.get("from_name") == "frame" for r in seed_pred["result"])

    project = studio.api().get(f"/api/projects/{pid}/")
    assert project["show_collab_predictions"] and not project["evaluate_predictions_automatically"]
    assert project["model_version"] == "annotate"


def test_connect_twice_changes_nothing(studio, backend):
    title, pid, _ = new_project(studio, [{"data": {"text": SHORT}}])
    first = connect(studio, backend.url, title)
    second = connect(studio, backend.url, title)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert "connected" in first.stdout and "unchanged" in second.stdout
    api = studio.api()
    backends = api.get("/api/ml", params={"project": pid})
    assert [b["url"] for b in backends] == [backend.url]
    assert backends[0]["is_interactive"] is True
    hooks = [h for h in api.get("/api/webhooks/", params={"project": pid}) if h["project"] == pid]
    assert [h["url"] for h in hooks] == [backend.url + "/webhook"]


def test_connect_refuses_a_project_with_other_labels(studio, backend):
    api = studio.api()
    title, pid, _ = new_project(studio, [{"data": {"text": SHORT}}])
    xml = load_schema().xml.replace('alias="Doubt"', 'alias="Suspicion"')
    api.patch(f"/api/projects/{pid}/", json={"label_config": xml})
    done = connect(studio, backend.url, title)
    assert done.returncode == 1
    assert "not trained for" in done.stderr and "Suspicion" in done.stderr
    assert "Traceback" not in done.stderr
    assert api.get("/api/ml", params={"project": pid}) == []


def test_annotations_retrain_in_the_background(studio, tiny, tmp_path):
    """N submitted annotations (webhooks from Label Studio) -> one training -> new version;
    /predict answers all along; basic auth on every call, Label Studio's included."""
    root = tiny.parent
    env = {**os.environ, **studio.env, "ANNOTATE_SERVE_AUTH": ":".join(AUTH)}
    b = start_serve(
        tiny,
        tmp_path / "serve.log",
        "--retrain-every", "3", "--base", str(root / "train"), "--config",
        str(root / "tiny.toml"), "--models-dir", str(tmp_path / "models"), "--keep", "2",
        env=env, auth=AUTH,
    )  # fmt: skip
    try:
        assert requests.get(b.url + "/health", timeout=10).status_code == 401
        assert (
            requests.get(b.url + "/health", auth=("trainer", "wrong"), timeout=10).status_code
            == 401
        )
        texts = [SHORT, SEED.read_text(encoding="utf-8")[:3000], "Another short text here.", "x y"]
        title, pid, ids = new_project(studio, [{"data": {"text": t}} for t in texts])
        done = connect(studio, b.url, title, auth=AUTH)
        assert done.returncode == 0, done.stderr
        assert "refused" not in done.stdout, done.stdout
        (hook,) = [
            h
            for h in studio.api().get("/api/webhooks/", params={"project": pid})
            if h["url"] == b.url + "/webhook"
        ]
        assert hook["headers"]["Authorization"].startswith("Basic ")
        old = model_version(tiny)
        api = studio.api()
        for task_id, text in zip(ids[:3], texts[:3], strict=True):
            end = text.index(" ")
            api.post(
                f"/api/tasks/{task_id}/annotations/",
                json={
                    "result": [
                        {
                            "id": "r1",
                            "from_name": "technique",
                            "to_name": "text",
                            "type": "labels",
                            "value": {
                                "start": 0,
                                "end": end,
                                "text": text[:end],
                                "labels": ["Doubt"],
                            },
                        }
                    ],
                    "lead_time": 1.0,
                },
            )
        status = b.get("/health").json()["training"]
        assert status["running"] or status["runs"] == 1, status
        # the backend keeps answering while it trains
        latencies = []
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            r = b.post("/predict", json={"tasks": [{"id": 1, "data": {"text": SHORT}}]})
            latencies.append(time.perf_counter() - t0)
            assert r.status_code == 200
            health = b.get("/health").json()
            if health["model_version"] != old:
                break
            time.sleep(0.5)
        assert health["model_version"] != old, (health, b.log.read_text()[-2000:])
        assert max(latencies) < 10, latencies
        b.proc.poll()
        training = b.get("/health").json()["training"]
        assert training["runs"] == 1 and not training["running"] and training["failures"] == 0
        new = health["model_version"]
        assert b.get("/versions").json()["versions"] == [old, new]
        # predictions retrieved now carry the new version
        retrieve(studio, pid)
        for task_id in ids:
            versions = [p["model_version"] for p in task_predictions(studio, task_id)]
            assert versions.count(new) == 1, versions
        runs = sorted(p.name for p in (tmp_path / "models").iterdir() if not p.name.startswith("."))
        assert len(runs) == 1 and (tmp_path / "models" / runs[0] / "model.json").is_file()
        assert AUTH[1] not in b.log.read_text()
    finally:
        stop_serve(b)


def test_studio_start_serve_runs_the_backend_beside_the_server(studio, tiny):
    """`annotate studio start --serve MODEL`: serve in the background, recorded in the data
    dir, connected to the project; again: the same process, nothing changed."""
    from annotate.studio import connect as connecting

    env = {k: v for k, v in os.environ.items() if k not in studio.env}
    port = free_port()
    title = studio.new_project("serve-start")
    cmd = [
        sys.executable, "-m", "annotate", "studio", "start", "--data-dir", str(studio.data_dir),
        "--port", studio.url.rsplit(":", 1)[1], "--project", title,
        "--serve", str(tiny), "--serve-port", str(port),
    ]  # fmt: skip
    try:
        first = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO, timeout=300)
        assert first.returncode == 0, first.stderr
        assert "connected" in first.stdout
        state = json.loads((studio.data_dir / "serve.json").read_text())
        url = f"http://127.0.0.1:{port}"
        assert state["url"] == url
        assert requests.get(url + "/health", timeout=10).json()["model_version"] == model_version(
            tiny
        )
        again = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO, timeout=300)
        assert again.returncode == 0 and "unchanged" in again.stdout, again.stderr
        assert json.loads((studio.data_dir / "serve.json").read_text())["pid"] == state["pid"]
        pid = studio.api().find_project(title)["id"]
        assert [b["url"] for b in studio.api().get("/api/ml", params={"project": pid})] == [url]
    finally:
        stopped = connecting.stop_backend(studio.data_dir)
    assert stopped and str(state["pid"]) in stopped
    assert not (studio.data_dir / "serve.json").exists()
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/health", timeout=5)


# ---- in the browser ----------------------------------------------------------------------------

BROWSER_TEXT = (
    "Shameless cowards run the council.\n"
    "The mayor said the budget is fine, and the shameless cowards agreed.\n"
    "Nobody trusts these SHAMELESS COWARDS any more; shameless, cowards all."
)


@pytest.mark.browser
def test_annotator_sees_the_models_spans_and_suggested_occurrences(studio, backend, tmp_path):
    import browser_helpers as bh

    missing = bh.chromium_missing_reason()
    if missing:
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    article = REPO.parent / "shared" / "data" / "ptc" / "train-articles" / "article758472954.txt"
    if not article.is_file():
        pytest.skip("../shared/data/ptc not present")
    text = article.read_text(encoding="utf-8") + "\n\n" + BROWSER_TEXT
    title, pid, (task_id,) = new_project(studio, [{"data": {"text": text}}])
    done = connect(studio, backend.url, title)
    assert done.returncode == 0, done.stderr
    artifacts = Path(os.environ.get("ANNOTATE_ARTIFACTS", tmp_path))
    with sync_playwright() as p:
        browser = bh.launch(p)
        page = browser.new_page(viewport=bh.VIEWPORT)
        try:
            bh.login(page, studio.url, studio.username, studio.password)
            bh.open_task(page, studio.url, pid, task_id)  # opening it asks the backend
            (pred,) = task_predictions(studio, task_id)
            expected = sorted(
                (r["value"]["start"], r["value"]["end"])
                for r in pred["result"]
                if r.get("type") == "labels"
            )
            shown = sorted((r["start"], r["end"]) for r in bh.regions(page))
            bh.screenshot(page, artifacts / "serve-predictions.png")
            assert expected and shown == expected, (shown, expected)
            page.get_by_test_id("bottombar-auto-annotation-toggle").click()
            page.evaluate("document.activeElement && document.activeElement.blur()")  # hotkeys
            page.wait_for_timeout(500)
            start = text.index("Shameless cowards")
            end = start + len("Shameless cowards")
            before = {r["id"] for r in bh.regions(page)}
            page.keyboard.press("l")
            assert bh.active_labels(page) == ["Loaded language"]
            with page.expect_response(lambda r: "interactive-annotating" in r.url) as resp:
                assert bh.select_text(page, text, start, end) == "Shameless cowards"
            assert resp.value.ok
            phrase = re.compile(r"shameless\W+cowards(?!\w)", re.IGNORECASE)
            others = [m.span() for m in phrase.finditer(text) if m.start() != start]
            assert (
                len(others) == 3
            )  # "shameless cowards", "SHAMELESS COWARDS", "shameless, cowards"
            page.wait_for_function(
                "n => document.querySelectorAll('.lsf-richtext__container .htx-highlight').length"
                " > n",
                arg=len(before) + 3,
                timeout=15_000,
            )
            page.wait_for_timeout(500)
            bh.screenshot(page, artifacts / "serve-suggestions.png")
            new_regions = [r for r in bh.regions(page) if r["id"] not in before]
            assert sorted((r["start"], r["end"]) for r in new_regions) == sorted(
                [(start, end), *others]
            ), new_regions
            assert {r["label"] for r in new_regions} == {"Loaded language"}
        finally:
            browser.close()


# ---- the retrainer on its own --------------------------------------------------------------------

FAKE_PYTHON = """#!/bin/sh
# stands in for `python -m annotate pull|train ...`: logs the call, takes a while
echo "$@" >> "$CALLS"
sleep 1
case "$3" in
  pull) [ -n "$FAIL_PULL" ] && { echo "error: no such project" >&2; exit 2; }
        out="$7"; mkdir -p "$out" ;;
  train) while [ "$1" != "--out" ]; do shift; done
         mkdir -p "$2"; echo '{"model_version": "v'$(date +%s%N)'"}' > "$2/model.json" ;;
esac
"""


def fake_retrainer(tmp_path: Path, monkeypatch, **kw):
    from annotate.serve.retrain import Retrainer

    python = tmp_path / "python"
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    monkeypatch.setenv("CALLS", str(tmp_path / "calls"))
    swapped = []

    def on_model(path: Path) -> str:
        swapped.append(path)
        return json.loads((path / "model.json").read_text())["model_version"]

    r = Retrainer(models_dir=tmp_path / "models", on_model=on_model, python=str(python), **kw)
    return r, swapped


def test_triggers_during_a_run_merge_into_one_next_run(tmp_path, monkeypatch):
    r, swapped = fake_retrainer(tmp_path, monkeypatch, every=2, keep=2, base=[tmp_path])
    assert r.annotation("p", counts=True)["status"] == "counted"
    assert r.annotation("p", counts=True)["status"] == "training"  # the 2nd starts a run
    time.sleep(0.3)
    for _ in range(6):  # three more triggers while it runs: one next run
        r.annotation("q", counts=True)
    r.start_training("p")
    assert r.status()["queued"]
    assert r.wait(60)
    assert r.runs == 2 and r.failures == 0 and len(swapped) == 2
    calls = (tmp_path / "calls").read_text().splitlines()
    assert [c.split()[2] for c in calls] == ["pull", "train", "pull", "pull", "train"]
    assert "--project q" in calls[3] and str(tmp_path) in calls[4]  # both projects, the base
    for _ in range(3):  # the oldest retrained models go, the newest `keep` stay
        r.start_training("p")
        assert r.wait(60)
    kept = sorted(p.name for p in (tmp_path / "models").iterdir() if not p.name.startswith("."))
    assert len(kept) == 2 and kept[-1] == swapped[-1].name


def test_a_failed_training_keeps_the_old_model(tmp_path, monkeypatch):
    monkeypatch.setenv("FAIL_PULL", "1")
    r, swapped = fake_retrainer(tmp_path, monkeypatch, every=1)
    r.annotation("p", counts=True)
    assert r.wait(60)
    status = r.status()
    assert status["failures"] == 1 and status["runs"] == 0 and not swapped
    assert "no such project" in status["last_error"] and "status 2" in status["last_error"]
    r.annotation("p", counts=False)  # a deleted annotation does not count
    assert r.status()["annotations_since_last_run"] == 0 and not r.status()["running"]
