"""Adjudication (`annotate review`): disagreement ranking, and the review set-up in a real
Label Studio (marker `studio`)."""

from __future__ import annotations

import sys
import uuid

import pytest
from ls_helpers import region as ls_region

from annotate import corpus
from annotate.disagreement import disagreement, rank_disagreements
from annotate.roundtrip import push_documents, review
from annotate.schema import load_schema
from annotate.studio import accounts
from annotate.studio.api import Api
from annotate.studio.review import (
    DISAGREEMENT_FIELD,
    RANK_FIELD,
    VIEW_TITLE,
    annotator_prediction,
)

TEXT = "The corrupt elites lie to you every day. Vote for us. The budget passed on Tuesday."


def row(doc_id: str, labels: dict[str, list[tuple[int, int, str]]], frames: dict[str, list[str]]):
    return corpus.row(
        doc_id,
        TEXT,
        annotated=["technique", "frame"],
        annotators=list(labels),
        spans=[corpus.span(TEXT, s, e, lab, who) for who, ss in labels.items() for s, e, lab in ss],
        doc_labels=[
            {"control": "frame", "label": f, "annotator": who}
            for who, fs in frames.items()
            for f in fs
        ],
    )


ELITES = (4, 18, "Name_Calling,Labeling")  # "corrupt elites"
SLOGAN = (41, 53, "Slogans")  # "Vote for us."


def test_identical_annotations_do_not_disagree():
    same = row("same", {"a": [ELITES], "b": [ELITES]}, {"a": ["Political"], "b": ["Political"]})
    d = disagreement(same)
    assert d == {
        "doc_id": "same",
        "annotators": ["a", "b"],
        "spans": 0.0,
        "frames": 0.0,
        "disagreement": 0.0,
    }
    nothing = row("nothing", {"a": [], "b": []}, {"a": [], "b": []})
    assert disagreement(nothing)["disagreement"] == 0.0
    assert disagreement(row("alone", {"a": [ELITES]}, {"a": []})) is None


def test_documents_ranked_by_disagreement():
    rows = [
        row("same", {"a": [ELITES], "b": [ELITES]}, {"a": ["Political"], "b": ["Political"]}),
        # same span, other label; same frames: half the span score
        row(
            "relabelled",
            {"a": [ELITES], "b": [(4, 18, "Loaded_Language")]},
            {"a": ["Political"], "b": ["Political"]},
        ),
        # different spans and disjoint frames: total disagreement
        row("apart", {"a": [ELITES], "b": [SLOGAN]}, {"a": ["Political"], "b": ["Economic"]}),
    ]
    ranked = rank_disagreements(rows)
    assert [d["doc_id"] for d in ranked] == ["apart", "relabelled", "same"]
    assert ranked[0]["disagreement"] == 1.0
    relabelled = ranked[1]
    assert relabelled["frames"] == 0.0 and relabelled["spans"] == pytest.approx(0.5)
    assert relabelled["disagreement"] == pytest.approx(0.25)


def test_annotator_prediction_validates_against_the_label_config():
    schema = load_schema()
    r = row(
        "x", {"a@x": [ELITES, SLOGAN], "b@x": []}, {"a@x": ["Political", "Morality"], "b@x": []}
    )
    pred = annotator_prediction(r, "a@x", schema, 0.25)
    assert pred["model_version"] == "annotator:a@x" and pred["score"] == 0.25
    assert schema.interface().validate_prediction(pred)
    labels = sorted(
        tuple(res["value"].get("labels") or res["value"].get("choices")) for res in pred["result"]
    )
    assert labels == [("Name_Calling,Labeling",), ("Political", "Morality"), ("Slogans",)] or (
        labels == [("Morality", "Political"), ("Name_Calling,Labeling",), ("Slogans",)]
    )


# ---- against a real Label Studio ----------------------------------------------------------


@pytest.fixture
def env(studio, monkeypatch):
    for k, v in studio.env.items():
        monkeypatch.setenv(k, v)
    return studio.env


def annotator_api(studio, email: str) -> Api:
    """Create an annotator through the toolkit, log in as them, return their API client."""
    password = "pw-" + uuid.uuid4().hex[:12]
    assert accounts.add_user(email, password)["created"]
    session = accounts.login_session(studio.url, email, password)
    assert session is not None, f"{email} cannot log in"
    token = session.get(f"{studio.url}/api/current-user/token", timeout=30).json()["token"]
    return Api(studio.url, token)


def region(rid: str, start: int, end: int, label: str) -> dict:
    return ls_region(rid, TEXT, start, end, label)


def frames(*names: str) -> dict:
    return {
        "id": "fr",
        "from_name": "frame",
        "to_name": "text",
        "type": "choices",
        "value": {"choices": list(names)},
    }


@pytest.mark.studio
def test_review_shows_each_annotators_version_of_the_disputed_tasks(
    studio, env, tmp_path, capsys, monkeypatch
):
    title = studio.new_project("review")
    folder = tmp_path / "docs"
    folder.mkdir()
    for doc_id in ("agree", "differ", "single"):
        (folder / f"{doc_id}.txt").write_text(TEXT, encoding="utf-8")
    push_documents([folder], project=title)
    api = studio.api()
    pid = api.find_project(title)["id"]
    tasks = {t["data"]["doc_id"]: t for t in api.tasks(pid, fields="all")}

    tag = uuid.uuid4().hex[:6]
    alice = annotator_api(studio, f"alice-{tag}@example.org")
    bob = annotator_api(studio, f"bob-{tag}@example.org")
    s, e, lab = ELITES
    for who in (alice, bob):  # "agree": the same labels
        who.post(
            f"/api/tasks/{tasks['agree']['id']}/annotations/",
            json={"result": [region("r1", s, e, lab), frames("Political")]},
        )
    alice.post(
        f"/api/tasks/{tasks['differ']['id']}/annotations/",
        json={"result": [region("r1", s, e, lab), frames("Political")]},
    )
    bob.post(
        f"/api/tasks/{tasks['differ']['id']}/annotations/",
        json={"result": [region("r2", *SLOGAN), frames("Economic", "Morality")]},
    )
    alice.post(
        f"/api/tasks/{tasks['single']['id']}/annotations/",
        json={"result": [frames("Political")]},
    )

    result = review(title, top=5)

    assert result["with_two_or_more_annotators"] == 2
    assert [d["doc_id"] for d in result["for_review"]] == [
        "differ"
    ]  # "agree" has nothing to review
    assert result["for_review"][0]["disagreement"] == 1.0
    assert result["predictions"] == 2

    after = {t["data"]["doc_id"]: t for t in api.tasks(pid, fields="all")}
    differ = after["differ"]
    assert differ["data"][RANK_FIELD] == 1 and differ["data"][DISAGREEMENT_FIELD] == 1.0
    assert differ["data"]["text"] == TEXT and differ["data"]["doc_id"] == "differ"
    assert RANK_FIELD not in after["agree"]["data"]
    preds = api.get("/api/predictions/", params={"task": differ["id"]})
    by_version = {p["model_version"]: p for p in preds if p["task"] == differ["id"]}
    emails = sorted(result["for_review"][0]["annotators"])
    assert sorted(v for v in by_version if v.startswith("annotator:")) == [
        f"annotator:{m}" for m in emails
    ]
    interface = load_schema().interface()
    for version, pred in by_version.items():
        if not version.startswith("annotator:"):
            continue
        assert interface.validate_prediction({"result": pred["result"], "score": pred["score"]})
        assert pred["score"] == pytest.approx(0.0)
        who = version.split(":", 1)[1]
        choices = [r["value"]["choices"] for r in pred["result"] if r["type"] == "choices"]
        expected = [["Political"]] if who.startswith("alice") else [["Economic", "Morality"]]
        assert [sorted(c) for c in choices] == expected

    # the reviewer's tab lists exactly the flagged task
    views = api.get("/api/dm/views/", params={"project": pid})
    view = next(v for v in views if v["data"].get("title") == VIEW_TITLE)
    listed = api.get("/api/tasks/", params={"view": view["id"], "project": pid})
    listed = listed.get("tasks", listed) if isinstance(listed, dict) else listed
    assert [t["id"] for t in listed] == [differ["id"]]

    # bob comes round: running review again clears the flag and the annotator predictions
    ann = next(
        a
        for a in differ["annotations"]
        if a["completed_by"] != alice.get("/api/current-user/whoami")["id"]
    )
    bob.patch(
        f"/api/annotations/{ann['id']}/",
        json={"result": [region("r1", s, e, lab), frames("Political")]},
    )
    again = review(title, top=5)
    assert again["for_review"] == [] and again["cleared"] == 1
    cleared = {t["data"]["doc_id"]: t for t in api.tasks(pid, fields="all")}["differ"]
    assert RANK_FIELD not in cleared["data"]
    left = api.get("/api/predictions/", params={"task": differ["id"]})
    assert not [
        p for p in left if p["task"] == differ["id"] and p["model_version"].startswith("annotator:")
    ]

    # the CLI prints the table
    monkeypatch.setattr(sys, "argv", ["annotate", "review", "--project", title, "--top", "3"])
    from annotate.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code in (0, None)
    assert VIEW_TITLE in capsys.readouterr().out
