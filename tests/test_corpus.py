"""The corpus: typed round trip, checks at the boundary, atomic writes, merge policies."""

import json

import pytest

from annotate import corpus
from annotate.errors import BadInput

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
