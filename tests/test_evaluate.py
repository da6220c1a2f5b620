"""`annotate evaluate`: the metrics of CONTRACTS.md section 7 on hand-worked cases.

A stand-in model (fixed rules) makes every figure computable by hand; the real model is
exercised at the end (a tiny model trained in a fixture) through the command line.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from annotate import corpus, metrics
from annotate.corpus import read_corpus
from annotate.evaluate import evaluate, evaluate_model, metrics_table, span_threshold_curve
from annotate.schema import load_schema

T1 = "They are brutal terrorists and evil men."
T2 = "Nothing here but brutal weather."


class StandIn:
    """Rules instead of learning: enough of the Model interface for evaluation."""

    model_version = "stand-in-1"
    words = {"brutal": ("Loaded_Language", 0.9), "terrorists": ("Name_Calling,Labeling", 0.6),
             "evil": ("Loaded_Language", 0.3)}  # fmt: skip

    def __init__(self):
        self.classified: list[tuple[str, list]] = []

    def predict(self, texts: list[str]) -> list[dict]:
        out = []
        for text in texts:
            spans = [
                {"start": m.start(), "end": m.end(), "text": m.group(), "label": lab,
                 "score": sc, "source": "model"}
                for word, (lab, sc) in self.words.items()
                for m in re.finditer(word, text)
            ]  # fmt: skip
            frames = {f: 0.05 for f in load_schema().frames}
            frames["Political"] = 0.8 if "vote" in text else 0.1
            frames["Economic"] = 0.7 if "money" in text else 0.2
            out.append(
                {
                    "propaganda": max([s["score"] for s in spans], default=0.0),
                    "frames": frames,
                    "frame_labels": sorted(f for f, p in frames.items() if p > 0.5),
                    "spans": sorted(spans, key=lambda s: s["start"]),
                }
            )
        return out

    def classify_spans(self, text: str, spans: list[tuple[int, int]]) -> list[str]:
        self.classified.append((text, list(spans)))
        return [
            "Name_Calling,Labeling" if "terror" in text[s:e] else "Loaded_Language"
            for s, e in spans
        ]


def write(tmp_path, name: str, rows: list[dict]):
    out = tmp_path / name
    corpus.write_corpus(rows, out, source={"test": name})
    return out


def gold(text, s, e, label, who="gold"):
    return corpus.span(text, s, e, label, who)


def frame(label, who="gold"):
    return {"control": "frame", "label": label, "annotator": who}


@pytest.fixture
def mixed(tmp_path):
    rows = [
        corpus.row(
            "t1",
            T1,
            annotated=["technique"],
            spans=[
                gold(T1, 9, 26, "Loaded_Language"),
                gold(T1, 16, 26, "Name_Calling,Labeling"),
                gold(T1, 31, 39, "Doubt"),
            ],
        ),
        corpus.row("t2", T2, annotated=["technique"]),
        corpus.row("f1", "The vote and the money.", annotated=["frame"],
                   doc_labels=[frame("Political")]),
        corpus.row("f2", "Nothing to see.", annotated=["frame"]),
        corpus.row("f3", "money matters", annotated=["frame"],
                   doc_labels=[frame("Economic"), frame("Morality")]),
        corpus.row("n1", "Not annotated at all: brutal.", annotated=[]),
    ]  # fmt: skip
    return write(tmp_path, "mixed", rows)


def test_metrics_by_hand(mixed, tmp_path):
    model = StandIn()
    m = evaluate(model, mixed, json_out=tmp_path / "m.json")
    assert m["documents"] == 5  # n1 is not annotated for anything
    # SI: gold merged (9,26) (31,39); predicted (9,15) (16,26) (31,35) in t1, (17,23) in t2
    p, r = 3 / 4, (6 / 17 + 10 / 17 + 4 / 8) / 2
    assert m["spans"]["si"]["precision"] == pytest.approx(p)
    assert m["spans"]["si"]["recall"] == pytest.approx(r)
    assert m["spans"]["si"]["f1"] == pytest.approx(2 * p * r / (p + r))
    # TC: gold LL/NC/Doubt classified NC/NC/LL
    assert m["spans"]["tc"]["micro_f1"] == pytest.approx(1 / 3)
    assert m["spans"]["tc"]["macro_f1"] == pytest.approx((0 + 2 / 3 + 0) / 3)
    assert model.classified == [(T1, [(9, 26), (16, 26), (31, 39)])]  # gold spans, t1 only
    per = m["spans"]["per_label"]
    assert set(per) == set(load_schema().techniques)
    assert per["Name_Calling,Labeling"] == {
        "precision": 1.0,
        "recall": 1.0,
        "f1": 1.0,
        "support": 1,
    }
    # predicted LL (9,15) (31,35) in t1 and (17,23) in t2 against gold LL (9,26)
    ll_p, ll_r = 1 / 3, 6 / 17
    assert per["Loaded_Language"] == pytest.approx(
        {"precision": ll_p, "recall": ll_r, "f1": 2 * ll_p * ll_r / (ll_p + ll_r), "support": 1}
    )
    assert per["Doubt"]["support"] == 1 and per["Doubt"]["f1"] == 0.0
    assert per["Slogans"]["support"] == 0
    # sentences: t1 positive both sides, t2 predicted only
    assert m["sentences"] == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3})
    # frames: f1 {Pol} -> {Pol, Eco}; f2 {} -> {}; f3 {Eco, Mor} -> {Eco}
    fr = m["frames"]
    assert fr["micro_f1"] == pytest.approx(4 / 6)
    assert fr["macro_f1"] == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert fr["per_label"]["Economic"] == pytest.approx(
        {"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1}
    )
    assert fr["per_label"]["Morality"]["support"] == 1
    assert json.loads((tmp_path / "m.json").read_text()) == json.loads(json.dumps(m))
    assert set(m) == {"documents", "spans", "sentences", "frames"}
    assert set(m["spans"]) == {"si", "flc", "tc", "per_label"}
    # FLC: LL pred (9,15) (31,35) | (17,23) vs gold LL (9,26): p 1 + 0 + 0, r 6/17;
    # NC (16,26) = gold: p 1, r 1; gold Doubt unmatched. P = 2/4, R = (6/17 + 1 + 0)/3
    flc_p, flc_r = 2 / 4, (6 / 17 + 1) / 3
    assert m["spans"]["flc"] == pytest.approx(
        {"precision": flc_p, "recall": flc_r, "f1": 2 * flc_p * flc_r / (flc_p + flc_r)}
    )


def test_blocks_are_null_without_documents(tmp_path):
    only_frames = write(
        tmp_path,
        "frames",
        [corpus.row("f1", "The vote.", annotated=["frame"], doc_labels=[frame("Political")])],
    )
    m = evaluate(StandIn(), only_frames)
    assert m["documents"] == 1
    assert m["spans"] is None and m["sentences"] is None
    assert m["frames"]["micro_f1"] == 1.0
    only_spans = write(
        tmp_path,
        "spans",
        [corpus.row("t1", T1, annotated=["technique"], spans=[gold(T1, 9, 15, "Loaded_Language")])],
    )
    m = evaluate(StandIn(), only_spans)
    assert m["frames"] is None and m["spans"]["si"]["recall"] == 1.0
    nothing = write(tmp_path, "nothing", [corpus.row("n", "text", annotated=[])])
    assert evaluate(StandIn(), nothing) == {
        "documents": 0,
        "spans": None,
        "sentences": None,
        "frames": None,
    }


def test_merge_policy(tmp_path):
    names = ["a", "b", "c"]
    spans = [gold(T1, 9, 15, "Loaded_Language", "a"), gold(T1, 9, 15, "Loaded_Language", "b"),
             gold(T1, 31, 35, "Loaded_Language", "c")]  # fmt: skip
    row = corpus.row("m1", T1, annotated=["technique"], annotators=names, spans=spans)
    path = write(tmp_path, "multi", [row])
    # predicted (9,15) (16,26) (31,35)
    majority = evaluate(StandIn(), path)["spans"]["si"]  # gold (9,15)
    union = evaluate(StandIn(), path, policy="union")["spans"]["si"]  # (9,15) (31,35)
    only_c = evaluate(StandIn(), path, policy="annotator:c")["spans"]["si"]  # (31,35)
    assert majority["precision"] == pytest.approx(1 / 3)
    assert union["precision"] == pytest.approx(2 / 3)
    assert only_c["precision"] == pytest.approx(1 / 3) and only_c["recall"] == 1.0
    assert evaluate(StandIn(), path, policy="annotator:zz")["documents"] == 0


def test_metrics_table_renders(mixed):
    from rich.console import Console

    m = evaluate(StandIn(), mixed)
    console = Console(record=True, width=120)
    console.print(metrics_table(m))
    text = console.export_text()
    assert "SI" in text and "frames" in text and "Name_Calling,Labeling" in text
    assert f"{m['spans']['si']['f1']:.3f}" in text


def test_evaluation_keeps_report_material(mixed):
    result = evaluate_model(StandIn(), mixed)
    t1 = next(d for d in result.documents if d.id == "t1")
    assert t1.tc_labels == ["Name_Calling,Labeling", "Name_Calling,Labeling", "Loaded_Language"]
    assert [s[3] for s in t1.pred_spans] == [0.9, 0.6, 0.3]
    assert result.model_version == "stand-in-1"


class RankingStandIn(StandIn):
    """A stand-in that also ranks techniques (like Model.technique_proba)."""

    techniques = tuple(load_schema().techniques)

    def technique_proba(self, text, spans):
        import numpy as np

        rows = []
        for s, e in spans:
            p = np.full(len(self.techniques), 0.01)
            first = "Name_Calling,Labeling" if "terror" in text[s:e] else "Loaded_Language"
            p[self.techniques.index(first)] = 0.6
            p[self.techniques.index("Doubt")] = 0.3
            rows.append(p / p.sum())
        return np.array(rows)


def test_span_with_two_gold_labels_gets_the_two_best_guesses(tmp_path):
    spans = [gold(T1, 16, 26, "Doubt"), gold(T1, 16, 26, "Name_Calling,Labeling"),
             gold(T1, 9, 15, "Doubt")]  # fmt: skip
    path = write(tmp_path, "twice", [corpus.row("t", T1, annotated=["technique"], spans=spans)])
    # one label per span: NC for both copies of (16,26) -> 1 of 3 right
    plain = evaluate_model(StandIn(), path)
    assert plain.documents[0].tc_labels == ["Loaded_Language", "Name_Calling,Labeling",
                                            "Name_Calling,Labeling"]  # fmt: skip
    assert plain.metrics["spans"]["tc"]["micro_f1"] == pytest.approx(1 / 3)
    # top two techniques for the doubly labelled span, lined up with the gold: 2 of 3 right
    ranked = evaluate_model(RankingStandIn(), path)
    assert ranked.documents[0].tc_labels == ["Loaded_Language", "Doubt", "Name_Calling,Labeling"]
    assert ranked.metrics["spans"]["tc"]["micro_f1"] == pytest.approx(2 / 3)


# ---- the real model ---------------------------------------------------------------------

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "semeval2023"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A model trained on 20 SemEval-2023 articles (spans + frames), and 13 others to test on."""
    if not SHARED.is_dir():
        pytest.skip("../shared/data not present")
    from learn_helpers import tiny_semeval_model

    from annotate.learn.model import Model

    base = tmp_path_factory.mktemp("tiny")
    return base, Model.load(tiny_semeval_model(base))


@pytest.fixture(scope="module")
def tiny_result(tiny):
    base, model = tiny
    return evaluate_model(model, base / "test")


@pytest.mark.slow
def test_real_model_metrics(tiny, tiny_result):
    base, model = tiny
    result = tiny_result
    m = result.metrics
    assert m["documents"] == 13
    assert set(m["spans"]["per_label"]) == set(load_schema().techniques)
    assert 0 < m["spans"]["si"]["precision"] <= 1 and 0 < m["spans"]["si"]["recall"] <= 1
    # TC, recomputed here: the model's label for each gold span against the gold label
    right = total = 0
    for r in read_corpus(base / "test"):
        spans = [(s["start"], s["end"]) for s in r["spans"]]
        if not spans:
            continue
        guesses = model.classify_spans(r["text"], spans)
        for s, g in zip(r["spans"], guesses, strict=True):
            total += 1
            right += s["label"] == g
    assert total == sum(len(d.gold_spans) for d in result.documents)
    # equal unless a doubly labelled span got its second-best guess right
    assert m["spans"]["tc"]["micro_f1"] >= right / total - 1e-12
    assert m["spans"]["tc"]["micro_f1"] <= (right + sum(
        1 for d in result.documents for i, s in enumerate(d.gold_spans)
        if [g[:2] for g in d.gold_spans].count(s[:2]) > 1
    )) / total + 1e-12  # fmt: skip
    # frames over the 10 frame-annotated documents, with the model's own thresholds
    preds = model.predict([r["text"] for r in read_corpus(base / "test")])
    frame_docs = [d for d in result.documents if "frame" in d.annotated]
    assert len(frame_docs) == 10
    for d, p in zip(result.documents, preds, strict=True):
        assert d.prediction["frame_labels"] == p["frame_labels"]
    assert 0 < m["frames"]["micro_f1"] <= 1
    # the report's threshold curve is the blind tagger's SI at other thresholds: at its own
    # threshold it is the blind decoding (labelled spans follow per-technique rules instead)
    curve = span_threshold_curve(model, result.documents, [model.tagger.threshold, 0.99])
    span_docs = [d for d in result.documents if "technique" in d.annotated]
    offsets, probas, sentences = model.tagger.score_tokens([d.text for d in span_docs])
    blind = [
        [(a, b) for a, b, _ in model.tagger.decode_spans(o, p, s)]
        for o, p, s in zip(offsets, probas, sentences, strict=True)
    ]
    gold = [[(a, b) for a, b, _ in d.gold_spans] for d in span_docs]
    si = metrics.si_prf(blind, gold)
    assert curve[0][1:] == pytest.approx((si["precision"], si["recall"]))


@pytest.mark.slow
def test_real_model_cli(tiny, tiny_result, tmp_path):
    base, model = tiny
    out, report = tmp_path / "m.json", tmp_path / "r.html"
    proc = subprocess.run(
        [sys.executable, "-m", "annotate", "evaluate", base / "model", base / "test",
         "--json", out, "--report", report],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "SI" in proc.stdout and "frames" in proc.stdout
    written = json.loads(out.read_text())
    assert written == json.loads(json.dumps(tiny_result.metrics))
    html = report.read_text()
    assert html.count("data:image/png;base64,") == 3 and model.model_version in html
    # a missing corpus is bad input: exit 2, one line naming it
    proc = subprocess.run(
        [sys.executable, "-m", "annotate", "evaluate", base / "model", tmp_path / "nope"],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent,
    )  # fmt: skip
    assert proc.returncode == 2 and "nope" in proc.stderr and "Traceback" not in proc.stderr
