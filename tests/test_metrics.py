"""The SemEval-2020 span measures against cases computed by hand."""

import pytest

from annotate.metrics import (
    flc_prf,
    merge_overlaps,
    multilabel_f1,
    per_label_prf,
    sentence_prf,
    sentence_spans,
    si_prf,
    tc_f1,
)


def test_partial_overlap():
    # |s∩t| = 5; P = 5/10, R = 5/10
    assert si_prf([[(5, 15)]], [[(0, 10)]]) == pytest.approx(
        {"precision": 0.5, "recall": 0.5, "f1": 0.5}
    )


def test_overlapping_gold_spans_are_merged():
    # gold (0,10) and (5,20) merge to (0,20): P = 10/10, R = 10/20, F1 = 2/3
    r = si_prf([[(0, 10)]], [[(0, 10), (5, 20)]])
    assert r == pytest.approx({"precision": 1.0, "recall": 0.5, "f1": 2 / 3})


def test_one_prediction_over_two_gold_spans():
    # P = (4 + 4) / 10 over one prediction; R = (4/4 + 4/4) / 2
    r = si_prf([[(0, 10)]], [[(0, 4), (6, 10)]])
    assert r == pytest.approx({"precision": 0.8, "recall": 1.0, "f1": 2 * 0.8 / 1.8})


def test_empty_predictions_and_empty_gold():
    assert si_prf([[]], [[(0, 10)]]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert si_prf([[(0, 10)]], [[]]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert si_prf([], []) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_sums_run_over_all_documents_and_never_across_them():
    # doc 1: pred (0,2) inside gold (0,4); doc 2: gold (10,20) missed.
    # P = (2/2) / 1 = 1; R = (2/4 + 0) / 2 = 0.25; F1 = 0.4
    r = si_prf([[(0, 2)], []], [[(0, 4)], [(10, 20)]])
    assert r == pytest.approx({"precision": 1.0, "recall": 0.25, "f1": 0.4})
    # the same offsets in different documents do not overlap
    assert si_prf([[], [(0, 10)]], [[(0, 10)], []])["f1"] == 0.0


def test_merge_overlaps_keeps_touching_spans_apart():
    assert merge_overlaps([(5, 9), (0, 5), (3, 4), (9, 12), (11, 15)]) == [(0, 5), (5, 9), (9, 15)]


def test_per_label_restricts_both_sides():
    pred = [[(0, 10, "A"), (20, 30, "B")]]
    gold = [[(0, 10, "B"), (20, 30, "B"), (40, 50, "A")]]
    r = per_label_prf(pred, gold, ["A", "B"])
    assert r["A"] == pytest.approx({"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1})
    # B: one prediction fully inside gold (P = 1); gold B spans (0,10),(20,30): R = 1/2
    assert r["B"] == pytest.approx({"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2})


def test_tc_micro_and_macro():
    r = tc_f1(["A", "A", "B", "B"], ["A", "B", "B", "B"], ["A", "B", "C"])
    assert r["micro_f1"] == pytest.approx(0.75)
    # A: P=1/2 R=1 F1=2/3; B: P=1 R=2/3 F1=0.8; C has no gold and is left out
    assert r["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)


def test_sentences_split_on_lines_and_sentence_ends():
    text = "A b.\nC d. E f.\n\nG"
    assert sentence_spans(text) == [(0, 4), (5, 9), (10, 14), (16, 17)]
    # pred hits sentences 0 and 1; gold hits 1 and 3: P = 1/2, R = 1/2
    r = sentence_prf([text], [[(1, 2), (6, 7)]], [[(7, 8), (16, 17)]])
    assert r == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5})


def test_multilabel_micro_macro():
    r = multilabel_f1([{"a"}, {"a", "b"}], [{"a"}, {"b"}], ["a", "b", "c"])
    assert r["micro_f1"] == pytest.approx(0.8)
    assert r["macro_f1"] == pytest.approx((2 / 3 + 1.0) / 2)
    assert r["per_label"]["c"]["support"] == 0


# ---- FLC (NLP4IF-2019): partial overlap only within one technique, pooled ----------------


def test_flc_wrong_technique_earns_nothing():
    # SI would give P = R = 1; FLC counts no overlap across techniques
    assert flc_prf([[(0, 10, "Doubt")]], [[(0, 10, "Loaded_Language")]]) == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
    }


def test_flc_pools_sums_and_counts_over_techniques():
    # Loaded_Language: pred (0,10) vs gold (5,15): |∩| = 5 -> p 5/10, r 5/10
    # Doubt: pred (20,30) vs gold (20,40): |∩| = 10 -> p 10/10, r 10/20
    # plus a Doubt prediction (50,60) with no gold: p 0, one more predicted span
    # P = (0.5 + 1 + 0) / 3 = 0.5; R = (0.5 + 0.5) / 2 = 0.5
    pred = [[(0, 10, "Loaded_Language"), (20, 30, "Doubt"), (50, 60, "Doubt")]]
    gold = [[(5, 15, "Loaded_Language"), (20, 40, "Doubt")]]
    assert flc_prf(pred, gold) == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5})


def test_flc_merges_overlaps_within_a_technique_only():
    # two gold Loaded_Language spans (0,10) and (5,20) merge into (0,20); the Doubt gold span
    # (0,20) overlapping them stays apart. Pred: Loaded_Language (0,20), Doubt (0,10).
    # LL: p 20/20 = 1, r 20/20 = 1; Doubt: p 10/10 = 1, r 10/20 = 0.5
    # P = 2/2 = 1; R = 1.5/2 = 0.75; F1 = 2 * 0.75 / 1.75
    pred = [[(0, 20, "Loaded_Language"), (0, 10, "Doubt")]]
    gold = [[(0, 10, "Loaded_Language"), (5, 20, "Loaded_Language"), (0, 20, "Doubt")]]
    assert flc_prf(pred, gold) == pytest.approx(
        {"precision": 1.0, "recall": 0.75, "f1": 2 * 0.75 / 1.75}
    )


def test_flc_counts_per_document():
    # the same offsets in two documents never meet
    assert flc_prf([[(0, 10, "Doubt")], []], [[], [(0, 10, "Doubt")]])["f1"] == 0.0
    # one technique alone: FLC equals SI
    pred = [[(0, 10, "Doubt")], [(3, 9, "Doubt")]]
    gold = [[(5, 15, "Doubt")], [(0, 6, "Doubt")]]
    si = si_prf(
        [[(a, b) for a, b, _ in d] for d in pred], [[(a, b) for a, b, _ in d] for d in gold]
    )
    assert flc_prf(pred, gold) == pytest.approx(si)
