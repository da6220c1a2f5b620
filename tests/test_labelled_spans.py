"""Technique-aware spans: per-technique rules, overlapping techniques, estimator defaults."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest
from learn_helpers import REPO, fast_config
from sklearn.base import clone

from annotate.corpus import row, span, write_corpus
from annotate.learn.fit_labels import frame_params, technique_params
from annotate.learn.fit_spans import tagger_params, tuning_documents
from annotate.learn.frames import FrameClassifier, PropagandaScorer
from annotate.learn.model import Model
from annotate.learn.rules import BLIND, chosen, decode, fill_in, labelled_spans, tune_rules
from annotate.learn.tagger import SpanTagger
from annotate.learn.technique import TechniqueClassifier
from annotate.learn.train import train
from annotate.schema import load_schema

FILLER = [
    "The committee met on Tuesday to review the budget for the coming year.",
    "Officials said the figures would be published later this month.",
    "Several members asked questions about the schedule of the project.",
    "The report was sent to the regional office for comment.",
]
NAME = "corrupt traitors"
CLAUSE = "these corrupt traitors will destroy everything we love"


def synthetic_corpus(path, n: int = 36):
    """Documents where a clause (Appeal_to_fear) always holds a loaded phrase (Loaded_Language,
    a technique group with token scores of its own)."""
    rows = []
    for i in range(n):
        parts = [FILLER[(i + k) % len(FILLER)] for k in range(3)]
        sentence = f"Everyone knows that {CLAUSE}, the speaker said."
        text = " ".join(parts[:2] + [sentence] + parts[2:])
        start = text.index(CLAUSE)
        name = text.index(NAME)
        spans = [
            span(text, start, start + len(CLAUSE), "Appeal_to_fear-prejudice"),
            span(text, name, name + len(NAME), "Loaded_Language"),
        ]
        rows.append(row(f"doc{i}", text, annotated=["technique"], spans=spans))
    write_corpus(rows, path, source={"test": "synthetic"})
    return rows


def test_two_overlapping_spans_with_different_techniques(tmp_path):
    synthetic_corpus(tmp_path / "corpus")
    train([tmp_path / "corpus"], tmp_path / "model", config=fast_config(tmp_path),
          progress=lambda m: None)  # fmt: skip
    model = Model.load(tmp_path / "model")
    assert model.tagger.rules  # one rule per technique seen
    text = f"{FILLER[1]} Everyone knows that {CLAUSE}, the speaker said. {FILLER[0]}"
    spans = model.predict([text])[0]["spans"]
    by_label = {s["label"]: s for s in spans}
    assert {"Appeal_to_fear-prejudice", "Loaded_Language"} <= set(by_label), spans
    fear, name = by_label["Appeal_to_fear-prejudice"], by_label["Loaded_Language"]
    assert fear["start"] < name["end"] and name["start"] < fear["end"]  # they overlap
    assert len(name["text"].split()) < len(fear["text"].split())  # each its own length
    for s in spans:
        assert text[s["start"] : s["end"]] == s["text"]


def test_rules_choose_boundaries_per_technique():
    """A short technique and a long one over the same token scores get different gaps."""
    offsets = [(i * 2, i * 2 + 1) for i in range(12)]
    p = np.array([0.9, 0.1, 0.9, 0.1, 0.9, 0.0, 0.0, 0.0, 0.9, 0.0, 0.0, 0.0])
    sources = {BLIND: ([p], [np.zeros(12)])}
    # gold: "Long" covers tokens 0-4 (chars 0-9), "Short" is token 8 (chars 16-17)
    gold = [[(0, 9, "Long"), (16, 17, "Short")]]

    def proba(items):  # the classifier calls anything starting at 16 "Short", else "Long"
        return np.array([[0.1, 0.9] if a == 16 else [0.9, 0.1] for _, a, _ in items])

    grid = {"sentence_weights": [0.0], "thresholds": [0.5], "max_gaps": [0, 2],
            "min_probas": [0.5]}  # fmt: skip
    rules, flc = tune_rules([offsets], sources, [None], gold, ["Long", "Short"], proba, grid)
    assert rules["Long"]["max_gap"] == 2 and flc["f1"] == pytest.approx(1.0)
    found = labelled_spans([offsets], sources, [None], rules, ["Long", "Short"], proba)
    assert [(a, b, lab) for a, b, lab, _ in found[0]] == [(0, 9, "Long"), (16, 17, "Short")]


def test_chosen_respects_argmax_and_confidence():
    proba = np.array([[0.6, 0.4], [0.3, 0.7], [0.45, 0.55]])
    assert chosen(proba, 1, {"min_proba": 0.5, "argmax": True}).tolist() == [False, True, True]
    assert chosen(proba, 0, {"min_proba": 0.4, "argmax": False}).tolist() == [True, False, True]


def test_estimator_defaults_are_the_shipped_configuration():
    cfg = tomllib.loads((REPO / "models" / "default.toml").read_text(encoding="utf-8"))
    shipped = SpanTagger(**tagger_params(cfg["tagger"], {}))
    assert shipped.get_params() == SpanTagger().get_params()
    frames = load_schema().frames
    assert (
        FrameClassifier(**frame_params(cfg["frames"], frames)).get_params()
        == FrameClassifier(frames=tuple(frames)).get_params()
    )
    shipped_tc = TechniqueClassifier(**technique_params(cfg["technique"], {}))
    assert shipped_tc.get_params() == TechniqueClassifier().get_params()
    assert (
        PropagandaScorer(C=cfg["propaganda"]["C"]).get_params() == PropagandaScorer().get_params()
    )
    for estimator in (SpanTagger(), TechniqueClassifier(), FrameClassifier(), PropagandaScorer()):
        assert clone(estimator).get_params() == estimator.get_params()


def test_decode_with_a_peak_keeps_only_runs_holding_a_sure_token():
    offsets = [(i * 2, i * 2 + 1) for i in range(8)]
    p = np.array([0.2, 0.5, 0.2, 0.0, 0.2, 0.3, 0.0, 0.45])
    assert [s[:2] for s in decode(offsets, p, 0.15, 0)] == [(0, 5), (8, 11), (14, 15)]
    # hysteresis: runs above 0.15, kept when they hold a token of >= 0.4
    assert [s[:2] for s in decode(offsets, p, 0.15, 0, peak=0.4)] == [(0, 5), (14, 15)]
    # the run's score stays the mean of its tokens
    assert decode(offsets, p, 0.15, 0, peak=0.4)[0][2] == pytest.approx(0.3)


def test_decode_widens_short_runs_by_their_more_probable_neighbour():
    offsets = [(i * 2, i * 2 + 1) for i in range(10)]
    p = np.array([0.0, 0.2, 0.9, 0.1, 0.0, 0.05, 0.8, 0.0, 0.5, 0.0])
    assert [s[:2] for s in decode(offsets, p, 0.5, 0)] == [(4, 5), (12, 13), (16, 17)]
    # to 2 tokens: token 1 (0.2 > 0.1), token 5 (0.05 > 0.0); token 8 takes 7 (a tie: left)
    assert [s[:2] for s in decode(offsets, p, 0.5, 0, min_span=2)] == [
        (2, 5),
        (10, 13),
        (14, 17),
    ]
    # to 3: token 7 is the third run's, so the second grows left to 4; the third takes 9
    assert [s[:2] for s in decode(offsets, p, 0.5, 0, min_span=3)] == [
        (2, 7),
        (8, 13),
        (14, 19),
    ]
    # never across a sentence boundary: the first run (sentence 0 = tokens 0-2) grows left
    sentence = np.array([0, 0, 0, 1, 1, 1, 1, 1, 1, 1])
    assert decode(offsets, p, 0.5, 0, sentence=sentence, min_span=3)[0][:2] == (0, 5)
    # the score is the mean over the widened run
    assert decode(offsets, p, 0.5, 0, min_span=2)[0][2] == pytest.approx(0.55)
    # token 3 lies between two runs and both want it: the earlier run takes it, and the
    # later one its other neighbour
    q = np.array([0.0, 0.0, 0.9, 0.4, 0.9, 0.1])
    assert [s[:2] for s in decode(offsets[:6], q, 0.6, 0, min_span=2)] == [(4, 7), (8, 11)]
    # long enough runs are left alone
    assert decode(offsets, p, 0.15, 1, min_span=2)[0][:2] == (2, 5)


def test_fill_in_beside_spans_of_other_techniques_only_with_overlap():
    labels = ["A", "B"]
    found = [(0, 10, "A", 0.5)]
    cands = [(5, 20, 0.6), (30, 40, 0.4)]
    proba = np.array([[0.2, 0.8], [0.9, 0.1]])
    fill = {"min_proba": 0.0}
    # a run touching a labelled span is left out, one elsewhere is added under its argmax
    assert fill_in(found, cands, proba, labels, fill) == [(30, 40, "A", pytest.approx(0.36))]
    # with overlap, a run may lie over a span of another technique (B over A)
    added = fill_in(found, cands, proba, labels, {**fill, "overlap": True})
    assert [s[:3] for s in added] == [(5, 20, "B"), (30, 40, "A")]
    # and the confidence floor still applies
    assert fill_in(found, cands, proba, labels, {"min_proba": 0.85, "overlap": True}) == [
        (30, 40, "A", pytest.approx(0.36))
    ]


def test_the_decoding_is_chosen_on_documents_of_several_sentences():
    # sentence numbers run on across the batch, as in the tagger's features
    articles = [np.array([3 * d, 3 * d, 3 * d + 1, 3 * d + 2]) for d in range(12)]
    sentences = [np.array([100 + d, 100 + d]) for d in range(30)]
    gold = [[(0, 1)]] * 42
    tune = tuning_documents(articles + sentences, gold, 3)
    assert tune.tolist() == list(range(12))
    # too few articles with a span: every document
    assert len(tuning_documents(articles[:5] + sentences, gold[:35], 3)) == 35
