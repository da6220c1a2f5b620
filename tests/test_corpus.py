"""The corpus: typed round trip, checks at the boundary, atomic writes, merge policies."""

import hashlib
import json
import subprocess
import sys

import datasets
import pytest

from annotate import corpus
from annotate.cli import main
from annotate.errors import BadInput
from annotate.learn.train import load_documents
from annotate.schema import load_schema

TEXT = "\ufeffThey are 😀 traitors, said the minister. Traitors!"


def _row(**kw):
    spans = kw.pop("spans", [corpus.span(TEXT, 10, 12, "Loaded_Language", "a@x")])
    return corpus.row("d1", TEXT, {"source": "t"}, spans=spans, **kw)


def test_round_trip_keeps_offsets_and_types(tmp_path):
    r = _row(
        annotated=["technique", "frame"],
        annotators=["a@x"],
        doc_labels=[{"control": "frame", "label": "Political", "annotator": "a@x"}],
    )
    info = corpus.write_corpus([r], tmp_path / "c", source={"kind": "test"})
    assert info["counts"]["documents"] == 1 and info["counts"]["annotators"] == ["a@x"]
    ds = corpus.read_corpus(tmp_path / "c")
    (back,) = list(ds)
    assert back["text"] == TEXT
    assert back["spans"][0]["text"] == "😀 "  # code points: the BOM is character 0
    assert back["spans"][0]["of_start"] == -1
    assert json.loads(back["meta"]) == {"source": "t"}
    on_disk = json.loads((tmp_path / "c" / "corpus.json").read_text())
    assert on_disk["label_config_sha256"] and on_disk["schema_version"] == 1


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(start=10, end=999, label="Loaded_Language"), "outside the text"),
        (dict(start=10, end=12, label="Not_A_Label"), "not a 'technique' label"),
    ],
)
def test_bad_spans_are_refused_and_nothing_written(tmp_path, bad, message):
    s = corpus.span(TEXT, bad["start"], min(bad["end"], len(TEXT)), bad["label"])
    s["end"] = bad["end"]
    with pytest.raises(BadInput, match=message):
        corpus.write_corpus([_row(spans=[s])], tmp_path / "c", source={})
    assert not (tmp_path / "c").exists()
    assert list(tmp_path.iterdir()) == []


def test_span_text_must_match_document(tmp_path):
    s = corpus.span(TEXT, 0, 5, "Loaded_Language")
    s["text"] = "other"
    with pytest.raises(BadInput, match="does not match"):
        corpus.write_corpus([_row(spans=[s])], tmp_path / "c", source={})


def test_failed_rewrite_leaves_old_corpus(tmp_path):
    corpus.write_corpus([_row()], tmp_path / "c", source={"v": 1})
    dup = [_row(), _row()]
    with pytest.raises(BadInput, match="duplicate"):
        corpus.write_corpus(dup, tmp_path / "c", source={"v": 2})
    assert corpus.corpus_info(tmp_path / "c")["source"] == {"v": 1}


def test_not_a_corpus(tmp_path):
    with pytest.raises(BadInput, match="not a corpus"):
        corpus.read_corpus(tmp_path)


def _three_annotators():
    text = "0123456789" * 3
    spans = [
        corpus.span(text, 0, 10, "Doubt", "a"),
        corpus.span(text, 5, 15, "Doubt", "b"),
        corpus.span(text, 20, 25, "Slogans", "c"),
    ]
    labels = [{"control": "frame", "label": "Political", "annotator": n} for n in ("a", "b")] + [
        {"control": "frame", "label": "Economic", "annotator": "c"}
    ]
    return corpus.row(
        "x",
        text,
        annotated=["technique", "frame"],
        annotators=["a", "b", "c"],
        spans=spans,
        doc_labels=labels,
    )


def test_majority_union_and_one_annotator():
    r = _three_annotators()
    m = corpus.merge(r, "majority")
    assert [(s["start"], s["end"], s["label"]) for s in m.spans] == [(5, 10, "Doubt")]
    assert m.frames == ["Political"]
    u = corpus.merge(r, "union")
    assert [(s["start"], s["end"], s["label"]) for s in u.spans] == [
        (0, 15, "Doubt"),
        (20, 25, "Slogans"),
    ]
    assert u.frames == ["Economic", "Political"]
    c = corpus.merge(r, "annotator:c")
    assert [(s["start"], s["end"]) for s in c.spans] == [(20, 25)] and c.frames == ["Economic"]
    assert corpus.merge(r, "annotator:nobody") is None
    with pytest.raises(BadInput, match="unknown merge policy"):
        corpus.merge(r, "mean")


def test_gold_keeps_overlapping_spans():
    text = "abcdefghij"
    r = corpus.row(
        "g",
        text,
        annotated=["technique"],
        spans=[corpus.span(text, 0, 6, "Doubt"), corpus.span(text, 3, 9, "Slogans")],
    )
    assert len(corpus.merge(r).spans) == 2


def test_empty_corpus_and_many_rows(tmp_path):
    corpus.write_corpus([], tmp_path / "empty", source={})
    assert len(corpus.read_corpus(tmp_path / "empty")) == 0
    rows = [corpus.row(str(i), f"text {i}", annotated=["frame"]) for i in range(2500)]
    info = corpus.write_corpus(rows, tmp_path / "many", source={})
    ds = corpus.read_corpus(tmp_path / "many")
    assert info["counts"]["documents"] == len(ds) == 2500
    assert ds[2499]["id"] == "2499" and ds[1000]["text"] == "text 1000"


# ---- layouts (issue #20): the corpus directory is a save_to_disk dataset -------------------


def test_corpus_directory_is_a_datasets_dataset(tmp_path):
    corpus.write_corpus([_row(annotated=["technique"])], tmp_path / "c", source={})
    corpus.write_corpus([], tmp_path / "empty", source={})
    files = {p.name for p in (tmp_path / "c").iterdir()}
    assert {"corpus.json", "state.json", "dataset_info.json"} <= files
    assert "data" not in files and not any(name.startswith(".") for name in files)
    for name, n in (("c", 1), ("empty", 0)):  # datasets itself opens it, in another process
        code = f"import datasets; print(len(datasets.load_from_disk({str(tmp_path / name)!r})))"
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert done.returncode == 0 and done.stdout.split()[-1] == str(n), done.stderr[-2000:]


def _legacy(path, rows):
    """A corpus as written before issue #20: the dataset in data/, corpus.json beside it."""
    path.mkdir()
    table = {name: [r[name] for r in rows] for name in corpus.features()}
    ds = datasets.Dataset.from_dict(table, features=corpus.features())
    ds.save_to_disk(str(path / "data"))  # 0 rows: no shard at all, as the old writer left it
    (path / "corpus.json").write_text(json.dumps({"schema_version": 1, "source": {}}))
    return path


def test_legacy_data_layout_is_still_read(tmp_path):
    r = _row(annotated=["technique"], annotators=["a@x"])
    old = _legacy(tmp_path / "old", [r])
    (back,) = list(corpus.read_corpus(old))
    assert back == r
    assert len(corpus.corpus_sha256(old)) == 64
    assert corpus.corpus_sha256(old) != hashlib.sha256().hexdigest()  # it found the shard
    assert len(corpus.read_corpus(_legacy(tmp_path / "old-empty", []))) == 0


def _plain(path, table: dict, info: dict | None = None, shard_size: str | None = None):
    """A corpus another tool wrote as CONTRACTS.md section 4 says: save_to_disk + corpus.json."""
    datasets.Dataset.from_dict(table).save_to_disk(str(path), max_shard_size=shard_size)
    (path / "corpus.json").write_text(json.dumps(info if info is not None else {}))
    return path


def test_plain_datasets_corpus_gets_defaults(tmp_path):
    text = "The evil enemy lies. Vote now!"
    plain = _plain(
        tmp_path / "plain",
        {
            "id": ["p1", "p2"],
            "text": [text, "Nothing here."],
            "meta": [{"outlet": "x"}, {"outlet": "y"}],  # a record, not JSON text
            "spans": [
                [{"start": 4, "end": 14, "label": "Loaded_Language", "text": "evil enemy"}],
                [],
            ],
            "doc_labels": [[{"control": "frame", "label": "Political"}], []],
        },
    )
    rows = {r["id"]: r for r in corpus.read_corpus(plain)}
    p1, p2 = rows["p1"], rows["p2"]
    assert p1["annotated"] == p2["annotated"] == ["frame", "technique"]
    assert p1["annotators"] == [] and json.loads(p1["meta"]) == {"outlet": "x"}
    assert p1["doc_labels"] == [{"control": "frame", "label": "Political", "annotator": "gold"}]
    assert p1["spans"][0] == {
        "start": 4,
        "end": 14,
        "label": "Loaded_Language",
        "text": "evil enemy",
        "annotator": "gold",
        "of_start": -1,
        "of_end": -1,
    }
    merged = corpus.merge(p1)
    assert [s["text"] for s in merged.spans] == ["evil enemy"] and merged.frames == ["Political"]
    assert corpus.merge(p2).spans == [] and corpus.merge(p2).annotated == {"frame", "technique"}

    many = _plain(
        tmp_path / "many",
        {
            "id": [str(i) for i in range(600)],
            "text": ["Some text."] * 600,
            "spans": [
                [{"start": 0, "end": 4, "label": "Doubt", "text": "Some"}] * (i % 3)
                if i % 5
                else None
                for i in range(600)
            ],
        },
        shard_size="8KB",  # several shards, several Arrow chunks
    )
    rows = list(corpus.read_corpus(many))
    assert [len(r["spans"]) for r in rows] == [i % 3 if i % 5 else 0 for i in range(600)]
    assert all(s["annotator"] == "gold" and s["of_end"] == -1 for r in rows for s in r["spans"])

    bare = _plain(tmp_path / "bare", {"id": ["b"], "text": ["Just text."]})
    (b,) = list(corpus.read_corpus(bare))
    assert b == corpus.row("b", "Just text.")  # meta {}, nothing annotated, no labels


def test_plain_corpus_is_accepted_by_agreement_and_train(tmp_path, monkeypatch, capsys):
    text = "They are evil traitors, all of them."
    spans = [
        [
            {"start": 9, "end": 13, "label": "Loaded_Language", "text": "evil", "annotator": w},
            {
                "start": 14,
                "end": 22,
                "label": "Loaded_Language",
                "text": "traitors",
                "annotator": w,
            },
        ]
        for w in ("a", "b")
    ]
    plain = _plain(
        tmp_path / "plain",
        {"id": ["x"], "text": [text], "spans": [spans[0] + spans[1]], "annotators": [["a", "b"]]},
        info={"schema_version": 1},
    )
    out = tmp_path / "agreement.json"
    monkeypatch.setattr(sys, "argv", ["annotate", "agreement", str(plain), "--json", str(out)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code in (0, None), capsys.readouterr().err
    assert json.loads(out.read_text())["spans"]["pairwise_f1"] == 1.0
    docs, provenance = load_documents([plain], "majority", load_schema())
    assert [d.id for d in docs] == ["x"] and len(docs[0].spans) == 2
    assert provenance[0]["sha256"] == corpus.corpus_sha256(plain)


@pytest.mark.parametrize(
    "table, message",
    [
        ({"id": ["a"]}, "no 'text' column"),
        ({"text": ["t"], "label": [1]}, "no 'id' column"),
        ({"id": ["a"], "text": ["t"], "spans": [[{"start": 0, "end": 1}]]}, "lack 'label'"),
        ({"id": ["a", None], "text": ["t", "u"]}, "row 1: 'id' is missing"),
    ],
)
def test_plain_corpus_without_required_fields_names_the_directory(
    tmp_path, monkeypatch, capsys, table, message
):
    plain = _plain(tmp_path / "plain", table)
    with pytest.raises(BadInput, match=message) as caught:
        corpus.read_corpus(plain)
    assert caught.value.path == str(plain)
    monkeypatch.setattr(sys, "argv", ["annotate", "agreement", str(plain)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert str(plain) in err.replace("\n", "") and "Traceback" not in err


def test_dataset_without_corpus_json_is_not_a_corpus(tmp_path):
    datasets.Dataset.from_dict({"id": ["a"], "text": ["t"]}).save_to_disk(str(tmp_path / "d"))
    with pytest.raises(BadInput, match="no corpus.json"):
        corpus.read_corpus(tmp_path / "d")
