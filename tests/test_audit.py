"""`annotate audit`: deliberately corrupted labels on the real corpora must rank first."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest
from sklearn.metrics import roc_auc_score

from annotate import audit, corpus
from annotate.cli import main
from annotate.formats.ptc import ptc_rows
from annotate.formats.semeval2023 import semeval2023_rows
from annotate.schema import load_schema

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
PTC = DATA / "ptc"
SE = DATA / "semeval2023"

pytestmark = pytest.mark.skipif(not PTC.is_dir(), reason="../shared/data not present")


def corrupt_spans(rows: list[dict], share: float, seed: int) -> set[tuple[str, int, int, str]]:
    """Give `share` of all spans a random other technique; returns the corrupted spans' keys."""
    labels = load_schema().techniques
    rng = random.Random(seed)
    corrupted = set()
    for r in rows:
        for s in r["spans"]:
            if rng.random() < share:
                s["label"] = rng.choice([lab for lab in labels if lab != s["label"]])
                corrupted.add((r["id"], s["start"], s["end"], s["label"]))
    return corrupted


@pytest.mark.slow
def test_corrupted_span_labels_rank_far_above_clean_ones():
    rows, _ = ptc_rows(PTC / "train-articles", PTC / "train-labels-task-tc")
    corrupted = corrupt_spans(rows, 0.05, seed=7)
    assert 200 < len(corrupted) < 420  # about 5% of 6,128 spans

    result = audit.audit_rows(rows, folds=5, seed=0)

    items = result["spans"]["suspicious"]
    assert result["spans"]["checked"] == len(items) == sum(len(r["spans"]) for r in rows)
    scores = [it["suspicion"] for it in items]
    assert scores == sorted(scores, reverse=True)
    is_bad = [(it["doc_id"], it["start"], it["end"], it["label"]) in corrupted for it in items]
    auc = roc_auc_score(is_bad, scores)
    print(f"span suspicion ROC AUC, corrupted vs clean: {auc:.3f}")
    assert auc >= 0.82  # measured 0.909 (seed 7)
    # the top of the list is mostly corrupted labels, far above the 5% base rate
    top = is_bad[:100]
    assert sum(top) >= 40
    # a corrupted span's suggestion is usually its original label's neighbourhood, never itself
    assert all(it["suggested"] != it["label"] for it in items)


@pytest.mark.slow
def test_missing_and_wrong_frames_rank_first():
    rows, _ = semeval2023_rows(
        SE / "articles-subtask-1-2", frames=SE / "train-labels-subtask-2.txt"
    )
    frames = load_schema().frames
    rng = random.Random(3)
    flipped = set()
    for r in rows:
        given = {d["label"] for d in r["doc_labels"]}
        if rng.random() < 0.15:  # one decision flipped in 15% of the documents
            frame = rng.choice(frames)
            if frame in given:
                r["doc_labels"] = [d for d in r["doc_labels"] if d["label"] != frame]
            else:
                r["doc_labels"].append({"control": "frame", "label": frame, "annotator": "gold"})
            flipped.add((r["id"], frame))

    result = audit.audit_rows(rows, folds=5, seed=0)

    items = result["frames"]["suspicious"]
    assert result["frames"]["checked"] == len(rows)
    is_bad = [(it["doc_id"], it["frame"]) in flipped for it in items]
    auc = roc_auc_score(is_bad, [it["suspicion"] for it in items])
    print(f"frame suspicion ROC AUC, flipped vs clean: {auc:.3f}")
    assert auc >= 0.80  # measured 0.913 (seed 3)


def test_cli_audit_writes_json_and_table(tmp_path, capsys, monkeypatch):
    rows, _ = ptc_rows(PTC / "train-articles", PTC / "train-labels-task-tc")
    corpus.write_corpus(rows[:60], tmp_path / "corpus", source={"format": "test"})
    out = tmp_path / "audit.json"
    page = tmp_path / "audit.html"
    args = [
        "audit",
        str(tmp_path / "corpus"),
        "--json",
        str(out),
        "--report",
        str(page),
        "--top",
        "5",
    ]
    monkeypatch.setattr(sys, "argv", ["annotate", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code in (0, None)
    shown = capsys.readouterr().out
    assert "Suspicious span labels" in shown
    result = json.loads(out.read_text())
    assert result["documents"] == 60
    assert result["spans"]["checked"] == sum(len(r["spans"]) for r in rows[:60])
    first = result["spans"]["suspicious"][0]
    assert first["doc_id"] in shown and f"{first['suspicion']:.2f}" in shown
    left, right = first["context"]
    text = rows_text(rows, first["doc_id"])
    assert text[first["start"] - len(left) : first["start"]] == left
    assert text[first["end"] : first["end"] + len(right)] == right
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and "Suspicious labels" in html
    assert "<mark" in html and html.count("<tr>") >= 50  # the report shows at least 50 rows


def rows_text(rows: list[dict], doc_id: str) -> str:
    return next(r["text"] for r in rows if r["id"] == doc_id)


def test_cli_audit_on_a_missing_corpus_is_bad_input(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["annotate", "audit", str(tmp_path / "nothing")])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    assert "not a corpus directory" in capsys.readouterr().err
