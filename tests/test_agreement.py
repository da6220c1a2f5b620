"""`annotate agreement`: figures checked against independent computations.

Alpha: the krippendorff package called here on reliability matrices written out by hand.
Span F1: a small character-set scorer written here (not annotate.metrics).
"""

from __future__ import annotations

import itertools
import json
import sys

import krippendorff
import numpy as np
import pytest

from annotate import corpus
from annotate.agreement import agreement, agreement_table
from annotate.cli import main
from annotate.schema import load_schema

nan = np.nan
TEXT = {
    "d1": "Alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu.",
    "d2": "One two three four five six seven eight nine ten eleven twelve.",
    "d3": "A short one about politics and money.",
    "d4": "Only annotator a looked at this one, brutal and evil.",
    "d5": "Spans only here: the evil enemy, the brutal regime, the heroes.",
    "d6": "Nobody annotated this one.",
}
# document -> controls annotated, annotators who submitted, frames per annotator, spans per annotator
ROWS = {
    "d1": (
        ["frame", "technique"],
        ["a", "b", "c"],
        {"a": {"Political", "Economic"}, "b": {"Political"}, "c": {"Political", "Morality"}},
        {
            "a": [(0, 10, "Loaded_Language"), (17, 30, "Doubt")],
            "b": [(6, 16, "Loaded_Language"), (40, 50, "Doubt")],
            "c": [(0, 5, "Loaded_Language"), (0, 16, "Name_Calling,Labeling")],
        },
    ),
    "d2": (
        ["frame", "technique"],
        ["a", "b"],  # c skipped it
        {"a": {"Economic"}, "b": {"Economic", "Morality"}},
        {"a": [(4, 13, "Doubt")], "b": [(4, 18, "Doubt"), (30, 40, "Loaded_Language")]},
    ),
    "d3": (
        ["frame"],
        ["b", "c"],  # a skipped it; c chose no frame at all
        {"b": {"Political"}, "c": set()},
        {},
    ),
    "d4": (
        ["frame", "technique"],
        ["a"],
        {"a": {"Morality"}},
        {"a": [(35, 41, "Loaded_Language")]},
    ),
    "d5": (
        ["technique"],
        ["a", "c"],
        {},
        {
            "a": [(22, 27, "Loaded_Language"), (39, 51, "Name_Calling,Labeling")],
            "c": [(18, 42, "Name_Calling,Labeling"), (43, 49, "Loaded_Language")],
        },
    ),
    "d6": ([], [], {}, {}),
}


def build_rows() -> list[dict]:
    rows = []
    for doc_id, (annotated, names, frames, spans) in ROWS.items():
        text = TEXT[doc_id]
        rows.append(
            corpus.row(
                doc_id,
                text,
                annotated=annotated,
                annotators=names,
                spans=[
                    corpus.span(text, s, e, lab, who)
                    for who, marked in spans.items()
                    for s, e, lab in marked
                ],
                doc_labels=[
                    {"control": "frame", "label": f, "annotator": who}
                    for who, chosen in frames.items()
                    for f in chosen
                ],
            )
        )
    return rows


@pytest.fixture(scope="module")
def three_annotators(tmp_path_factory):
    out = tmp_path_factory.mktemp("agree") / "corpus"
    corpus.write_corpus(build_rows(), out, source={"test": "agreement"})
    return out


# ---- independent computations ------------------------------------------------------------


def chars(spans):
    """Merged spans as sorted disjoint (start, end) runs, via character sets."""
    covered = sorted({c for s, e in spans for c in range(s, e)})
    runs = []
    for c in covered:
        if runs and runs[-1][1] == c:
            runs[-1][1] = c + 1
        else:
            runs.append([c, c + 1])
    return runs


def semeval_f1(gold_docs, pred_docs) -> float:
    p_sum = r_sum = 0.0
    n_pred = n_gold = 0
    for gold, pred in zip(gold_docs, pred_docs, strict=True):
        g, p = chars(gold), chars(pred)
        n_gold += len(g)
        n_pred += len(p)
        for ps, pe in p:
            for gs, ge in g:
                inter = len(set(range(ps, pe)) & set(range(gs, ge)))
                p_sum += inter / (pe - ps)
                r_sum += inter / (ge - gs)
    precision = p_sum / n_pred if n_pred else 0.0
    recall = r_sum / n_gold if n_gold else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def spans_of(doc, who, label=None):
    return [(s, e) for s, e, lab in ROWS[doc][3].get(who, []) if label in (None, lab)]


SPAN_DOCS = {("a", "b"): ["d1", "d2"], ("a", "c"): ["d1", "d5"], ("b", "c"): ["d1"]}


def expected_pair_f1(a, b, label=None):
    docs = SPAN_DOCS[(a, b)]
    return semeval_f1([spans_of(d, a, label) for d in docs], [spans_of(d, b, label) for d in docs])


# ---- tests ------------------------------------------------------------------------------


def test_frames_alpha_matches_krippendorff_on_a_hand_built_matrix(three_annotators):
    result = agreement(three_annotators)
    frames = load_schema().frames
    # units: (d1, frame), (d2, frame), (d3, frame) for every frame; coders a, b, c.
    # d1: a {Political, Economic}, b {Political}, c {Political, Morality}
    # d2: a {Economic}, b {Economic, Morality}, c missing
    # d3: a missing, b {Political}, c {}
    chosen = {
        "d1": ({"Political", "Economic"}, {"Political"}, {"Political", "Morality"}),
        "d2": ({"Economic"}, {"Economic", "Morality"}, None),
        "d3": (None, {"Political"}, set()),
    }
    matrix = [
        [
            nan if sets[i] is None else float(f in sets[i])
            for sets in chosen.values()
            for f in frames
        ]
        for i in range(3)
    ]
    expected = krippendorff.alpha(
        reliability_data=np.array(matrix), level_of_measurement="nominal", value_domain=[0, 1]
    )
    assert result["frames"]["krippendorff_alpha"] == pytest.approx(expected, abs=1e-12)
    # Political alone, written out: units d1, d2, d3
    political = np.array([[1, 0, nan], [1, 0, 1], [1, nan, 0]], dtype=float)
    assert result["frames"]["per_label"]["Political"]["krippendorff_alpha"] == pytest.approx(
        krippendorff.alpha(reliability_data=political, level_of_measurement="nominal")
    )
    morality = np.array([[0, 0, nan], [0, 1, 0], [1, nan, 0]], dtype=float)
    assert result["frames"]["per_label"]["Morality"]["krippendorff_alpha"] == pytest.approx(
        krippendorff.alpha(reliability_data=morality, level_of_measurement="nominal")
    )
    # nobody chose Health_and_safety: one value only, alpha undefined
    assert result["frames"]["per_label"]["Health_and_safety"]["krippendorff_alpha"] is None
    assert result["frames"]["documents"] == 3


def test_span_pairwise_f1_matches_an_independent_scorer(three_annotators):
    result = agreement(three_annotators)
    pairs = list(SPAN_DOCS)
    overall = sum(expected_pair_f1(a, b) for a, b in pairs) / 3
    assert result["spans"]["pairwise_f1"] == pytest.approx(overall, abs=1e-12)
    assert 0 < overall < 1
    # roles swapped: F1 is the same
    for a, b in pairs:
        docs = SPAN_DOCS[(a, b)]
        swapped = semeval_f1([spans_of(d, b) for d in docs], [spans_of(d, a) for d in docs])
        assert swapped == pytest.approx(expected_pair_f1(a, b))
    by_pair = {tuple(p["annotators"]): p for p in result["pairs"]}
    assert set(by_pair) == {("a", "b"), ("a", "c"), ("b", "c")}
    for pair in pairs:
        assert by_pair[pair]["spans_f1"] == pytest.approx(expected_pair_f1(*pair), abs=1e-12)
        assert by_pair[pair]["span_documents"] == len(SPAN_DOCS[pair])
    for label in ["Loaded_Language", "Doubt", "Name_Calling,Labeling"]:
        used = [p for p in pairs if any(spans_of(d, w, label) for d in SPAN_DOCS[p] for w in p)]
        expected = sum(expected_pair_f1(*p, label) for p in used) / len(used)
        got = result["spans"]["per_label"][label]["pairwise_f1"]
        assert got == pytest.approx(expected, abs=1e-12), label
    assert result["spans"]["per_label"]["Slogans"]["pairwise_f1"] is None


def test_documents_annotators_and_pairs(three_annotators):
    result = agreement(three_annotators)
    # d4 (one annotator) and d6 (none) are not compared
    assert result["documents"] == 4
    assert result["annotators"] == ["a", "b", "c"]
    by_pair = {tuple(p["annotators"]): p for p in result["pairs"]}
    assert by_pair[("a", "b")]["frame_documents"] == 2
    assert by_pair[("a", "c")]["frame_documents"] == 1
    assert by_pair[("b", "c")]["frame_documents"] == 2
    bc = np.array(
        [[float(f in s) for s in ({"Political"}, {"Political"}) for f in load_schema().frames],
         [float(f in s) for s in ({"Political", "Morality"}, set()) for f in load_schema().frames]]
    )  # fmt: skip
    assert by_pair[("b", "c")]["frames_krippendorff_alpha"] == pytest.approx(
        krippendorff.alpha(reliability_data=bc, level_of_measurement="nominal")
    )


def test_cli_json_and_table(three_annotators, tmp_path, capsys, monkeypatch):
    out = tmp_path / "agreement.json"
    report = tmp_path / "agreement.html"
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "annotate",
            "agreement",
            str(three_annotators),
            "--json",
            str(out),
            "--report",
            str(report),
        ],
    )
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code in (0, None)
    stdout = capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data == json.loads(json.dumps(agreement(three_annotators)))
    assert set(data) >= {"documents", "annotators", "frames", "spans"}
    assert "a / b" in stdout and "b / c" in stdout
    html = report.read_text()
    assert html.startswith("<!DOCTYPE html>") and "Krippendorff" in html


def test_gold_counts_as_an_annotator_and_single_annotator_corpus(tmp_path):
    text = "They are brutal terrorists, said the evil man."
    rows = [
        corpus.row(
            "x",
            text,
            annotated=["technique"],
            spans=[corpus.span(text, 9, 15, "Loaded_Language", "gold")],
        )
    ]
    out = tmp_path / "gold_only"
    corpus.write_corpus(rows, out, source={})
    result = agreement(out)
    assert result == {
        "documents": 0,
        "annotators": [],
        "frames": None,
        "spans": None,
        "pairs": [],
    }
    # gold plus one annotator: compared as a pair
    rows[0]["annotators"] = ["gold", "ann"]
    rows[0]["spans"].append(corpus.span(text, 9, 26, "Loaded_Language", "ann"))
    out2 = tmp_path / "gold_ann"
    corpus.write_corpus(rows, out2, source={})
    result = agreement(out2)
    assert result["annotators"] == ["ann", "gold"]
    assert result["spans"]["pairwise_f1"] == pytest.approx(semeval_f1([[(9, 15)]], [[(9, 26)]]))
    agreement_table(result)  # renders


def test_independent_scorer_sanity():
    # the test's own scorer, on figures worked out by hand
    assert semeval_f1([[(0, 10)]], [[(0, 10)]]) == 1.0
    assert semeval_f1([[(0, 10)]], [[(5, 15)]]) == pytest.approx(0.5)
    # overlapping gold merged: one gold span 0-15; prediction 0-5 -> P 1, R 1/3
    assert semeval_f1([[(0, 10), (5, 15)]], [[(0, 5)]]) == pytest.approx(2 * (1 / 3) / (4 / 3))
    assert list(itertools.chain(*chars([(0, 2), (1, 3), (5, 6)]))) == [0, 3, 5, 6]
