"""Active learning: uncertainty sampling with diversity (annotate.active)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from annotate import corpus
from annotate.active import (
    closeness,
    density,
    document_vectors,
    select_documents,
    select_uncertain,
    span_uncertainties,
    threshold_closeness,
    total_token_entropy,
    uncertainty,
)
from annotate.documents import Document
from annotate.errors import BadInput

TOPICS = [
    "The central bank raised interest rates again, citing stubborn inflation in housing.",
    "A wildfire forced thousands to flee their homes as crews fought the flames overnight.",
    "The football club sacked its manager after a run of seven defeats in a row.",
    "Scientists reported a new species of frog found in the cloud forests of Ecuador.",
    "Parliament passed the budget after a long night of debate over pension reform.",
    "The carmaker recalled half a million vehicles over faulty airbag sensors.",
    "Protesters gathered outside the embassy demanding the release of two journalists.",
    "A cyber attack took the hospital's booking system offline for three days.",
    "The museum returned looted bronzes to the country they were taken from.",
    "Heavy rain flooded the subway, stranding commuters during the morning rush.",
]


def record(p: float, frames: dict[str, float] | None = None) -> dict:
    return {"propaganda": p, "frames": frames or {}, "frame_labels": [], "spans": []}


def test_closeness_is_one_at_the_threshold_and_zero_at_the_ends():
    assert closeness(0.5) == pytest.approx(1.0)
    assert closeness(0.0) == pytest.approx(0.0) and closeness(1.0) == pytest.approx(0.0)
    assert closeness(0.2, threshold=0.2) == pytest.approx(1.0)
    assert closeness(0.1, threshold=0.2) == pytest.approx(0.5)
    assert closeness(0.6, threshold=0.2) == pytest.approx(0.5)
    assert np.allclose(closeness(np.array([0.25, 0.75])), [0.5, 0.5])


def test_frame_uncertainty_is_measured_against_the_tuned_thresholds():
    sure_by_default = record(0.99, {"Political": 0.2})
    # at the default 0.5 a frame probability of 0.2 is fairly sure; at a 0.2 threshold it is not
    assert uncertainty(sure_by_default) < uncertainty(sure_by_default, {"Political": 0.2})
    with pytest.raises(BadInput):
        uncertainty({"spans": []})


def test_the_most_uncertain_documents_are_chosen_in_order():
    probabilities = [0.99, 0.02, 0.55, 0.9, 0.48, 0.05, 0.97, 0.6, 0.01, 0.95]
    picked = select_uncertain(TOPICS, [record(p) for p in probabilities], 3)
    assert [p["index"] for p in picked] == [4, 2, 7]  # 0.48, 0.55, 0.60: nearest 0.5 first
    assert picked[0]["uncertainty"] == pytest.approx(0.96)


def test_near_copies_are_not_both_chosen():
    texts = list(TOPICS)
    # a syndicated copy of the most uncertain story, one word changed
    texts.append(TOPICS[4].replace("long night", "long evening"))
    probabilities = [0.99, 0.02, 0.6, 0.9, 0.5, 0.05, 0.97, 0.7, 0.01, 0.95, 0.5]
    picked = [p["index"] for p in select_uncertain(texts, [record(p) for p in probabilities], 3)]
    assert picked[0] in (4, 10)
    assert not {4, 10} <= set(picked)
    assert 2 in picked  # the next most uncertain distinct story takes the copy's place
    # without the diversity term both copies would be taken
    plain = select_uncertain(
        texts, [record(p) for p in probabilities], 3, redundancy=0.0, duplicate_similarity=1.01
    )
    assert {4, 10} <= {p["index"] for p in plain}


def test_only_near_copies_left_are_taken_anyway():
    texts = ["the same words here and there"] * 3
    picked = select_uncertain(texts, [record(0.5)] * 3, 3)
    assert sorted(p["index"] for p in picked) == [0, 1, 2]


def test_total_token_entropy_counts_undecided_tokens_in_bits():
    assert total_token_entropy(np.array([])) == 0.0
    assert total_token_entropy(np.array([0.0, 1.0, 0.0])) == pytest.approx(0.0, abs=1e-9)
    assert total_token_entropy(np.array([0.5, 0.5, 0.5])) == pytest.approx(3.0)
    # entropy is symmetric around 0.5 and adds up over tokens
    assert total_token_entropy(np.array([0.2])) == pytest.approx(total_token_entropy([0.8]))
    many = total_token_entropy(np.full(40, 0.3))
    few = total_token_entropy(np.full(4, 0.3))
    assert many == pytest.approx(10 * few)
    # the length-normalised score of the earlier selection does not see the difference
    assert threshold_closeness(np.full(40, 0.3), 0.35) == pytest.approx(
        threshold_closeness(np.full(4, 0.3), 0.35)
    )


def test_density_is_high_for_typical_documents_and_zero_for_an_outlier():
    texts = [
        "the central bank raised interest rates",
        "the central bank cut interest rates",
        "the central bank held interest rates",
        "frogs croak loudly in cloud forests",
    ]
    d = density(document_vectors(texts))
    assert d[3] == pytest.approx(0.0)
    assert min(d[:3]) > 0.1
    assert density(document_vectors(["one lonely document"])).tolist() == [1.0]


class FixedTagger:
    """SpanTagger.token_proba interface: set token scores per text."""

    def __init__(self, by_text: dict[str, np.ndarray]):
        self.by_text = by_text
        self.calls = 0

    def token_proba(self, texts):
        self.calls += 1
        return [[(0, 1)] * len(self.by_text[t]) for t in texts], [self.by_text[t] for t in texts]


def test_span_uncertainties_are_total_token_entropy_over_the_pool_maximum():
    tagger = FixedTagger(
        {
            "sure": np.array([0.01, 0.99, 0.02]),
            "long undecided": np.full(30, 0.5),
            "short undecided": np.full(3, 0.5),
        }
    )
    u = span_uncertainties(tagger, ["sure", "long undecided", "short undecided"])
    assert u[1] == pytest.approx(1.0)
    assert u[2] == pytest.approx(0.1)
    assert 0.0 < u[0] < 0.05
    assert span_uncertainties(FixedTagger({"x": np.zeros(2)}), ["x"]) == [0.0]


class FixedModel:
    """Model.predict interface with set probabilities per text (for select_documents)."""

    model_version = "fixed-1"
    frame_thresholds = {"Political": 0.3}

    def __init__(self, by_text: dict[str, float], tagger=None):
        self.by_text = by_text
        self.tagger = tagger

    def predict(self, texts, token_scores=None):
        if self.tagger is not None:  # as Model.predict: one tagger pass per batch
            _, probas = self.tagger.token_proba(texts)
            if token_scores is not None:
                token_scores.extend(probas)
        return [record(self.by_text[t], {"Political": 0.3}) for t in texts]


def test_select_documents_prefers_documents_with_many_undecided_tokens():
    # the document-level probability says nothing (all 0.99): the token scores decide
    texts = TOPICS[:6]
    token_scores = {t: np.full(5, 0.02) for t in texts}
    token_scores[texts[3]] = np.full(60, 0.45)  # many undecided tokens
    token_scores[texts[1]] = np.full(6, 0.45)  # few undecided tokens
    tagger = FixedTagger(token_scores)
    docs = [Document(f"d{i}", t) for i, t in enumerate(texts)]
    chosen, scores = select_documents(docs, FixedModel(dict.fromkeys(texts, 0.99), tagger), 2)
    assert [d.id for d in chosen] == ["d3", "d1"]
    assert tagger.calls == 1  # the prediction's tagger pass also gives the entropies
    # the frame probability sits on its threshold for all: span part 1.0 and 0.1
    assert scores["d3"] == pytest.approx(0.0)
    assert scores["d1"] == pytest.approx(1 - (0.1 + 1.0) / 2, abs=1e-3)


def test_select_documents_returns_prediction_scores_low_for_uncertain():
    docs = [Document(f"d{i}", t) for i, t in enumerate(TOPICS)]
    model = FixedModel({t: p for t, p in zip(TOPICS, np.linspace(0.0, 0.9, 10), strict=True)})
    chosen, scores = select_documents(docs, model, 4)
    assert len(chosen) == 4 and set(scores) == {d.id for d in chosen}
    assert chosen[0].id == "d5"  # p = 0.5
    ordered = [scores[d.id] for d in chosen]
    assert ordered == sorted(ordered)  # chosen most uncertain first = lowest score first
    assert all(0.0 <= s <= 1.0 for s in ordered)
    with pytest.raises(BadInput):
        select_documents(docs, None, 4)
    with pytest.raises(BadInput):
        select_documents(docs, model, 0)


# ---- push --select against a real Label Studio, with a real (small) trained model ----------

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
PTC = DATA / "ptc"
SE = DATA / "semeval2023"

FAST_CONFIG = """
name = "select-test"
seed = 0
[tagger]
n_features = 262144
alpha = 2e-6
epochs = 5
cv_folds = 2
thresholds = [0.1, 0.2, 0.3]
max_gaps = [0, 4]
[technique]
cv_folds = 0
[frames]
cv_folds = 2
threshold_grid = [0.2, 0.3, 0.4, 0.5]
"""


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    """A real model (annotate train) on 40 PTC articles and 60 SemEval-2023 frame labels."""
    if not PTC.is_dir():
        pytest.skip("../shared/data not present")
    from annotate.formats.ptc import ptc_rows
    from annotate.formats.semeval2023 import semeval2023_rows
    from annotate.learn.train import train

    where = tmp_path_factory.mktemp("select-model")
    spans, _ = ptc_rows(PTC / "train-articles", PTC / "train-labels-task-tc")
    frames, _ = semeval2023_rows(
        SE / "articles-subtask-1-2", frames=SE / "train-labels-subtask-2.txt"
    )
    corpus.write_corpus(spans[:40], where / "spans", source={"test": "select"})
    corpus.write_corpus(frames[:60], where / "frames", source={"test": "select"})
    (where / "fast.toml").write_text(FAST_CONFIG)
    train(
        [where / "spans", where / "frames"],
        where / "model",
        config=where / "fast.toml",
        progress=lambda _: None,
    )
    pool = where / "pool"
    pool.mkdir()
    for r in spans[300:316]:
        (pool / f"{r['id']}.txt").write_bytes(r["text"].encode("utf-8"))
    return where / "model", pool


@pytest.mark.studio
@pytest.mark.slow
def test_push_select_sends_exactly_n_tasks_with_uncertainty_scores(
    studio, small_model, tmp_path, capsys, monkeypatch
):
    from annotate.cli import main
    from annotate.documents import read_documents
    from annotate.learn.model import Model
    from annotate.schema import load_schema

    for k, v in studio.env.items():
        monkeypatch.setenv(k, v)
    model_dir, pool = small_model
    title = studio.new_project("select")
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "annotate",
            "push",
            str(pool),
            "--project",
            title,
            "--model",
            str(model_dir),
            "--select",
            "5",
        ],
    )
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code in (0, None), capsys.readouterr().err
    assert "5 new task(s)" in capsys.readouterr().out

    model = Model.load(model_dir)
    expected, expected_scores = select_documents(read_documents([pool]), model, 5)
    api = studio.api()
    project = api.find_project(title)
    tasks = list(api.tasks(project["id"], fields="all"))
    assert sorted(t["data"]["doc_id"] for t in tasks) == sorted(d.id for d in expected)
    interface = load_schema().interface()
    for task in tasks:
        preds = [p for p in task["predictions"] if p["model_version"] == model.model_version]
        assert len(preds) == 1
        pred = preds[0]
        assert pred["score"] == pytest.approx(expected_scores[task["data"]["doc_id"]], abs=1e-6)
        assert 0.0 <= pred["score"] <= 1.0
        assert interface.validate_prediction({"result": pred["result"], "score": pred["score"]})
    # Label Studio serves the lowest-scored tasks of this model version first
    settings = api.get(f"/api/projects/{project['id']}/")
    assert settings["sampling"] == "Uncertainty sampling"
    assert settings["model_version"] == model.model_version
    # the five chosen are more uncertain than the documents left in the pool, bar diversity
    # (total token entropy of the span tagger, normalised over the pool, and the frames)
    pool_docs = read_documents([pool])
    texts = [d.text for d in pool_docs]
    spans = span_uncertainties(model.tagger, texts)
    every = {
        d.id: uncertainty(p, model.frame_thresholds, s)
        for d, p, s in zip(pool_docs, model.predict(texts), spans, strict=True)
    }
    for doc_id, score in expected_scores.items():
        assert score == pytest.approx(1 - every[doc_id], abs=1e-5)
    left_u = [u for doc_id, u in every.items() if doc_id not in expected_scores]
    chosen_u = [1 - s for s in expected_scores.values()]
    assert np.mean(chosen_u) > np.mean(left_u)
