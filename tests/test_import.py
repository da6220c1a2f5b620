"""`annotate import ptc|semeval2023` on the real shared corpora, and on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from annotate import cli
from annotate.cli import main
from annotate.corpus import corpus_info, read_corpus
from annotate.formats.ptc import ptc_rows
from annotate.formats.semeval2023 import semeval2023_rows

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
PTC = DATA / "ptc"
SE = DATA / "semeval2023"
LABEL_MAP = ROOT / "docs" / "label-maps" / "semeval2023-to-ptc.tsv"

needs_data = pytest.mark.skipif(not PTC.is_dir(), reason="../shared/data not present")


def run_cli(args: list[str], capsys, monkeypatch) -> tuple[int, str, str]:
    """Run the `annotate` entry point in this process; (exit status, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["annotate", *map(str, args)])
    # rich wraps at 80 columns when not on a terminal, even inside a long path
    monkeypatch.setattr(cli.err, "width", 10_000)
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def raw_text(path: Path) -> str:
    return path.read_bytes().decode("utf-8")  # not utf-8-sig: a BOM is character 0


# ---- the real corpora ------------------------------------------------------------------


@pytest.fixture(scope="module")
def ptc_corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ptc") / "corpus"
    code = subprocess.run(
        [sys.executable, "-m", "annotate", "import", "ptc", PTC / "train-articles",
         PTC / "train-labels-task-tc", "--out", out],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert code.returncode == 0, code.stderr
    return out


@needs_data
def test_ptc_counts_and_labels(ptc_corpus):
    ds = read_corpus(ptc_corpus)
    assert len(ds) == 371
    lines = (PTC / "train-task2-TC.labels").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 6129  # one line is there twice, kept once
    assert len(set(lines)) == 6128
    labels = Counter(s["label"] for r in ds for s in r["spans"])
    assert sum(labels.values()) == 6128
    assert labels["Loaded_Language"] == 2123
    assert labels["Name_Calling,Labeling"] == 1058
    assert labels["Repetition"] == 621
    assert labels["Doubt"] == 493
    assert len(labels) == 14
    assert all(r["annotated"] == ["technique"] for r in ds)
    info = corpus_info(ptc_corpus)
    assert info["counts"]["spans"] == 6128
    assert info["source"]["duplicate_label_lines"] == 1


@needs_data
def test_ptc_span_texts_match_the_files(ptc_corpus):
    rows = {r["id"]: r for r in read_corpus(ptc_corpus)}
    # every span's text is the file's text at its offsets (BOM and emoji included)
    for line in (PTC / "train-task2-TC.labels").read_text(encoding="utf-8").splitlines()[::97]:
        doc_id, label, start, end = line.split("\t")
        text = raw_text(PTC / "train-articles" / f"article{doc_id}.txt")
        found = [s for s in rows[doc_id]["spans"] if (s["start"], s["end"], s["label"]) ==
                 (int(start), int(end), label)]  # fmt: skip
        assert len(found) == 1 and found[0]["text"] == text[int(start) : int(end)]
    first = {(s["label"], s["start"]): s["text"] for s in rows["111111111"]["spans"]}
    assert first[("Doubt", 149)] == "appeared"
    assert first[("Repetition", 1069)] == "a very, very different"
    # two articles start with a BOM, kept as character 0
    bom = [r for r in rows.values() if r["text"].startswith("\ufeff")]
    assert sorted(r["id"] for r in bom) == ["705409419", "712382330"]
    assert {s["start"]: s["text"] for s in rows["705409419"]["spans"]}[138] == (
        "a devastating letter"
    )
    # a span after a non-BMP character (emoji)
    doc = rows["769752554"]
    spans = {s["start"]: s["text"] for s in doc["spans"]}
    assert any(ord(c) > 0xFFFF for c in doc["text"][:1656])
    assert spans[1656] == "shit nigga"


@needs_data
def test_ptc_single_file_equals_folder():
    rows_folder, _ = ptc_rows(PTC / "train-articles", PTC / "train-labels-task-tc")
    rows_file, stats = ptc_rows(PTC / "train-articles", PTC / "train-task2-TC.labels")
    assert rows_file == rows_folder
    assert stats["duplicate_label_lines"] == 1


@needs_data
def test_semeval2023_spans_need_and_use_the_label_map(tmp_path, capsys, monkeypatch):
    out = tmp_path / "se"
    args = ["import", "semeval2023", SE / "articles-subtask-3", "--spans",
            SE / "labels-subtask-3-spans", "--out", out]  # fmt: skip
    code, _, err = run_cli(args, capsys, monkeypatch)
    assert code == 2 and "label-map" in err and "line" in err and not out.exists()
    code, stdout, err = run_cli([*args, "--label-map", LABEL_MAP], capsys, monkeypatch)
    assert code == 0, err
    ds = read_corpus(out)
    assert len(ds) == 371
    labels = Counter(s["label"] for r in ds for s in r["spans"])
    # 6,136 lines; Obfuscation-Vagueness-Confusion (16) has no counterpart and is dropped
    assert sum(labels.values()) == 6136 - 16
    assert labels["Whataboutism,Straw_Men,Red_Herring"] == 35 + 33 + 17 + 13
    assert labels["Bandwagon,Reductio_ad_hitlerum"] == 59 + 14
    assert corpus_info(out)["source"]["dropped_labels"] == {"Obfuscation-Vagueness-Confusion": 16}
    assert all(r["annotated"] == ["technique"] for r in ds)
    row = next(r for r in ds if r["id"] == "111111111")
    text = raw_text(SE / "articles-subtask-3" / "article111111111.txt")
    assert {(s["label"], s["text"]) for s in row["spans"]} >= {
        ("Doubt", text[149:157]),
        ("Appeal_to_Authority", text[265:323]),
    }


@needs_data
def test_semeval2023_frames():
    rows, stats = semeval2023_rows(
        SE / "articles-subtask-1-2", frames=SE / "train-labels-subtask-2.txt"
    )
    assert len(rows) == 351 and stats["documents_with_frames"] == 351
    n_frames = sum(len(r["doc_labels"]) for r in rows)
    assert 3.6 < n_frames / len(rows) < 3.8
    assert all(r["annotated"] == ["frame"] and not r["spans"] for r in rows)
    line = (SE / "train-labels-subtask-2.txt").read_text(encoding="utf-8").splitlines()[0]
    doc_id, frames = line.split("\t")
    row = next(r for r in rows if r["id"] == doc_id)
    assert sorted(d["label"] for d in row["doc_labels"]) == sorted(frames.split(","))
    assert {d["annotator"] for d in row["doc_labels"]} == {"gold"}


@needs_data
def test_semeval2023_frames_and_spans_together():
    rows, _ = semeval2023_rows(
        SE / "articles-subtask-3",
        frames=SE / "train-labels-subtask-2.txt",
        spans=SE / "labels-subtask-3-spans",
        label_map=LABEL_MAP,
    )
    annotated = Counter(tuple(r["annotated"]) for r in rows)
    assert annotated == {("frame", "technique"): 351, ("technique",): 20}


# ---- bad input --------------------------------------------------------------------------


@pytest.fixture
def small(tmp_path) -> Path:
    arts = tmp_path / "articles"
    arts.mkdir()
    (arts / "article1.txt").write_text("Title\n\nThey are brutal terrorists.\n", encoding="utf-8")
    (arts / "article2.txt").write_text("\ufeffAnother one 😀 evil plan.\n", encoding="utf-8")
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "a1.labels").write_text(
        "1\tLoaded_Language\t16\t22\n1\tName_Calling,Labeling\t23\t33\n"
        "1\tLoaded_Language\t16\t22\n",
        encoding="utf-8",
    )
    (labels / "a2.labels").write_text("2\tLoaded_Language\t15\t19\n", encoding="utf-8")
    return tmp_path


def test_small_import_ok(small, capsys, monkeypatch):
    out = small / "out"
    args = ["import", "ptc", small / "articles", small / "labels", "--out", out]
    code, stdout, err = run_cli(args, capsys, monkeypatch)
    assert code == 0, err
    rows = {r["id"]: r for r in read_corpus(out)}
    assert [s["text"] for s in rows["1"]["spans"]] == ["brutal", "terrorists"]
    assert [s["text"] for s in rows["2"]["spans"]] == ["evil"]
    assert "2 documents, 3 spans" in stdout


@pytest.mark.parametrize(
    "content, expected, line",
    [
        ("1\tLoaded_Language\t16\t22\n1\tLoaded_Language\t20\t99\n", "outside the text", 2),
        ("1\tLoaded_Language\t-1\t5\n", "outside the text", 1),
        ("1\tLoaded_Language\t10\t10\n", "outside the text", 1),
        ("\n1\tNot_A_Technique\t16\t22\n", "not a 'technique' label", 2),
        ("1\tLoaded_Language\t16\t22\n7\tLoaded_Language\t0\t3\n", "no article7.txt", 2),
        ("1\tLoaded_Language\t16\n", "4 tab-separated columns", 1),
        ("1\t16\t22\n", "span-identification", 1),
        ("1 Loaded_Language 16 22\n", "4 tab-separated columns", 1),
        ("1\tLoaded_Language\tsixteen\t22\n", "must be integers", 1),
    ],
)
def test_bad_label_files(small, capsys, monkeypatch, content, expected, line):
    bad = small / "labels" / "a3.labels"
    bad.write_text(content, encoding="utf-8")
    out = small / "out"
    code, stdout, err = run_cli(
        ["import", "ptc", small / "articles", small / "labels", "--out", out], capsys, monkeypatch
    )
    message = " ".join(err.split())  # rich may wrap long lines
    assert code == 2
    assert "a3.labels" in message and f"line {line}" in message and expected in message
    assert "Traceback" not in err
    assert not out.exists()


def test_invalid_utf8(small, capsys, monkeypatch):
    out = small / "out"
    (small / "labels" / "a3.labels").write_bytes(
        b"1\tLoaded_Language\t16\t22\n2\tDoubt\xff\t0\t2\n"
    )
    code, _, err = run_cli(
        ["import", "ptc", small / "articles", small / "labels", "--out", out], capsys, monkeypatch
    )
    message = " ".join(err.split())
    assert code == 2 and "a3.labels" in message and "line 2" in message and "UTF-8" in message
    assert not out.exists()
    (small / "labels" / "a3.labels").unlink()
    (small / "articles" / "article3.txt").write_bytes(b"caf\xe9\n")
    code, _, err = run_cli(
        ["import", "ptc", small / "articles", small / "labels", "--out", out], capsys, monkeypatch
    )
    assert code == 2 and "article3.txt" in " ".join(err.split()) and not out.exists()


def test_bad_input_leaves_existing_output_unchanged(small, capsys, monkeypatch):
    out = small / "out"
    args = ["import", "ptc", small / "articles", small / "labels", "--out", out]
    assert run_cli(args, capsys, monkeypatch)[0] == 0
    before = (out / "corpus.json").read_text()
    (small / "labels" / "a3.labels").write_text("2\tDoubt\t0\t500\n", encoding="utf-8")
    assert run_cli(args, capsys, monkeypatch)[0] == 2
    assert (out / "corpus.json").read_text() == before
    assert sorted(p.name for p in small.iterdir()) == ["articles", "labels", "out"]


def test_missing_paths(small, capsys, monkeypatch):
    out = small / "out"
    code, _, err = run_cli(
        ["import", "ptc", small / "nope", small / "labels", "--out", out], capsys, monkeypatch
    )
    assert code == 2 and "nope" in err and not out.exists()
    code, _, err = run_cli(
        ["import", "ptc", small / "articles", small / "nolabels", "--out", out], capsys, monkeypatch
    )
    assert code == 2 and "nolabels" in err and not out.exists()


def test_label_map_drops_and_renames(small, capsys, monkeypatch):
    (small / "labels" / "a3.labels").write_text(
        "1\tTheir_Loaded\t16\t22\n1\tUnmapped_Thing\t0\t5\n", encoding="utf-8"
    )
    lm = small / "map.tsv"
    lm.write_text("# comment\nTheir_Loaded\tLoaded_Language\nUnmapped_Thing\t\n", encoding="utf-8")
    out = small / "out"
    args = ["import", "ptc", small / "articles", small / "labels", "--out", out]
    code, stdout, err = run_cli([*args, "--label-map", lm], capsys, monkeypatch)
    assert code == 0, err
    rows = {r["id"]: r for r in read_corpus(out)}
    # Their_Loaded 16-22 became Loaded_Language 16-22, identical to a line already there
    assert [(s["label"], s["text"]) for s in rows["1"]["spans"]] == [
        ("Loaded_Language", "brutal"),
        ("Name_Calling,Labeling", "terrorists"),
    ]
    info = json.loads((out / "corpus.json").read_text())
    assert info["source"]["dropped_labels"] == {"Unmapped_Thing": 1}
    assert info["source"]["duplicate_label_lines"] == 2
    lm.write_text("Their_Loaded Loaded_Language\n", encoding="utf-8")
    out2 = small / "out2"
    code, _, err = run_cli(
        ["import", "ptc", small / "articles", small / "labels", "--out", out2, "--label-map", lm],
        capsys,
        monkeypatch,
    )
    assert code == 2 and "map.tsv" in err and "line 1" in err and not out2.exists()


def test_bad_frames_file(small, capsys, monkeypatch):
    frames = small / "frames.txt"
    out = small / "out"
    for content, expected, line in [
        ("1\tPolitical,Economic\n2\tNot_A_Frame\n", "not a 'frame' label", 2),
        ("1\tPolitical\n9\tEconomic\n", "no article9.txt", 2),
        ("1\tPolitical\n1\tEconomic\n", "listed twice", 2),
        ("1\tPolitical\textra\n", "id<TAB>Frame1", 1),
    ]:
        frames.write_text(content, encoding="utf-8")
        code, _, err = run_cli(
            ["import", "semeval2023", small / "articles", "--frames", frames, "--out", out],
            capsys,
            monkeypatch,
        )
        message = " ".join(err.split())
        assert code == 2, content
        assert "frames.txt" in message and f"line {line}" in message and expected in message
        assert not out.exists()
    frames.write_text("1\tPolitical,Economic\n2\t\n1\tEconomic,Political\n", encoding="utf-8")
    code, _, err = run_cli(
        ["import", "semeval2023", small / "articles", "--frames", frames, "--out", out],
        capsys,
        monkeypatch,
    )
    assert code == 0, err
    rows = {r["id"]: r for r in read_corpus(out)}
    assert [d["label"] for d in rows["1"]["doc_labels"]] == ["Economic", "Political"]
    assert rows["2"]["annotated"] == ["frame"] and rows["2"]["doc_labels"] == []


def test_semeval2023_needs_frames_or_spans_and_checks_span_files(small, capsys, monkeypatch):
    out = small / "out"
    code, _, err = run_cli(
        ["import", "semeval2023", small / "articles", "--out", out], capsys, monkeypatch
    )
    assert code == 2 and "--frames" in err and not out.exists()
    spans = small / "spans"
    spans.mkdir()
    (spans / "article1-labels-subtask-3.txt").write_text(
        "1\tLoaded_Language\t16\t22\n1\tAppeal_to_Values\t0\t5\n", encoding="utf-8"
    )
    lm = small / "map.tsv"
    lm.write_text("Appeal_to_Values\t\n", encoding="utf-8")
    args = ["import", "semeval2023", small / "articles", "--spans", spans, "--out", out]
    code, _, err = run_cli(args, capsys, monkeypatch)
    message = " ".join(err.split())
    assert code == 2 and "article1-labels-subtask-3.txt, line 2" in message
    assert not out.exists()
    code, stdout, err = run_cli([*args, "--label-map", lm], capsys, monkeypatch)
    assert code == 0, err
    rows = {r["id"]: r for r in read_corpus(out)}
    assert [s["text"] for s in rows["1"]["spans"]] == ["brutal"]
    assert rows["2"]["annotated"] == ["technique"] and rows["2"]["spans"] == []
    assert "1 spans dropped by the label map" in " ".join(stdout.split())
