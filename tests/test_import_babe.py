"""`annotate import babe`: BABE sentences with their biased words as Loaded_Language spans."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_import import run_cli

from annotate.corpus import read_corpus

BABE = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "babe"
HEADER = "text;news_link;outlet;topic;type;label_bias;label_opinion;biased_words\n"


def write_csv(path: Path, *records: str) -> Path:
    path.write_text(HEADER + "".join(r + "\n" for r in records), encoding="utf-8")
    return path


def test_small_babe_file(tmp_path, capsys, monkeypatch):
    src = write_csv(
        tmp_path / "babe.csv",
        '"The radical left\'s Radical plan, ""radical"" indeed.";http://x;Fox News;guns;right;'
        "Biased;Expresses writer’s opinion;['radical', 'plan']",
        "A plain sentence.;http://y;Reuters;guns;center;Non-biased;Entirely factual;[]",
        "Biased, no words given.;http://z;Alternet;guns;left;Biased;Somewhat factual;[]",
        "Misspelt word listed.;http://w;MSNBC;guns;left;Biased;Somewhat factual;['mispelt']",
    )
    out = tmp_path / "corpus"
    code, stdout, stderr = run_cli(["import", "babe", src, "--out", out], capsys, monkeypatch)
    assert code == 0, stderr
    stdout = " ".join(stdout.split())  # rich wraps at 80 columns in a pipe
    assert "4 documents, 4 Loaded_Language spans" in stdout
    assert "1 listed words not found" in stdout
    rows = {r["id"]: r for r in read_corpus(out)}
    first = rows["babe-1"]
    text = first["text"]
    assert [(s["start"], s["end"]) for s in first["spans"]] == [
        (4, 11),
        (19, 26),
        (27, 31),
        (34, 41),
    ]
    assert all(s["label"] == "Loaded_Language" and s["annotator"] == "gold" for s in first["spans"])
    assert all(text[s["start"] : s["end"]] == s["text"] for s in first["spans"])
    assert first["annotated"] == ["technique"]
    meta = json.loads(first["meta"])
    assert meta["outlet"] == "Fox News" and meta["label_bias"] == "Biased"
    assert meta["topic"] == "guns" and meta["type"] == "right"
    assert rows["babe-2"]["annotated"] == ["technique"] and rows["babe-2"]["spans"] == []
    assert rows["babe-3"]["annotated"] == []  # biased, but nobody said which words


@pytest.mark.parametrize(
    "record, message",
    [
        ("Text.;u;o;t;y;Biased;op;['unclosed'", "biased_words is not a list literal"),
        ("Text.;u;o;t;y;Biased;op;__import__('os')", "biased_words is not a list literal"),
        ("Text.;u;o;t;y;Biased;op;[1, 2]", "biased_words is not a list of strings"),
        (";u;o;t;y;Biased;op;[]", "record has no text"),
    ],
)
def test_bad_rows_name_the_line(tmp_path, capsys, monkeypatch, record, message):
    src = write_csv(tmp_path / "bad.csv", "Fine.;u;o;t;y;Non-biased;op;[]", record)
    out = tmp_path / "corpus"
    code, _, stderr = run_cli(["import", "babe", src, "--out", out], capsys, monkeypatch)
    assert code == 2
    assert message in stderr and "line 3" in stderr and str(src) in stderr
    assert "Traceback" not in stderr
    assert not out.exists()


def test_not_a_babe_file(tmp_path, capsys, monkeypatch):
    src = tmp_path / "other.csv"
    src.write_text("a,b\n1,2\n", encoding="utf-8")
    code, _, stderr = run_cli(["import", "babe", src, "--out", tmp_path / "c"], capsys, monkeypatch)
    assert code == 2 and "not a BABE CSV" in stderr
    src.write_bytes(HEADER.encode() + b"\xff\xfe;u;o;t;y;Biased;op;[]\n")
    code, _, stderr = run_cli(["import", "babe", src, "--out", tmp_path / "c"], capsys, monkeypatch)
    assert code == 2 and "not valid UTF-8" in stderr


@pytest.mark.skipif(not BABE.is_dir(), reason="../shared/data not present")
def test_real_babe(tmp_path, capsys, monkeypatch):
    out = tmp_path / "babe"
    code, stdout, stderr = run_cli(
        ["import", "babe", BABE / "babe-sg2-train.csv", "--out", out], capsys, monkeypatch
    )
    assert code == 0, stderr
    rows = list(read_corpus(out))
    assert len(rows) == 2939
    with_spans = [r for r in rows if r["spans"]]
    assert len(with_spans) > 1400
    assert all(len(s["text"].split()) == 1 for r in with_spans for s in r["spans"])
