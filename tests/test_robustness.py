"""Robustness: any text through the offset code, huge and tiny inputs, atomic outputs."""

import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annotate import corpus
from annotate.atomic import atomic_path
from annotate.documents import iter_documents
from annotate.metrics import merge_overlaps, si_prf

ANY_TEXT = st.lists(
    st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(["\ufeff", "\r\n", "\n", "😀", "\u200f", "é", "\U0001f1fa\U0001f1f8"]),
    ),
    min_size=1,
    max_size=120,
).map("".join)


@settings(max_examples=150, deadline=None)
@given(ANY_TEXT, st.data())
def test_spans_over_any_text_survive_the_corpus_checks(text, data):
    start = data.draw(st.integers(0, len(text) - 1))
    end = data.draw(st.integers(start + 1, len(text)))
    s = corpus.span(text, start, end, "Doubt", "a@x")
    assert s["text"] == text[start:end]
    r = corpus.row("d", text, spans=[s], annotated=["technique"])
    from annotate.schema import load_schema

    corpus.check_row(r, load_schema())
    m = corpus.merge(r)
    assert [(x["start"], x["end"], x["text"]) for x in m.spans] == [(start, end, text[start:end])]


SPANS = st.lists(
    st.tuples(st.integers(0, 200), st.integers(1, 60)).map(lambda t: (t[0], t[0] + t[1])),
    max_size=8,
)


@settings(max_examples=200, deadline=None)
@given(SPANS, SPANS)
def test_si_measure_properties(pred, gold):
    r = si_prf([pred], [gold])
    assert all(0.0 <= v <= 1.0 + 1e-9 for v in r.values())
    if gold:
        assert si_prf([gold], [gold])["f1"] == pytest.approx(1.0)
    # precision and recall swap when prediction and gold swap (after merging both)
    swapped = si_prf([merge_overlaps(gold)], [merge_overlaps(pred)])
    assert swapped["precision"] == pytest.approx(r["recall"])
    assert swapped["recall"] == pytest.approx(r["precision"])


def test_a_50_mb_document_is_read_whole(tmp_path):
    text = ("Propaganda repeats itself. " * 40 + "\n") * 46_000  # ~50 MB
    path = tmp_path / "big.txt"
    path.write_text(text, encoding="utf-8", newline="")
    (doc,) = list(iter_documents([path]))
    assert len(doc.text) == len(text) and doc.text[-50:] == text[-50:]


def test_a_million_tiny_documents_stream(tmp_path):
    path = tmp_path / "tiny.jsonl"
    with open(path, "w") as f:
        for i in range(1_000_000):
            f.write(json.dumps({"id": str(i), "text": "x"}) + "\n")
    n = 0
    for n, doc in enumerate(iter_documents([path]), 1):  # noqa: B007
        pass
    assert n == 1_000_000 and doc.id == "999999"


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.jsonl"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk on fire")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.jsonl"]
    with atomic_path(tmp_path / "d", directory=True) as tmp:
        (tmp / "f").write_text("x")
    with pytest.raises(KeyboardInterrupt), atomic_path(tmp_path / "d", directory=True) as tmp:
        (tmp / "g").write_text("y")
        raise KeyboardInterrupt
    assert os.listdir(tmp_path / "d") == ["f"]
    assert sorted(os.listdir(tmp_path)) == ["d", "out.jsonl"]
