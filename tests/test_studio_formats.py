"""Label Studio converters (annotate.formats.labelstudio) and server helpers, no server needed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter

import pytest
from ls_helpers import region

from annotate.documents import Document
from annotate.errors import BadInput, StudioError
from annotate.formats import labelstudio as ls
from annotate.schema import load_schema
from annotate.studio import project, server

TEXT = "Stop them now. They are coming for you. Stop them now, before it is too late."


@pytest.fixture(scope="module")
def schema():
    return load_schema()


def rep(start, end, of_id, of_start, of_end, text=TEXT):
    return {
        "start": start,
        "end": end,
        "text": text[start:end],
        "label": "Repetition",
        "score": 1.0,
        "source": "repeats",
        "of": {"id": of_id, "start": of_start, "end": of_end},
    }


def test_task_from_document_keeps_text_id_and_meta():
    doc = Document("a1", "\ufeffHi 😀\r\n", {"source": "x.txt", "n": 3})
    task = ls.task_from_document(doc)
    assert task == {
        "data": {"text": "\ufeffHi 😀\r\n", "doc_id": "a1", "meta": {"source": "x.txt", "n": 3}}
    }
    json.dumps(task)  # plain JSON


def test_prediction_links_later_copy_to_earlier(schema):
    a, b = TEXT.index("Stop them now"), TEXT.rindex("Stop them now")
    n = len("Stop them now")
    record = {"id": "d", "spans": [rep(a, a + n, "d", b, b + n), rep(b, b + n, "d", a, a + n)]}
    pred = ls.prediction_from_record(record, schema, "repeats-1.0.0", text=TEXT)
    assert schema.interface().validate_prediction(pred, return_errors=True) == []
    assert pred["model_version"] == "repeats-1.0.0" and pred["score"] == 1.0
    regions = {r["id"]: r["value"] for r in pred["result"] if r["type"] == "labels"}
    assert sorted((v["start"], v["end"]) for v in regions.values()) == [(a, a + n), (b, b + n)]
    assert all(v["labels"] == ["Repetition"] for v in regions.values())
    (relation,) = [r for r in pred["result"] if r["type"] == "relation"]
    assert relation["labels"] == ["repeats"]
    assert regions[relation["from_id"]]["start"] == b  # later -> earlier
    assert regions[relation["to_id"]]["start"] == a


def test_prediction_adds_region_for_unreported_earlier_occurrence(schema):
    a, b = TEXT.index("Stop them now"), TEXT.rindex("Stop them now")
    n = len("Stop them now")
    record = {"id": "d", "spans": [rep(b, b + n, "d", a, a + n)]}
    pred = ls.prediction_from_record(record, schema, "v", text=TEXT)
    starts = sorted(r["value"]["start"] for r in pred["result"] if r["type"] == "labels")
    assert starts == [a, b]
    without_text = ls.prediction_from_record(record, schema, "v")
    assert [r["type"] for r in without_text["result"]] == ["labels"]  # no region to link to


def test_cross_document_repeat_gets_a_note_and_no_relation(schema):
    record = {"id": "d1", "spans": [rep(0, 13, "other-doc", 40, 53)]}
    pred = ls.prediction_from_record(record, schema, "v", text=TEXT)
    (region,) = pred["result"]
    assert region["meta"] == {"text": ["repeats other-doc [40:53]"]}
    assert schema.interface().validate_prediction(pred, return_errors=True) == []


def test_model_spans_frames_and_score(schema):
    record = {
        "id": "d",
        "propaganda": 0.3,
        "frames": {"Political": 0.9, "Economic": 0.1},
        "frame_labels": ["Political"],
        "spans": [
            {
                "start": 15,
                "end": 38,
                "text": TEXT[15:38],
                "label": "Appeal_to_fear-prejudice",
                "score": 0.8,
                "source": "model",
            },
        ],
    }
    pred = ls.prediction_from_record(record, schema, "annotate-x-1234")
    assert pred["score"] == pytest.approx(0.7)  # confidence: low = uncertain
    assert schema.interface().validate_prediction(pred, return_errors=True) == []
    by_control = {r["from_name"]: r for r in pred["result"]}
    assert by_control["technique"]["value"]["labels"] == ["Appeal_to_fear-prejudice"]
    assert by_control["technique"]["score"] == 0.8
    assert by_control["frame"]["value"]["choices"] == ["Political"]


def test_bad_label_fails_validation(schema):
    record = {
        "id": "d",
        "spans": [
            {
                "start": 0,
                "end": 4,
                "text": "Stop",
                "label": "Nonsense",
                "score": 0.5,
                "source": "model",
            }
        ],
    }
    pred = ls.prediction_from_record(record, schema, "v")
    with pytest.raises(BadInput, match="does not fit the label config"):
        ls.check_prediction(pred, schema, "d")


def annotation(result, who=7, cancelled=False, aid=1):
    return {"id": aid, "completed_by": who, "was_cancelled": cancelled, "result": result}


def labels(rid, start, end, label, text=TEXT):
    return region(rid, text, start, end, label)


def test_rows_from_task_all_annotators_skips_and_relations(schema):
    a, b = TEXT.index("Stop them now"), TEXT.rindex("Stop them now")
    task = {
        "id": 5,
        "data": {"text": TEXT, "doc_id": "d9", "meta": {"source": "s"}},
        "annotations": [
            annotation(
                [
                    labels("x", a, a + 13, "Repetition"),
                    labels("y", b, b + 13, "Repetition"),
                    {
                        "type": "relation",
                        "from_id": "x",
                        "to_id": "y",
                        "direction": "left",
                        "labels": ["repeats"],
                    },
                    labels("z", 15, 38, "Appeal to fear / prejudice"),  # display name
                    {
                        "id": "f",
                        "from_name": "frame",
                        "to_name": "text",
                        "type": "choices",
                        "value": {"choices": ["Political"]},
                    },
                ],
                who=7,
            ),
            annotation([], who={"id": 8, "email": "b@x"}, cancelled=True, aid=2),
            annotation(
                [
                    {
                        "id": "f",
                        "from_name": "frame",
                        "to_name": "text",
                        "type": "choices",
                        "value": {"choices": ["Morality"]},
                    }
                ],
                who={"id": 9, "email": "c@x"},
                aid=3,
            ),
        ],
    }
    counts = Counter()
    row = ls.rows_from_task(task, schema, users={7: "a@x"}, counts=counts)
    assert counts == Counter(submitted=2, skipped=1)
    assert row["id"] == "d9" and row["text"] == TEXT
    assert json.loads(row["meta"]) == {"source": "s", "label_studio_task": 5}
    assert row["annotators"] == ["a@x", "c@x"]
    assert row["annotated"] == ["frame", "technique"]
    spans = {(s["start"], s["label"]): s for s in row["spans"]}
    assert spans[(15, "Appeal_to_fear-prejudice")]["annotator"] == "a@x"
    # direction "left": y -> x, so the later copy y points at x
    assert (spans[(b, "Repetition")]["of_start"], spans[(b, "Repetition")]["of_end"]) == (a, a + 13)
    assert spans[(a, "Repetition")]["of_start"] == -1
    assert sorted((d["label"], d["annotator"]) for d in row["doc_labels"]) == [
        ("Morality", "c@x"),
        ("Political", "a@x"),
    ]


def test_rows_from_task_only_skipped_is_not_annotated(schema):
    task = {
        "id": 1,
        "data": {"text": TEXT, "doc_id": "d"},
        "annotations": [annotation([], cancelled=True)],
    }
    row = ls.rows_from_task(task, schema)
    assert row["annotators"] == [] and row["annotated"] == [] and row["spans"] == []


def test_rows_from_task_rejects_mismatched_span_text(schema):
    bad = labels("x", 0, 4, "Doubt")
    bad["value"]["text"] = "Nope"
    task = {"id": 1, "data": {"text": TEXT, "doc_id": "d"}, "annotations": [annotation([bad])]}
    with pytest.raises(BadInput, match="does not match the document"):
        ls.rows_from_task(task, schema)


def test_rows_from_task_accepts_utf16_offsets_from_javascript(schema):
    text = "😀😀 traitors everywhere"
    start = text.index("traitors")
    value = {"start": start + 2, "end": start + 10, "text": "traitors", "labels": ["Doubt"]}
    task = {
        "id": 1,
        "data": {"text": text, "doc_id": "e"},
        "annotations": [
            annotation(
                [
                    {
                        "id": "x",
                        "from_name": "technique",
                        "to_name": "text",
                        "type": "labels",
                        "value": value,
                    }
                ]
            )
        ],
    }
    (span,) = ls.rows_from_task(task, schema, users={7: "a@x"})["spans"]
    assert (span["start"], span["end"], span["text"]) == (start, start + 8, "traitors")


def test_annotator_name_fallbacks():
    assert ls.annotator_name({"completed_by": {"id": 1, "email": "e@x"}}) == "e@x"
    assert ls.annotator_name({"completed_by": 3}, {3: "u@x"}) == "u@x"
    assert ls.annotator_name({"completed_by": 3, "created_username": " u@x, 3"}) == "u@x"
    assert ls.annotator_name({"completed_by": 3}) == "user3"


# ---- server helpers ----------------------------------------------------------------------------


def test_credentials_created_private_and_stable(tmp_path):
    creds = server.credentials(tmp_path / "d")
    assert os.stat(tmp_path / "d" / "credentials.json").st_mode & 0o777 == 0o600
    assert len(creds["password"]) >= 16 and len(creds["api_key"]) == 40
    assert server.credentials(tmp_path / "d") == creds
    assert creds["api_key"] not in server.mask(creds["api_key"])


def test_describe_never_shows_secrets(tmp_path):
    creds = server.credentials(tmp_path)
    text = server.describe(server.status(tmp_path))
    assert "not running" in text
    assert creds["password"] not in text and creds["api_key"] not in text
    assert "credentials.json" in text


def test_stop_never_kills_a_process_that_is_not_label_studio(tmp_path, monkeypatch):
    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    other = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
    )
    try:
        state = {"pid": other.pid, "pgid": other.pid, "url": "http://127.0.0.1:9"}
        (tmp_path / "server.json").write_text(json.dumps(state))
        message = server.stop(tmp_path)
        assert "not running" in message
        assert other.poll() is None  # still alive: a recycled PID is left alone
    finally:
        os.killpg(other.pid, signal.SIGKILL)
        other.wait()


def test_stop_with_data_dir_stops_that_server_whatever_label_studio_url_says(tmp_path):
    # a stand-in whose command line names label_studio, as the real server's does
    stand_in = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)", "label_studio"],
        start_new_session=True,
    )
    try:
        data_dir = tmp_path / ".studio"
        data_dir.mkdir()
        state = {"pid": stand_in.pid, "pgid": stand_in.pid, "url": "http://127.0.0.1:9"}
        (data_dir / "server.json").write_text(json.dumps(state))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LABEL_STUDIO_", "ANNO"))}
        env.update(LABEL_STUDIO_URL="http://127.0.0.1:9", LABEL_STUDIO_API_KEY="k" * 40)
        stop = [sys.executable, "-m", "annotate", "studio", "stop"]
        kept = subprocess.run(stop, capture_output=True, text=True, env=env, cwd=tmp_path)
        assert kept.returncode == 0, kept.stderr
        assert "not ours to stop" in kept.stdout  # no --data-dir: the team server is meant
        assert stand_in.poll() is None
        r = subprocess.run(
            [*stop, "--data-dir", str(data_dir)], capture_output=True, text=True, env=env
        )
        assert r.returncode == 0, r.stderr
        assert f"stopped Label Studio (pid {stand_in.pid})" in r.stdout
        assert stand_in.wait(timeout=30) is not None
        assert not (data_dir / "server.json").exists()
    finally:
        if stand_in.poll() is None:
            os.killpg(stand_in.pid, signal.SIGKILL)
            stand_in.wait()


def test_missing_executable_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("LABEL_STUDIO_BIN", str(tmp_path / "nope"))
    with pytest.raises(StudioError, match="LABEL_STUDIO_BIN"):
        server.label_studio_bin()


def test_half_configured_team_server_is_an_error(monkeypatch):
    monkeypatch.setenv("LABEL_STUDIO_URL", "http://example.org")
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    with pytest.raises(StudioError, match="both"):
        server.remote()


def test_guidelines_markdown_becomes_escaped_html():
    html = project.markdown_to_html("# Title\n\nSome *x* <b>raw</b>\n\n- one\n- two **bold**\n")
    assert "<h2>Title</h2>" in html and "<li>two <b>bold</b></li>" in html
    assert "&lt;b&gt;raw&lt;/b&gt;" in html and "<i>x</i>" in html
