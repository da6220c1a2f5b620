"""`annotate pull` streams: rows spooled to disk, one row per document (tasks holding the same
document merged), written in batches; against a real Label Studio (marker `studio`)."""

from __future__ import annotations

import pytest
from ls_helpers import region

from annotate.corpus import corpus_info, read_corpus
from annotate.errors import BadInput
from annotate.roundtrip import push_documents
from annotate.studio.pull import pull_corpus

pytestmark = pytest.mark.studio


def import_tasks(api, pid: int, docs: list[tuple[str, str]]) -> list[dict]:
    """Tasks made directly (push would not make two tasks for one document)."""
    api.post(
        f"/api/projects/{pid}/import",
        json=[{"data": {"text": text, "doc_id": doc_id, "meta": "{}"}} for doc_id, text in docs],
    )
    return sorted(api.tasks(pid, fields="all"), key=lambda t: t["id"])


def new_project(studio, monkeypatch, tmp_path, prefix: str) -> tuple:
    for k, v in studio.env.items():
        monkeypatch.setenv(k, v)
    title = studio.new_project(prefix)
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "first.txt").write_text("A first document, pushed the usual way.")
    push_documents([folder], project=title)
    api = studio.api()
    return title, api, api.find_project(title)["id"]


def test_pull_merges_tasks_of_one_document_in_first_seen_order(studio, monkeypatch, tmp_path):
    title, api, pid = new_project(studio, monkeypatch, tmp_path, "pull-merge")
    text = "The corrupt elites lie. They always lie to the hard-working people of this land."
    many = [(f"doc{i:03d}", f"Document number {i} says nothing special.") for i in range(30)]
    tasks = import_tasks(api, pid, [("twice", text), *many, ("twice", text)])
    by_doc: dict[str, list[dict]] = {}
    for t in tasks:
        by_doc.setdefault(t["data"]["doc_id"], []).append(t)
    first_task, second_task = by_doc["twice"]
    lie = text.index("lie")
    api.post(
        f"/api/tasks/{first_task['id']}/annotations/",
        json={"result": [region("a", text, 4, 18, "Loaded_Language")]},
    )
    api.post(
        f"/api/tasks/{second_task['id']}/annotations/",
        json={"result": [region("b", text, lie, lie + 3, "Name_Calling,Labeling")]},
    )
    for doc_id, _ in many[:20]:
        api.post(f"/api/tasks/{by_doc[doc_id][0]['id']}/annotations/", json={"result": []})

    out = tmp_path / "corpus"
    summary = pull_corpus(out, project=title)
    rows = list(read_corpus(out))
    assert [r["id"] for r in rows] == ["twice"] + [d for d, _ in many[:20]]
    assert summary["documents"] == 21 == corpus_info(out)["counts"]["documents"]
    twice = rows[0]
    assert twice["text"] == text
    assert sorted((s["start"], s["end"], s["label"]) for s in twice["spans"]) == [
        (4, 18, "Loaded_Language"),
        (lie, lie + 3, "Name_Calling,Labeling"),
    ]
    assert summary["spans"] == 2 and summary["annotations"] == 22


def test_pull_refuses_two_texts_for_one_document_and_writes_nothing(studio, monkeypatch, tmp_path):
    title, api, pid = new_project(studio, monkeypatch, tmp_path, "pull-clash")
    tasks = import_tasks(api, pid, [("clash", "One text."), ("clash", "Another text.")])
    for t in tasks:
        if t["data"]["doc_id"] == "clash":
            api.post(f"/api/tasks/{t['id']}/annotations/", json={"result": []})
    out = tmp_path / "corpus"
    with pytest.raises(BadInput, match="different texts"):
        pull_corpus(out, project=title)
    assert not out.exists()
