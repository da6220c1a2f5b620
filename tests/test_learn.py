"""Training on small real corpora, then loading and predicting; the `annotate train` CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from learn_helpers import REPO, fast_config, small_corpora
from typer.testing import CliRunner

from annotate.cli import app
from annotate.corpus import read_corpus
from annotate.learn.model import Model
from annotate.learn.rules import decode
from annotate.learn.train import train
from annotate.schema import load_schema


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("learn")
    ptc, sem = small_corpora(root)
    out = root / "model"
    summary = train([ptc, sem], out, config=fast_config(root))
    return {"root": root, "ptc": ptc, "sem": sem, "model": out, "summary": summary}


def test_train_writes_model_files_and_summary(trained):
    out = trained["model"]
    info = json.loads((out / "model.json").read_text())
    skops = {f for f in info["files"] if f.endswith(".skops")}
    assert skops == {"tagger.skops", "technique.skops", "frames.skops", "propaganda.skops"}
    # the rest: the large arrays, as .npy files memory-mapped on load (learn/arrays.py)
    placed = {e["file"] for entries in info["arrays"].values() for e in entries}
    assert set(info["files"]) - skops == placed and all(f.endswith(".npy") for f in placed)
    assert not list(out.glob("*.pkl")) and (out / "MODEL_CARD.md").is_file()
    schema = load_schema()
    assert info["label_config_sha256"] == schema.sha256
    assert [c["span_documents"] for c in info["corpora"]] == [20, 0]
    assert [c["frame_documents"] for c in info["corpora"]] == [0, 20]
    assert all(len(c["sha256"]) == 64 for c in info["corpora"])
    assert {"si", "sentences", "tc", "frames"} <= set(info["cv"])
    assert set(info["frame_thresholds"]) == set(schema.frames)
    assert "CV span identification" in trained["summary"]
    assert info["model_version"] in (out / "MODEL_CARD.md").read_text()


def test_load_and_predict(trained):
    model = Model.load(trained["model"])
    schema = load_schema()
    assert model.techniques == schema.techniques and model.frames == schema.frames
    assert model.model_version.startswith("annotate-test-")
    texts = [r["text"] for r in read_corpus(trained["ptc"])][:3] + ["", "Short text."]
    results = model.predict(texts)
    assert len(results) == len(texts)
    n_spans = 0
    for text, r in zip(texts, results, strict=True):
        assert 0.0 <= r["propaganda"] <= 1.0
        assert list(r["frames"]) == list(schema.frames)
        assert set(r["frame_labels"]) == {
            f for f, p in r["frames"].items() if p >= model.frame_thresholds[f]
        }
        for s in r["spans"]:
            assert text[s["start"] : s["end"]] == s["text"] and s["source"] == "model"
            assert s["label"] in schema.techniques and 0 <= s["score"] <= 1
        n_spans += len(r["spans"])
    assert n_spans > 0  # the training articles themselves must yield spans
    assert results[3]["spans"] == []


def test_classify_spans_and_proba(trained):
    model = Model.load(trained["model"])
    row = read_corpus(trained["ptc"])[0]
    spans = [(s["start"], s["end"]) for s in row["spans"]]
    proba = model.technique_proba(row["text"], spans)
    assert proba.shape == (len(spans), len(model.techniques))
    assert np.allclose(proba.sum(axis=1), 1.0)
    labels = model.classify_spans(row["text"], spans)
    assert len(labels) == len(spans) and set(labels) <= set(model.techniques)
    # the same span listed twice gets two different techniques (PTC multi-label spans)
    twice = model.classify_spans(row["text"], [spans[0], spans[0]])
    assert twice[0] != twice[1]
    assert model.classify_spans(row["text"], []) == []
    # on its own training articles the classifier mostly recovers the gold labels
    gold = [s["label"] for s in row["spans"]]
    assert np.mean([a == b for a, b in zip(labels, gold, strict=True)]) > 0.5


def test_repetition_feature_points_to_repetition(trained):
    model = Model.load(trained["model"])
    phrase = "the radical globalist agenda"
    text = f"They push {phrase}. Nobody voted for {phrase}. Again: {phrase}!"
    start = text.rindex(phrase)
    proba = model.technique_proba(text, [(start, start + len(phrase))])[0]
    single = "They push an agenda. Nobody voted for the radical globalist agenda."
    s2 = single.rindex(phrase)
    proba_single = model.technique_proba(single, [(s2, s2 + len(phrase))])[0]
    rep = model.techniques.index("Repetition")
    assert proba[rep] > proba_single[rep]


def test_decode_bridges_gaps_and_thresholds():
    offsets = [(0, 3), (4, 8), (9, 12), (13, 17), (18, 20)]
    proba = np.array([0.9, 0.1, 0.8, 0.05, 0.7])
    assert [s[:2] for s in decode(offsets, proba, 0.5, max_gap=0)] == [(0, 3), (9, 12), (18, 20)]
    assert [s[:2] for s in decode(offsets, proba, 0.5, max_gap=1)] == [(0, 20)]
    assert decode(offsets, proba, 0.95) == []


def test_cli_train(trained, tmp_path):
    out = tmp_path / "cli-model"
    result = CliRunner().invoke(
        app,
        [
            "train",
            str(trained["ptc"]),
            str(trained["sem"]),
            "--out",
            str(out),
            "--config",
            str(trained["root"] / "fast.toml"),
            "--lexicon",
            str(REPO.parent / "shared/data/lexicons/recasens2013_bias_related/bias-lexicon.txt"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "trained annotate-test-" in result.output
    info = json.loads((out / "model.json").read_text())
    assert info["lexicons"] == ["bias-lexicon"]
    assert Model.load(out).predict(["A text."])[0]["spans"] is not None


def test_cli_train_bad_input_exits_2(tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "annotate",
        "train",
        str(tmp_path / "nope"),
        "--out",
        str(tmp_path / "m"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2
    message = " ".join(proc.stderr.split())  # rich wraps long lines
    assert "not a corpus directory" in message and "Traceback" not in message
    assert not (tmp_path / "m").exists()


def test_train_needs_annotated_documents(tmp_path):
    from annotate.corpus import row, write_corpus
    from annotate.errors import BadInput

    write_corpus([row("a", "Plain text.")], tmp_path / "c", source={"format": "test"})
    with pytest.raises(BadInput, match="no document is annotated"):
        train([tmp_path / "c"], tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_evaluate_and_score_with_trained_model(trained, tmp_path):
    from annotate.documents import Document
    from annotate.evaluate import evaluate
    from annotate.scoring import score_documents

    metrics = evaluate(trained["model"], [trained["ptc"], trained["sem"]])
    assert metrics["documents"] == 40
    assert metrics["spans"]["si"]["f1"] > 0.15  # its own training data (a broken tagger: ~0)
    assert metrics["frames"]["micro_f1"] > 0.3
    model = Model.load(trained["model"])
    rows = list(read_corpus(trained["ptc"]))[:2]
    records = list(score_documents([Document(r["id"], r["text"], {}) for r in rows], model))
    assert [r["id"] for r in records] == [r["id"] for r in rows]
    assert "propaganda" in records[0] and any(s["source"] == "model" for s in records[0]["spans"])


@pytest.mark.slow
def test_full_corpora_cross_validated_quality(tmp_path):
    """Both shared corpora with the default config: CV figures stay above sane floors."""
    from annotate.corpus import write_corpus
    from annotate.formats.ptc import ptc_rows
    from annotate.formats.semeval2023 import semeval2023_rows

    data = REPO.parent / "shared" / "data"
    rows, _ = ptc_rows(data / "ptc" / "train-articles", data / "ptc" / "train-labels-task-tc")
    write_corpus(rows, tmp_path / "ptc", source={"format": "ptc"})
    rows, _ = semeval2023_rows(
        data / "semeval2023" / "articles-subtask-1-2",
        frames=data / "semeval2023" / "train-labels-subtask-2.txt",
    )
    write_corpus(rows, tmp_path / "sem", source={"format": "semeval2023"})
    train([tmp_path / "ptc", tmp_path / "sem"], tmp_path / "model")
    cv = json.loads((tmp_path / "model" / "model.json").read_text())["cv"]
    # measured 0.425 / 0.598 / 0.696 (threshold tuned on the same out-of-fold scores); the
    # model before word vectors and span weights measured 0.37 / 0.55 / 0.68
    assert cv["si"]["f1"] > 0.40
    assert cv["sentences"]["f1"] > 0.57
    assert cv["frames"]["micro_f1"] > 0.68


def test_sentence_words_give_each_token_its_sentences_distinct_words():
    from annotate.learn.features import token_matrix, tokenize

    tok = tokenize(["The war, the war! Peace now.", "One more."])
    extra = (token_matrix(tok, 2**20, 2, {}, True) - token_matrix(tok, 2**20, 2, {}, False)).tocsr()
    # sentences: {the, war} x 6 tokens, {peace, now} x 3 tokens, {one, more} x 3 tokens
    assert extra.getnnz(axis=1).tolist() == [2] * 6 + [2] * 3 + [2] * 3
    assert extra.sum() == 24
    assert set(extra[0].indices) == set(extra[5].indices) != set(extra[6].indices)


def test_tagger_rule_is_tuned_when_every_document_has_spans():
    """The decision rule is chosen by CV even when every training article has a span (it was
    left at the estimator's defaults then: found by the active-learning bench, whose
    uncertainty selection gathers only span-bearing articles)."""
    from annotate.formats.ptc import ptc_rows
    from annotate.learn.fit_spans import fit_tagger
    from annotate.learn.tagger import SpanTagger

    rows, _ = ptc_rows(
        REPO.parent / "shared" / "data" / "ptc" / "train-articles",
        REPO.parent / "shared" / "data" / "ptc" / "train-labels-task-tc",
    )
    rows = [r for r in rows if r["spans"]][:12]
    texts = [r["text"] for r in rows]
    gold = [[(s["start"], s["end"]) for s in r["spans"]] for r in rows]
    cfg = {"n_features": 2**16, "epochs": 3, "cv_folds": 3, "sentence_chars": False}
    cfg |= {"sentence_weights": [0.9], "thresholds": [0.15, 0.25], "max_gaps": [8, 16]}
    tagger, cv, _ = fit_tagger(texts, gold, cfg, {}, 0, lambda _m: None)
    assert "si" in cv and cv["si"]["f1"] > 0
    defaults = SpanTagger().get_params()
    assert tagger.sentence_weight == 0.9 != defaults["sentence_weight"]
    assert tagger.threshold in (0.15, 0.25)
    assert tagger.max_gap in (8, 16)


def test_fold_average_final_model_is_the_mean_of_the_fold_models():
    from annotate.formats.ptc import ptc_rows
    from annotate.learn.fit_spans import fit_tagger

    rows, _ = ptc_rows(
        REPO.parent / "shared" / "data" / "ptc" / "train-articles",
        REPO.parent / "shared" / "data" / "ptc" / "train-labels-task-tc",
    )
    rows = rows[:12]
    texts = [r["text"] for r in rows]
    gold = [[(s["start"], s["end"]) for s in r["spans"]] for r in rows]
    cfg = {"n_features": 2**16, "epochs": 3, "cv_folds": 3, "sentence_chars": False}
    cfg |= {"thresholds": [0.2, 0.3], "max_gaps": [8]}
    refit, _, _ = fit_tagger(texts, gold, cfg, {}, 0, lambda _m: None, jobs=2)
    messages: list[str] = []
    averaged, cv, _ = fit_tagger(texts, gold, cfg | {"final": "fold-average"}, {}, 0,
                                 messages.append, jobs=2)  # fmt: skip
    again, _, _ = fit_tagger(texts, gold, cfg | {"final": "fold-average"}, {}, 0,
                             lambda _m: None, jobs=2)  # fmt: skip
    assert "span tagger: final model = mean of the fold models" in messages
    assert "span tagger: final fit" not in messages
    coef = averaged.token_classifier_.coef_
    assert not np.allclose(coef, refit.token_classifier_.coef_)
    assert np.array_equal(coef, again.token_classifier_.coef_)  # same order, same mean
    assert averaged.predict(texts[:2]) and cv["si"]["f1"] > 0
