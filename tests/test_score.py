"""`annotate score`: records, order, engines giving identical output, formats, atomic output."""

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from annotate.cli import run_score
from annotate.documents import Document, read_documents, read_text_file
from annotate.errors import BadInput
from annotate.scoring import outputs, packing, score, score_documents

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "000_62e5311f9cbaaa12.txt"
FIXTURE = ROOT / "tests" / "fixtures" / "seed_repeats.json"
PTC = ROOT.parent / "shared" / "data" / "ptc" / "train-articles"
ANNOTATE = [sys.executable, "-m", "annotate"]

needs_ptc = pytest.mark.skipif(not PTC.is_dir(), reason="../shared/data/ptc not present")


def ptc_texts(n: int) -> list[tuple[str, str]]:
    paths = sorted(PTC.glob("article*.txt"))[:n]
    return [(p.stem, read_text_file(p)) for p in paths]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """60 real articles plus copies (whole, and a passage of one spliced into another)."""
    d = tmp_path_factory.mktemp("corpus")
    rows = [{"id": i, "text": t, "outlet": "ptc"} for i, t in ptc_texts(60)]
    rows.append({"id": "copy-of-3", "text": rows[3]["text"]})
    rows.append({"id": "splice", "text": rows[10]["text"][:900] + " " + rows[40]["text"][-700:]})
    first, rest = rows[:35], rows[35:]
    with open(d / "a.jsonl", "w", encoding="utf-8") as f:
        for r in first:
            f.write(json.dumps(r) + "\n")
    pd.DataFrame(rest).to_parquet(d / "b.parquet")
    return d


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_seed_record_has_only_repeat_spans():
    (record,) = score_documents(read_documents([SEED]))
    fixture = json.loads(FIXTURE.read_text(encoding="utf-8"))["occurrences"]
    assert set(record) == {"id", "spans"}  # no model: no propaganda, frames, frame_labels
    assert record["id"] == SEED.stem
    assert [(s["start"], s["end"]) for s in record["spans"]] == [
        (o["start"], o["end"]) for o in fixture
    ]
    text = read_text_file(SEED)
    for s in record["spans"]:
        assert s["source"] == "repeats" and s["label"] == "Repetition"
        assert s["text"] == text[s["start"] : s["end"]]
        assert 0 < s["score"] <= 1
        assert s["of"]["id"] == SEED.stem
        copy = text[s["of"]["start"] : s["of"]["end"]]
        assert re.findall(r"\w+", copy.lower()) == re.findall(r"\w+", s["text"].lower())


@needs_ptc
def test_one_and_two_workers_give_identical_output_in_input_order(corpus, tmp_path):
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    score([corpus], out=one, workers=1, batch_size=7)
    score([corpus], out=two, workers=2, batch_size=7)
    assert one.read_bytes() == two.read_bytes()
    records = read_jsonl(one)
    assert [r["id"] for r in records] == [d.id for d in read_documents([corpus])]
    by_id = {r["id"]: r for r in records}
    # the whole-article copy points to its original, the splice to both sources
    copy = by_id["copy-of-3"]["spans"]
    original = records[3]["id"]
    assert copy and {s["of"]["id"] for s in copy} >= {original}
    assert {s["of"]["id"] for s in by_id["splice"]["spans"]} >= {
        records[10]["id"],
        records[40]["id"],
    }
    assert any(s["of"]["id"] == "copy-of-3" for s in by_id[original]["spans"])
    # the same records as the in-memory API
    assert records == list(score_documents(read_documents([corpus])))


@needs_ptc
def test_dask_engine_gives_identical_output(corpus, tmp_path):
    pytest.importorskip("distributed")
    local, dask = tmp_path / "local.jsonl", tmp_path / "dask.jsonl"
    score([corpus], out=local, workers=1, batch_size=9)
    summary = run_score([corpus], out=dask, engine="dask", workers=2, batch_size=9)
    assert "62 documents" in summary
    assert local.read_bytes() == dask.read_bytes()


@needs_ptc
def test_dask_cluster_at_an_address_gets_the_bytes_and_gives_identical_output(
    corpus, tmp_path, monkeypatch
):
    """A cluster we did not start (--scheduler) may be on other machines: pass 2 inputs travel
    with the jobs instead of being read through /proc."""
    distributed = pytest.importorskip("distributed")
    from annotate.scoring import spool

    shipped = []
    real_read = spool.Spool.read

    def counting_read(self, offset, length):
        shipped.append(length)
        return real_read(self, offset, length)

    monkeypatch.setattr(spool.Spool, "read", counting_read)
    local, remote = tmp_path / "local.jsonl", tmp_path / "remote.jsonl"
    score([corpus], out=local, workers=1, batch_size=9)
    assert not shipped
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster:
        score([corpus], out=remote, engine="dask", scheduler=cluster.scheduler_address,
              batch_size=9)  # fmt: skip
    assert sum(shipped) > sum(len(d.text) for d in read_documents([corpus]))
    assert local.read_bytes() == remote.read_bytes()


@needs_ptc
def test_csv_and_parquet_hold_the_same_records(corpus, tmp_path):
    score([corpus], out=tmp_path / "r.jsonl", workers=1)
    score([corpus], out=tmp_path / "r.csv", workers=1)
    score([corpus], out=tmp_path / "r.parquet", workers=1)
    want = [{"id": r["id"], "spans": r["spans"]} for r in read_jsonl(tmp_path / "r.jsonl")]
    for frame in (
        pd.read_csv(tmp_path / "r.csv", dtype={"id": str}, keep_default_na=False),
        pd.read_parquet(tmp_path / "r.parquet"),
    ):
        assert list(frame.columns) == ["id", "spans", "meta"]  # the corpus has an outlet
        got = [{"id": r.id, "spans": json.loads(r.spans)} for r in frame.itertuples()]
        assert got == want


def test_meta_round_trips_through_jsonl_parquet_and_csv(tmp_path):
    """A record's `meta` is the input's other fields (absent when there are none, the
    reader's own `source` not counted); CSV and parquet hold it as JSON text."""
    text = read_text_file(SEED)
    rows = [
        {"id": "a", "text": text, "outlet": "Example Times", "date": "2020-05-01",
         "url": "https://example.org/a", "title": "Étude ✓ \"quoted\", with commas"},
        {"id": "b", "text": "A short note without other fields."},
        {"id": "c", "text": text[:1500], "meta": {"outlet": "Other", "tags": ["x", "y"], "n": 3}},
    ]  # fmt: skip
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n")
    want = {
        "a": {k: v for k, v in rows[0].items() if k not in ("id", "text")},
        "b": None,
        "c": rows[2]["meta"],
    }
    in_memory = list(score_documents(read_documents([src])))
    assert {r["id"]: r.get("meta") for r in in_memory} == want
    assert "meta" not in in_memory[1]
    score([src], out=tmp_path / "r.jsonl", workers=2, batch_size=1)
    assert read_jsonl(tmp_path / "r.jsonl") == in_memory
    score([src], out=tmp_path / "r.csv", workers=1)
    score([src], out=tmp_path / "r.parquet", workers=1)
    csv_rows = pd.read_csv(tmp_path / "r.csv", dtype=str, keep_default_na=False)
    parquet_rows = pd.read_parquet(tmp_path / "r.parquet")
    for frame, absent in ((csv_rows, ""), (parquet_rows, None)):
        assert list(frame.columns) == ["id", "spans", "meta"]
        got = {r.id: None if r.meta == absent else json.loads(r.meta) for r in frame.itertuples()}
        assert got == want
        assert [json.loads(s) for s in frame.spans] == [r["spans"] for r in in_memory]


def test_stdin_to_stdout(tmp_path):
    text = read_text_file(SEED)
    lines = [json.dumps({"id": "x", "text": text}), json.dumps({"id": "y", "text": "hello"})]
    proc = subprocess.run(
        [*ANNOTATE, "score", "-", "--workers", "1"],
        input="\n".join(lines).encode(),
        capture_output=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    records = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert [r["id"] for r in records] == ["x", "y"]
    assert len(records[0]["spans"]) == 12 and records[1]["spans"] == []


def test_failing_input_leaves_no_partial_output(tmp_path):
    good = tmp_path / "in" / "a.jsonl"
    good.parent.mkdir()
    good.write_text(
        "\n".join(json.dumps({"id": f"d{i}", "text": f"text number {i}"}) for i in range(50)) + "\n"
    )
    (tmp_path / "in" / "b.jsonl").write_text('{"id": "z", "text": "fine"}\n{"id": "broken", \n')
    out = tmp_path / "out.jsonl"
    with pytest.raises(BadInput, match="b.jsonl"):
        score([tmp_path / "in"], out=out, workers=2, batch_size=4)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["in"]  # no temporary files left either
    out.write_text("previous\n")
    proc = subprocess.run(
        [*ANNOTATE, "score", str(tmp_path / "in"), "--out", str(out)],
        capture_output=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "b.jsonl" in proc.stderr.decode() and "Traceback" not in proc.stderr.decode()
    assert out.read_text() == "previous\n"


def test_bad_options_are_bad_input(tmp_path):
    with pytest.raises(BadInput):
        score([SEED], out=tmp_path / "x.txt")
    with pytest.raises(BadInput):
        score([SEED], engine="spark")
    with pytest.raises(BadInput):
        score([tmp_path / "missing"], out=tmp_path / "x.jsonl")


class StandInModel:
    """Has the Model.predict interface (INTERFACES.md); marks the first word of each text."""

    model_version = "stand-in-1"

    def predict(self, texts):
        out = []
        for t in texts:
            end = len(t.split(" ")[0]) if t else 0
            spans = [{"start": 0, "end": end, "text": "", "label": "Loaded_Language", "score": 0.5}]
            out.append(
                {
                    "propaganda": 0.25,
                    "frames": {"Political": 0.9, "Economic": 0.1},
                    "frame_labels": ["Political"],
                    "spans": [dict(s, source="model") for s in spans if end],
                }
            )
        return out


def test_model_predictions_join_the_repeat_spans(tmp_path):
    text = read_text_file(SEED)
    docs = [Document("a", text), Document("b", "Short note. " + text[1022:1285])]
    records = list(score_documents(docs, model=StandInModel()))
    a, b = records
    assert a["propaganda"] == 0.25 and a["frame_labels"] == ["Political"]
    assert a["frames"] == {"Political": 0.9, "Economic": 0.1}
    assert a["spans"][0] == {
        "start": 0,
        "end": 3,
        "text": "The",
        "label": "Loaded_Language",
        "score": 0.5,
        "source": "model",
    }
    assert [s["start"] for s in a["spans"]] == sorted(s["start"] for s in a["spans"])
    assert {s["source"] for s in a["spans"]} == {"model", "repeats"}
    assert any(s["source"] == "repeats" and s["of"]["id"] == "a" for s in b["spans"])
    # the same through the streaming scorer, with a process pool, and CSV columns
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps({"id": d.id, "text": d.text}) for d in docs) + "\n")
    score([src], model=StandInModel(), out=tmp_path / "o.jsonl", workers=2, batch_size=1)
    assert read_jsonl(tmp_path / "o.jsonl") == records
    score([src], model=StandInModel(), out=tmp_path / "o.csv", workers=1)
    frame = pd.read_csv(tmp_path / "o.csv")
    assert list(frame.columns) == ["id", "propaganda", "frames", "frame_labels", "spans"]


def test_cli_writes_summary_and_file(tmp_path):
    out = tmp_path / "seed.parquet"
    proc = subprocess.run(
        [*ANNOTATE, "score", str(SEED), "--out", str(out), "--workers", "1"],
        capture_output=True,
        cwd=ROOT,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert "12 repeated-passage spans" in proc.stderr.decode()
    frame = pd.read_parquet(out)
    assert frame.id.tolist() == [SEED.stem] and len(json.loads(frame.spans[0])) == 12


class ExplodingModel(StandInModel):
    def predict(self, texts):
        if any("boom" in t for t in texts):
            raise RuntimeError("model failed")
        return super().predict(texts)


def test_failure_while_writing_leaves_no_partial_output(tmp_path):
    src = tmp_path / "in.jsonl"
    rows = [{"id": f"d{i}", "text": "boom" if i == 30 else f"text {i}"} for i in range(40)]
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    for name in ("o.jsonl", "o.parquet", "o.csv"):
        with pytest.raises(RuntimeError):
            score([src], model=ExplodingModel(), out=tmp_path / name, workers=1, batch_size=4)
        assert not (tmp_path / name).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


# ---- with the real parts: a trained Model, a Label Studio server ------------------------------

SEMEVAL = ROOT.parent / "shared" / "data" / "semeval2023"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A real model trained on 20 SemEval-2023 articles (spans + frames)."""
    if not SEMEVAL.is_dir():
        pytest.skip("../shared/data/semeval2023 not present")
    from learn_helpers import tiny_semeval_model

    return tiny_semeval_model(tmp_path_factory.mktemp("tiny-score"))


@pytest.mark.slow
@needs_ptc
def test_real_model_scores_join_repeats_and_match_across_workers(tiny_model, corpus, tmp_path):
    from annotate.learn.model import Model
    from annotate.schema import load_schema

    schema = load_schema()
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    score([corpus], model=tiny_model, out=one, workers=1, batch_size=16)
    score([corpus], model=Model.load(tiny_model), out=two, workers=2, batch_size=16)
    assert one.read_bytes() == two.read_bytes()
    if importlib.util.find_spec("distributed"):  # the model is broadcast to each worker
        dask = tmp_path / "dask.jsonl"
        score([corpus], model=tiny_model, out=dask, engine="dask", workers=2, batch_size=16)
        assert dask.read_bytes() == one.read_bytes()
    records = read_jsonl(one)
    texts = {d.id: d.text for d in read_documents([corpus])}
    assert [r["id"] for r in records] == list(texts)
    sources = set()
    for r in records:
        assert 0.0 <= r["propaganda"] <= 1.0
        assert set(r["frames"]) == set(schema.frames)
        assert set(r["frame_labels"]) <= set(schema.frames)
        starts = [s["start"] for s in r["spans"]]
        assert starts == sorted(starts)
        for s in r["spans"]:
            sources.add(s["source"])
            assert s["text"] == texts[r["id"]][s["start"] : s["end"]]
            assert s["label"] in schema.techniques
    assert sources == {"model", "repeats"}
    proc = subprocess.run(
        [*ANNOTATE, "score", str(corpus), "--model", str(tiny_model), "--workers", "1",
         "--out", str(tmp_path / "cli.jsonl")],
        capture_output=True, cwd=ROOT, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    assert (tmp_path / "cli.jsonl").read_bytes() == one.read_bytes()


@pytest.mark.studio
def test_push_sends_repeat_predictions_to_label_studio(studio, monkeypatch, tmp_path):
    from annotate.repeats import MODEL_VERSION
    from annotate.roundtrip import push_documents

    for k, v in studio.env.items():
        monkeypatch.setenv(k, v)
    title = studio.new_project("score-push")
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "seed.txt").write_bytes(SEED.read_bytes())
    (folder / "plain.txt").write_text("Nothing repeated in this short note at all.")
    push_documents([folder], project=title)
    out = tmp_path / "scores.jsonl"
    summary = run_score([folder], out=out, push=True, project=title, workers=2, batch_size=1)
    # push_documents already attached the seed's repeats (same model version)
    assert "pushed 1, 1 already there, 0 without a task" in summary
    assert [r["id"] for r in read_jsonl(out)] == ["plain", "seed"]
    api = studio.api()
    tasks = list(api.tasks(api.find_project(title)["id"], fields="all"))
    preds = {
        t["data"]["doc_id"]: [p for p in t["predictions"] if p["model_version"] == MODEL_VERSION]
        for t in tasks
    }
    (seed_pred,) = preds["seed"]
    regions = [r for r in seed_pred["result"] if r.get("type") == "labels"]
    assert len(regions) == 12
    assert all(r["value"]["labels"] == ["Repetition"] for r in regions)
    assert any(r.get("type") == "relation" for r in seed_pred["result"])
    # pushing again adds nothing (already there), through the command line
    proc = subprocess.run(
        [*ANNOTATE, "score", str(folder), "--push", "--project", title, "--workers", "1",
         "--out", str(tmp_path / "again.jsonl")],
        capture_output=True, cwd=ROOT, timeout=300, env={**os.environ, **studio.env},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    assert "pushed 0, 2 already there" in proc.stderr.decode()


# ---- --push streams: fed batch by batch from pass 2, failures stop the run ------------------


def test_push_is_fed_batch_by_batch_while_records_are_written(tmp_path, monkeypatch):
    """A stand-in for push_predictions (the real one is tested against a server below) sees
    each record shortly after it is written, never the whole run at once."""
    from annotate.studio import tasks

    src = tmp_path / "in.jsonl"
    rows = [
        {"id": f"d{i}", "text": f"Document {i} has words of its own, {i} times."} for i in range(60)
    ]
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "out.jsonl"
    lag = []  # records written to the output but not yet seen by the push, at each record

    def fake_push(records, *, model_version, project="p"):
        n = 0
        for r in records:
            n += 1
            assert r["id"] == f"d{n - 1}"
            lag.append(len(out_records()) - n)
        return {"pushed": n, "already": 0, "missing": 0}

    def out_records() -> list[str]:
        tmp = [p for p in tmp_path.iterdir() if p.name not in ("in.jsonl",)]
        return [line for p in tmp for line in p.read_text().splitlines()]

    monkeypatch.setattr(tasks, "push_score_records", fake_push)
    real_write = outputs.JsonlWriter.write

    def write_and_flush(self, record):
        real_write(self, record)
        self.stream.flush()

    monkeypatch.setattr(outputs.JsonlWriter, "write", write_and_flush)
    summary = run_score([src], out=out, push=True, project="p", workers=2, batch_size=5)
    assert "pushed 60" in summary
    # behind by at most the queue (4 batches), the batch being pushed and the one just
    # written (6 x 5 records): never the whole run (55)
    assert len(lag) == 60 and max(lag) <= 6 * 5
    assert [r["id"] for r in read_jsonl(out)] == [r["id"] for r in rows]


def test_push_failure_stops_the_run_and_leaves_no_output(tmp_path, monkeypatch):
    from annotate.errors import StudioError
    from annotate.studio import tasks

    def no_project(records, *, model_version, project="p"):
        raise StudioError("Label Studio has no project titled 'p'")

    monkeypatch.setattr(tasks, "push_score_records", no_project)
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps({"id": f"d{i}", "text": f"t {i}"}) for i in range(40)))
    out = tmp_path / "out.jsonl"
    with pytest.raises(StudioError, match="no project"):
        run_score([src], out=out, push=True, project="p", workers=2, batch_size=4)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["in.jsonl"]


def test_packed_documents_round_trip_any_text():
    """The spool format: ids and texts of any Unicode (emoji, lone surrogates from JSON
    escapes), word ids and own occurrences come back exactly."""
    import numpy as np

    from annotate.repeats import Occurrence

    docs = [
        ("a", "plain words here", np.array([1, 2, 3], np.uint32), []),
        ("é😀", "Emoji 😀 and \ud800 a lone surrogate", np.array([7, 2**32 - 1], np.uint32),
         [Occurrence(0, 9, 0, 12, 21, 0.9375), Occurrence(12, 21, 5, 0, 9, 1.0)]),
        ("", "", np.zeros(0, np.uint32), []),
    ]  # fmt: skip
    packed = b"".join(packing.pack_document(*d) for d in docs)
    back = packing.unpack_documents(packed, 40)
    assert [d.index for d in back] == [40, 41, 42]
    for (doc_id, text, ids, within), d in zip(docs, back, strict=True):
        assert (d.id, d.text, d.ids.tolist(), d.within) == (doc_id, text, ids.tolist(), within)
