"""Reading documents: every format, exact text, and bad input named precisely."""

import json
import subprocess
import sys

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annotate.documents import iter_documents, read_documents, read_text_file
from annotate.errors import BadInput

SEED = "seeds/000_62e5311f9cbaaa12.txt"


def test_seed_is_read_byte_for_byte():
    (doc,) = read_documents([SEED])
    assert doc.id == "000_62e5311f9cbaaa12"
    with open(SEED, "rb") as f:
        assert doc.text.encode("utf-8") == f.read()


def test_every_format_gives_the_same_documents(tmp_path):
    texts = {"a": "\ufeffBOM first\r\nthen CRLF", "b": "emoji 😀 and é", "c": "plain"}
    (tmp_path / "txt").mkdir()
    for k, v in texts.items():
        (tmp_path / "txt" / f"{k}.txt").write_bytes(v.encode("utf-8"))
    rows = [{"id": k, "text": v, "outlet": "x"} for k, v in texts.items()]
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (tmp_path / "d.json").write_text(json.dumps(rows))
    pd.DataFrame(rows).to_csv(tmp_path / "d.csv", index=False)
    pd.DataFrame(rows).to_parquet(tmp_path / "d.parquet")
    for src in ["txt", "d.jsonl", "d.json", "d.csv", "d.parquet"]:
        docs = read_documents([tmp_path / src])
        assert {d.id: d.text for d in docs} == texts, src
    (doc,) = [d for d in read_documents([tmp_path / "d.jsonl"]) if d.id == "a"]
    assert doc.meta["outlet"] == "x"


@pytest.mark.parametrize(
    "name, content, where",
    [
        ("bad.txt", b"ok\n\xff\xfe broken", "line 2"),
        ("bad.jsonl", b'{"id": "1", "text": "a"}\n{"id": "2", "text": "b"\n', "line 2"),
        ("bad.jsonl", b'{"id": "1", "text": "a"}\n{"id": "2"}\n', "line 2"),
        ("bad.jsonl", b'{"id": "1", "text": "a"}\n{"id": "1", "text": "b"}\n', "line 2"),
        ("bad.jsonl", b'{"id": "1", "text": 5}\n', "line 1"),
        ("bad.jsonl", b'{"id": "1", "text": "a"}\n\xff\n', "line 2"),
        ("bad.json", b'[{"id": "1", "text": "a"}, {"id": "2"}]', "record 2"),
        ("bad.json", b'[{"id": "1", "text": "a"}', "line 1"),
        ("bad.csv", b"id,title\n1,x\n", "line 1"),
        ("bad.csv", b'id,text\n1,"unterminated\n', "bad.csv"),
        ("bad.parquet", b"PAR1 not really", "bad.parquet"),
    ],
)
def test_bad_input_names_file_and_record(tmp_path, name, content, where):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(BadInput) as exc:
        read_documents([path])
    assert str(path) in str(exc.value)
    assert where in str(exc.value)


def test_missing_path_and_unsupported_type(tmp_path):
    with pytest.raises(BadInput, match="no such file"):
        read_documents([tmp_path / "nope"])
    (tmp_path / "x.docx").write_text("x")
    with pytest.raises(BadInput, match="unsupported"):
        read_documents([tmp_path / "x.docx"])


def test_duplicate_ids_across_files(tmp_path):
    (tmp_path / "a.txt").write_text("one")
    (tmp_path / "b.jsonl").write_text('{"id": "a", "text": "two"}\n')
    with pytest.raises(BadInput, match="duplicate document id 'a'"):
        read_documents([tmp_path])


def test_empty_document_is_a_warning(tmp_path, caplog):
    (tmp_path / "e.txt").write_text("  \n")
    (doc,) = read_documents([tmp_path])
    assert doc.text == "  \n"
    assert "empty" in caplog.text


def test_documents_stream_lazily(tmp_path):
    path = tmp_path / "big.jsonl"
    path.write_text('{"id": "1", "text": "a"}\n{"id": "2"}\n')
    it = iter_documents([path])
    assert next(it).id == "1"  # the bad record is only reached when read
    with pytest.raises(BadInput):
        next(it)


def test_cli_exit_2_without_traceback(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "1"}\n')
    proc = subprocess.run(
        [sys.executable, "-m", "annotate", "score", str(bad), "--out", str(tmp_path / "o.jsonl")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert str(bad) in proc.stderr.replace("\n", "") and "line 1" in proc.stderr
    assert not (tmp_path / "o.jsonl").exists()


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_any_text_round_trips_exactly(tmp_path_factory, text):
    d = tmp_path_factory.mktemp("h")
    (d / "t.txt").write_bytes(text.encode("utf-8"))
    (d / "t2.jsonl").write_text(json.dumps({"id": "j", "text": text}) + "\n")
    assert read_text_file(d / "t.txt") == text
    docs = {doc.id: doc.text for doc in read_documents([d])}
    assert docs == {"t": text, "j": text}
