"""The Label Studio round trip against a real server (marker `studio`).

One server runs for the session (fixture `studio` in conftest.py); each test works in its
own project so the tests do not see each other's tasks.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests
from ls_helpers import region

from annotate import repeats, roundtrip
from annotate.corpus import read_corpus
from annotate.errors import StudioError
from annotate.schema import load_schema
from annotate.studio import accounts, server
from annotate.studio import api as studio_api
from annotate.studio import tasks as studio_tasks
from annotate.studio.api import Api
from annotate.studio.pull import pull_corpus

pytestmark = pytest.mark.studio

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"


@pytest.fixture
def env(studio, monkeypatch):
    """Point the toolkit at the test server, as LABEL_STUDIO_URL/API_KEY would."""
    for k, v in studio.env.items():
        monkeypatch.setenv(k, v)
    return studio.env


def write_docs(folder: Path, docs: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for doc_id, text in docs.items():
        (folder / f"{doc_id}.txt").write_bytes(text.encode("utf-8"))
    return folder


def project_tasks(studio, title: str) -> list[dict]:
    api = studio.api()
    project = api.find_project(title)
    assert project is not None
    return list(api.tasks(project["id"], fields="all"))


def annotator_api(studio, email: str):
    """Create an annotator through the toolkit, log in as them, return their API client."""
    password = "pw-" + uuid.uuid4().hex[:12]
    made = accounts.add_user(email, password)
    assert made["created"]
    session = accounts.login_session(studio.url, email, password)
    assert session is not None, f"{email} cannot log in"
    token = session.get(f"{studio.url}/api/current-user/token", timeout=30).json()["token"]
    return Api(studio.url, token)


def frames(*names: str) -> dict:
    return {
        "id": "fr",
        "from_name": "frame",
        "to_name": "text",
        "type": "choices",
        "value": {"choices": list(names)},
    }


# ---- server ------------------------------------------------------------------------------------


def test_start_twice_keeps_one_project(studio):
    title = studio.new_project("idem")
    for _ in range(2):
        info = server.start(port=1, data_dir=studio.data_dir, project=title)
        assert info["running"] and info["url"] == studio.url  # no second server (port ignored)
        assert info["started"] is False
    api = studio.api()
    same = [p for p in api.pages("/api/projects/") if p["title"] == title]
    assert len(same) == 1
    assert same[0]["label_config"].strip() == load_schema().xml.strip()
    if (REPO / "docs" / "guidelines.md").is_file():  # annotator guidelines shown in the UI
        assert same[0]["expert_instruction"] and same[0]["show_instruction"]
    # the session project too: one, however often start ran
    assert len([p for p in api.pages("/api/projects/") if p["title"] == studio.project]) == 1


def test_credentials_private_and_never_printed(studio):
    creds_path = studio.data_dir / "credentials.json"
    assert stat.S_IMODE(creds_path.stat().st_mode) == 0o600
    creds = json.loads(creds_path.read_text())
    assert set(creds) >= {"url", "username", "password", "api_key"}
    cli_env = {k: v for k, v in os.environ.items() if not k.startswith("LABEL_STUDIO_")}
    outputs = []
    for args in (["status"], ["start", "--port", "1"]):
        r = subprocess.run(
            [sys.executable, "-m", "annotate", "studio", *args, "--data-dir", str(studio.data_dir)],
            capture_output=True,
            text=True,
            env=cli_env,
            timeout=300,
        )
        assert r.returncode == 0, r.stderr
        outputs.append(r.stdout + r.stderr)
    for text in outputs:
        assert studio.url in text
        assert str(creds_path) in text  # says where the password is kept
        assert creds["password"] not in text
        assert creds["api_key"] not in text


def test_server_listens_on_localhost_only(studio):
    psutil = pytest.importorskip("psutil")
    state = json.loads((studio.data_dir / "server.json").read_text())
    proc = psutil.Process(state["pid"])
    procs = [proc, *proc.children(recursive=True)]
    listening = [
        c.laddr
        for p in procs
        for c in p.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    ]
    assert listening, "the server process listens on no socket"
    assert {a.ip for a in listening} == {"127.0.0.1"}
    assert any(a.port == state["port"] for a in listening)


def test_signup_closed_without_invite(studio):
    for url in (f"{studio.url}/user/signup/", f"{studio.url}/user/signup/?token=not-the-token"):
        session = requests.Session()
        session.get(url, timeout=30)
        r = session.post(
            url,
            data={
                "email": f"intruder-{uuid.uuid4().hex[:6]}@example.org",
                "password": "a-long-password-1",
                "csrfmiddlewaretoken": session.cookies.get("csrftoken", ""),
            },
            headers={"Referer": url},
            allow_redirects=False,
            timeout=30,
        )
        assert r.status_code == 403, (url, r.status_code)
    users = studio.api().get("/api/users/")
    assert not any(u["email"].startswith("intruder-") for u in users)


def test_add_user_can_log_in_and_invite_link(studio, env):
    email = f"ann-{uuid.uuid4().hex[:6]}@example.org"
    invite = accounts.add_user(email)
    assert not invite["created"] and "/user/signup/?token=" in invite["invite_url"]
    assert accounts.add_user(email, "correct-horse-1")["created"]
    assert accounts.can_log_in(studio.url, email, "correct-horse-1")
    assert not accounts.can_log_in(studio.url, email, "wrong-password-1")


def test_add_user_cli_with_password_from_stdin(studio):
    email = f"cli-{uuid.uuid4().hex[:6]}@example.org"
    r = subprocess.run(
        [sys.executable, "-m", "annotate", "studio", "add-user", email, "--password"],
        input="stdin-password-1\n",
        capture_output=True,
        text=True,
        env={**os.environ, **studio.env},
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "stdin-password-1" not in r.stdout
    assert accounts.can_log_in(studio.url, email, "stdin-password-1")


# ---- push --------------------------------------------------------------------------------------


def test_push_twice_one_task_per_document(studio, env, tmp_path):
    title = studio.new_project("push")
    folder = write_docs(
        tmp_path / "docs",
        {
            f"doc{i}": f"Document number {i}. Nothing repeats here at all, word {i}."
            for i in range(5)
        },
    )
    first = roundtrip.push_documents([folder, SEEDS], project=title, batch_size=2)
    assert first["new"] == 6 and first["already"] == 0
    second = roundtrip.push_documents([folder, SEEDS], project=title, batch_size=2)
    assert second["new"] == 0 and second["already"] == 6
    tasks = project_tasks(studio, title)
    ids = sorted(t["data"]["doc_id"] for t in tasks)
    assert ids == sorted([f"doc{i}" for i in range(5)] + [p.stem for p in SEEDS.glob("*.txt")])


def test_interrupted_push_can_be_rerun_and_keeps_annotations(studio, env, tmp_path):
    title = studio.new_project("resume")
    docs = {f"r{i}": f"Text {i} about the weather and the harvest in the valley." for i in range(6)}
    part = write_docs(tmp_path / "part", {k: docs[k] for k in ("r0", "r1")})
    roundtrip.push_documents([part], project=title)
    # someone annotates r0 before the rest arrives
    task = next(t for t in project_tasks(studio, title) if t["data"]["doc_id"] == "r0")
    text = task["data"]["text"]
    studio.api().post(
        f"/api/tasks/{task['id']}/annotations/", json={"result": [frames("Economic")]}
    )
    everything = write_docs(tmp_path / "all", docs)
    again = roundtrip.push_documents([everything], project=title, batch_size=4)
    assert again["new"] == 4 and again["already"] == 2
    tasks = project_tasks(studio, title)
    assert sorted(t["data"]["doc_id"] for t in tasks) == sorted(docs)
    r0 = next(t for t in tasks if t["data"]["doc_id"] == "r0")
    assert r0["data"]["text"] == text
    assert [a["result"][0]["value"]["choices"] for a in r0["annotations"]] == [["Economic"]]


def test_seed_prediction_has_repetitions_and_relations(studio, env):
    title = studio.new_project("seeds")
    summary = roundtrip.push_documents([SEEDS], project=title)
    assert summary["predictions"] >= 1
    seed_id = next(SEEDS.glob("*.txt")).stem
    task = next(t for t in project_tasks(studio, title) if t["data"]["doc_id"] == seed_id)
    assert len(task["predictions"]) == 1
    pred = task["predictions"][0]
    assert pred["model_version"] == repeats.MODEL_VERSION
    schema = load_schema()
    assert schema.interface().validate_prediction(pred, return_errors=True) == []
    result = pred["result"]
    regions = {r["id"]: r for r in result if r["type"] == "labels"}
    relations = [r for r in result if r["type"] == "relation"]
    assert regions and relations
    text = task["data"]["text"]
    for r in regions.values():
        assert r["value"]["labels"] == ["Repetition"]
        assert text[r["value"]["start"] : r["value"]["end"]] == r["value"]["text"]
    for rel in relations:
        assert rel["labels"] == ["repeats"]
        later, earlier = regions[rel["from_id"]]["value"], regions[rel["to_id"]]["value"]
        assert later["start"] > earlier["start"]


def test_push_predictions_for_existing_tasks(studio, env, tmp_path):
    title = studio.new_project("preds")
    text = "Vote for us. They lie to you every day. Vote for us."
    folder = write_docs(tmp_path / "d", {"p1": text})
    roundtrip.push_documents([folder], project=title)
    record = {
        "id": "p1",
        "propaganda": 0.9,
        "frames": {"Political": 0.8},
        "frame_labels": ["Political"],
        "spans": [
            {
                "start": 13,
                "end": 38,
                "text": text[13:38],
                "label": "Doubt",
                "score": 0.6,
                "source": "model",
            },
        ],
    }
    missing = {"id": "not-there", "spans": []}
    counts = studio_tasks.push_score_records(
        [record, missing], project=title, model_version="m-test"
    )
    assert counts["pushed"] == 1 and counts["missing"] == 1
    again = studio_tasks.push_score_records([record], project=title, model_version="m-test")
    assert again["pushed"] == 0 and again["already"] == 1
    task = project_tasks(studio, title)[0]
    pred = next(p for p in task["predictions"] if p["model_version"] == "m-test")
    assert pred["score"] == pytest.approx(0.9)
    labels = {r["from_name"]: r["value"] for r in pred["result"]}
    assert labels["technique"]["labels"] == ["Doubt"]
    assert labels["frame"]["choices"] == ["Political"]


def test_team_server_mode_uses_the_environment(studio, env, tmp_path):
    title = studio.new_project("team")
    info = server.start(data_dir=tmp_path / "unused", project=title)
    assert info["remote"] and info["running"] and info["url"] == studio.url
    assert info["project"]["action"] == "created"
    assert not (tmp_path / "unused").exists()  # no local server, no local credentials
    assert studio.api_key not in server.describe(server.status(tmp_path / "unused"))
    assert "not ours to stop" in server.stop(tmp_path / "unused")
    assert server.status(studio.data_dir)["remote"]


def test_studio_error_when_server_unreachable(monkeypatch):
    monkeypatch.setenv("LABEL_STUDIO_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "x" * 40)
    monkeypatch.setattr(studio_api, "RETRIES", 2)
    with pytest.raises(StudioError, match="cannot reach Label Studio"):
        studio_tasks.push_score_records([], project="any", model_version="v")


# ---- pull --------------------------------------------------------------------------------------


def test_annotations_round_trip_with_emoji_bom_and_skips(studio, env, tmp_path):
    title = studio.new_project("roundtrip")
    emoji_text = "\ufeffBreaking 😀 news: the 🇺🇸 traitors are destroying everything we love."
    plain_text = "Calm report. The committee met on Tuesday and agreed the budget."
    folder = write_docs(tmp_path / "d", {"emoji": emoji_text, "plain": plain_text})
    roundtrip.push_documents([folder], project=title)
    tasks = {t["data"]["doc_id"]: t for t in project_tasks(studio, title)}
    assert tasks["emoji"]["data"]["text"] == emoji_text  # BOM and emoji stored as given

    alice = annotator_api(studio, f"alice-{uuid.uuid4().hex[:6]}@example.org")
    bob = annotator_api(studio, f"bob-{uuid.uuid4().hex[:6]}@example.org")
    t = emoji_text
    traitors = t.index("traitors")
    alice.post(
        f"/api/tasks/{tasks['emoji']['id']}/annotations/",
        json={
            "result": [
                region("a", t, traitors, traitors + len("traitors"), "Name_Calling,Labeling"),
                region("b", t, t.index("😀"), t.index("😀") + 1, "Loaded language"),  # display name
                frames("Political", "Cultural_identity"),
            ]
        },
    )
    bob.post(
        f"/api/tasks/{tasks['emoji']['id']}/annotations/",
        json={"result": [], "was_cancelled": True},
    )
    bob.post(f"/api/tasks/{tasks['plain']['id']}/drafts", json={"result": [frames("Economic")]})
    bob.post(
        f"/api/tasks/{tasks['plain']['id']}/annotations/",
        json={"result": [frames("Economic")]},
    )

    out = tmp_path / "corpus"
    summary = pull_corpus(out, project=title)
    assert summary["skipped"] == 1 and summary["annotations"] == 2 and summary["documents"] == 2
    rows = {r["id"]: r for r in read_corpus(out)}
    emoji = rows["emoji"]
    assert emoji["text"] == emoji_text
    assert emoji["annotators"] == [alice_email(alice)]
    assert sorted(emoji["annotated"]) == ["frame", "technique"]
    spans = {(s["start"], s["end"], s["label"], s["text"], s["annotator"]) for s in emoji["spans"]}
    assert spans == {
        (traitors, traitors + 8, "Name_Calling,Labeling", "traitors", alice_email(alice)),
        (t.index("😀"), t.index("😀") + 1, "Loaded_Language", "😀", alice_email(alice)),
    }
    assert sorted((d["label"], d["annotator"]) for d in emoji["doc_labels"]) == [
        ("Cultural_identity", alice_email(alice)),
        ("Political", alice_email(alice)),
    ]
    plain = rows["plain"]
    assert plain["spans"] == [] and plain["annotated"] == ["frame", "technique"]
    assert [d["label"] for d in plain["doc_labels"]] == ["Economic"]  # the draft is not counted


def alice_email(api) -> str:
    return api.get("/api/current-user/whoami")["email"]


def test_pull_keeps_repeats_links(studio, env, tmp_path):
    title = studio.new_project("links")
    sentence = "We will never surrender our freedom to the corrupt elites in the capital"
    text = f"{sentence}. Other words in between here. {sentence}!"
    folder = write_docs(tmp_path / "d", {"rep": text})
    roundtrip.push_documents([folder], project=title)
    task = project_tasks(studio, title)[0]
    first, second = text.index(sentence), text.rindex(sentence)
    end1, end2 = first + len(sentence), second + len(sentence)
    result = [
        region("e", text, first, end1, "Repetition"),
        region("l", text, second, end2, "Repetition"),
        {
            "type": "relation",
            "from_id": "l",
            "to_id": "e",
            "direction": "right",
            "labels": ["repeats"],
        },
    ]
    studio.api().post(f"/api/tasks/{task['id']}/annotations/", json={"result": result})
    pull_corpus(tmp_path / "c", project=title)
    row = next(iter(read_corpus(tmp_path / "c")))
    spans = {(s["start"], s["end"]): (s["of_start"], s["of_end"]) for s in row["spans"]}
    assert spans == {(first, end1): (-1, -1), (second, end2): (first, end1)}
    assert row["annotators"] == [studio.username]


def test_cli_push_and_pull(studio, tmp_path):
    title = studio.new_project("cli")
    env = {**os.environ, **studio.env}
    run = [sys.executable, "-m", "annotate"]
    r = subprocess.run(
        [*run, "push", str(SEEDS), "--project", title],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert "1 new task" in r.stdout
    r = subprocess.run(
        [*run, "pull", "--project", title, "--out", str(tmp_path / "c")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert r.returncode == 1 and "no submitted annotation yet" in r.stderr  # none yet
    assert not (tmp_path / "c").exists()
    api = studio.api()
    task = next(api.tasks(api.find_project(title)["id"]))
    api.post(f"/api/tasks/{task['id']}/annotations/", json={"result": [frames("Morality")]})
    r = subprocess.run(
        [*run, "pull", "--project", title, "--out", str(tmp_path / "c")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "c" / "corpus.json").is_file()
    r = subprocess.run(
        [*run, "pull", "--project", "no-such-project-xyz", "--out", str(tmp_path / "x")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert r.returncode == 1 and "no project titled" in r.stderr
    assert not (tmp_path / "x").exists()
