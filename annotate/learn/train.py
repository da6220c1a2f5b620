"""`annotate train`: fit every model component on one or several corpora and save the bundle.

A component learns from the documents annotated for its control (`technique` -> spans,
`frame` -> frames), so spans may come from one corpus and frames from another. Decision
thresholds (span tagger, frames) are chosen on out-of-fold predictions of a cross-validation
grouped by document; the same predictions give the CV figures written into model.json.
"""

from __future__ import annotations

import datetime as _dt
import os
import sys
import time
import tomllib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import GroupKFold, KFold

from annotate import metrics
from annotate.atomic import atomic_path
from annotate.corpus import Merged, corpus_sha256, merge, read_corpus
from annotate.errors import BadInput
from annotate.learn.features import load_lexicons
from annotate.learn.frames import FrameClassifier, PropagandaScorer, tagger_summary
from annotate.learn.model import Model, versions
from annotate.learn.rules import FILL, labelled_spans, tune_rules
from annotate.learn.tagger import BLIND, SpanTagger, average_linear, decode, mix
from annotate.learn.technique import TechniqueClassifier
from annotate.resources import default_model_config
from annotate.schema import FRAME_CONTROL, SPAN_CONTROL, Schema, load_schema

DEFAULT_CONFIG = default_model_config()  # shipped: the repository's, or the wheel's copy


def load_config(path: str | Path | None) -> dict[str, Any]:
    path = Path(path) if path else DEFAULT_CONFIG
    if (
        not path.is_file()
        and not path.is_absolute()
        and DEFAULT_CONFIG.parent.joinpath(path.name).is_file()
    ):
        path = DEFAULT_CONFIG.parent / path.name
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput("model config not found", path) from None
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"not valid TOML ({exc})", path) from None


def load_documents(
    corpora: Sequence[str | Path], policy: str, schema: Schema
) -> tuple[list[Merged], list[dict]]:
    """Merged documents of all corpora, and per-corpus provenance for model.json."""
    docs: list[Merged] = []
    provenance = []
    for path in corpora:
        dataset = read_corpus(path)
        n_span = n_frame = 0
        for r in dataset:
            m = merge(r, policy, frame_control=FRAME_CONTROL)
            if m is None:
                continue
            for s in m.spans:
                if s["label"] not in schema.techniques:
                    raise BadInput(
                        f"span label {s['label']!r} is not in the label config",
                        path,
                        f"document {m.id!r}",
                    )
            n_span += SPAN_CONTROL in m.annotated
            n_frame += FRAME_CONTROL in m.annotated
            docs.append(m)
        provenance.append(
            {
                "path": str(path),
                "sha256": corpus_sha256(path),
                "documents": len(dataset),
                "span_documents": n_span,
                "frame_documents": n_frame,
            }
        )
    return docs, provenance


def kfolds(n: int, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """K shuffled folds over n documents (train, test index arrays); none when k < 2."""
    k = min(k, n)
    if k < 2:
        return []
    return list(KFold(k, shuffle=True, random_state=seed).split(np.arange(n)))


def tagger_params(cfg: dict[str, Any], lexicons: dict[str, list[str]]) -> dict[str, Any]:
    """`SpanTagger` parameters from the `[tagger]` table of a model config (missing keys: the
    estimator's defaults, which are the shipped configuration)."""
    keys = {k for k in SpanTagger().get_params() if k not in ("lexicons", "rules")}
    params = {k: cfg[k] for k in keys if k in cfg}
    if "vector_clusters" in params:
        params["vector_clusters"] = tuple(int(k) for k in params["vector_clusters"])
    if "groups" in params:
        params["groups"] = tuple(tuple(g) for g in params["groups"])
    return {**params, "lexicons": lexicons or None}


def fit_tagger(
    texts: list[str],
    gold: list[list[tuple]],
    cfg: dict[str, Any],
    lexicons: dict[str, list[str]],
    seed: int,
    say: Callable[[str], None],
    jobs: int = 1,
    technique: tuple[dict[str, Any], Sequence[str]] | None = None,
) -> tuple[SpanTagger, dict[str, Any], list[list[float]]]:
    """Fit the span tagger; the score mix, threshold and gap bridging are chosen for SI F1
    on out-of-fold predictions. `gold` spans are `(start, end)` or `(start, end, technique)`.

    With `technique = (TechniqueClassifier parameters, technique names)` and `labelled` in
    the config, each fold also fits a technique classifier, and every technique gets its own
    decoding rule (rules.py), chosen for the labelled FLC F1 on the out-of-fold scores.

    Returns the tagger, its CV figures and each document's out-of-fold token-score summary
    (the propaganda scorer's training input).
    """
    tagger = SpanTagger(**tagger_params(cfg, lexicons))
    labelled = technique is not None and bool(cfg.get("labelled", True))
    if not labelled:
        tagger.set_params(groups=(), technique_sentences=False)
    if tagger.word_vectors:
        say("span tagger: word vectors and clusters")
        tagger.vectors()
    say(f"span tagger: features of {len(texts)} documents")
    F = tagger.featurize(texts)
    folds = kfolds(len(texts), int(cfg.get("cv_folds", 5)), seed)
    cv: dict[str, Any] = {}
    summaries = [[0.0] * 5 for _ in texts]

    def final_fit() -> None:  # the decoding settings chosen below are not used by fitting
        say("span tagger: final fit")
        tagger.fit_featurized(F, range(len(texts)), gold)

    # "refit": the final model is fitted on every document, in the pool beside the CV folds
    # (threads: the SGD solver releases the GIL); "fold-average": it is the mean of the fold
    # models' weights, the models whose out-of-fold scores chose the decoding settings
    average_folds = str(cfg.get("final", "refit")) == "fold-average" and bool(folds)
    pool = ThreadPoolExecutor(max(1, jobs))
    final = None if average_folds else pool.submit(final_fit)
    fold_models: list[SpanTagger | None] = [None] * len(folds)
    fold_techniques: list[TechniqueClassifier | None] = [None] * len(folds)
    fold_of = np.zeros(len(texts), dtype=int)
    if folds and any(gold):  # also when every document has spans
        p_tok: list[np.ndarray] = [np.zeros(0)] * len(texts)
        p_sent: list[np.ndarray] = [np.zeros(0)] * len(texts)
        oof_sources: dict[str, tuple[list, list]] = {}

        def fold(f: int) -> None:
            train_docs, test_docs = folds[f]
            fold_of[test_docs] = f
            say(f"span tagger: fold {f + 1}/{len(folds)}")
            model = SpanTagger(**tagger.get_params())
            model.fit_featurized(F, train_docs, [gold[d] for d in train_docs])
            fold_models[f] = model
            for name, (tok, sent) in model.source_scores_featurized(F, test_docs).items():
                into = oof_sources.setdefault(name, ([None] * len(texts), [None] * len(texts)))
                for d, t, s in zip(test_docs, tok, sent, strict=True):
                    into[0][d], into[1][d] = t, s
            if labelled:
                items = [(texts[d], sp[0], sp[1]) for d in train_docs for sp in gold[d]]
                names = [sp[2] for d in train_docs for sp in gold[d]]
                if len(set(names)) > 1:
                    fold_techniques[f] = TechniqueClassifier(**technique[0]).fit(items, names)

        list(pool.map(fold, range(len(folds))))
        p_tok, p_sent = oof_sources[BLIND]

        within = F.token_sentences() if tagger.within_sentences else [None] * len(texts)

        def spans(weight: float, doc_weight: float, threshold: float, gap: int) -> list:
            return [
                decode(o, mix(t, s, weight, doc_weight), threshold, gap, tagger.min_tokens, w)
                for o, t, s, w in zip(F.offsets, p_tok, p_sent, within, strict=True)
            ]

        blind_gold = [[(sp[0], sp[1]) for sp in doc] for doc in gold]

        def si_f1(weight: float, doc_weight: float, threshold: float, gap: int) -> float:
            return metrics.si_prf(spans(weight, doc_weight, threshold, gap), blind_gold)["f1"]

        weights = [float(w) for w in cfg.get("sentence_weights", [0.5])]
        doc_weights = [float(w) for w in cfg.get("document_weights", [0.0])]
        thresholds = [float(t) for t in cfg.get("thresholds", [tagger.threshold])]
        gaps = [int(g) for g in cfg.get("max_gaps", [tagger.max_gap])]
        # coordinate search: weight x threshold at a middle gap and no document weight,
        # then the document weight (threshold re-chosen), then the gap
        gap0 = gaps[len(gaps) // 2]
        _, w_best, t_best = max((si_f1(w, 0.0, t, gap0), w, t) for w in weights for t in thresholds)
        _, v_best, t_best = max(
            (si_f1(w_best, v, t, gap0), v, t) for v in doc_weights for t in thresholds
        )
        _, g_best = max((si_f1(w_best, v_best, t_best, g), g) for g in gaps)
        tagger.set_params(
            sentence_weight=w_best, document_weight=v_best, threshold=t_best, max_gap=g_best
        )
        pred = spans(w_best, v_best, t_best, g_best)
        cv["si"] = metrics.si_prf(pred, blind_gold)
        cv["sentences"] = metrics.sentence_prf(texts, pred, blind_gold)
        if labelled and all(m is not None for m in fold_techniques):
            say("span tagger: a decoding rule per technique (FLC F1)")
            blind_rule = {
                "source": BLIND,
                "sentence_weight": w_best,
                "document_weight": v_best,
                "threshold": t_best,
                "max_gap": g_best,
            }
            rules, flc, labelled_pred = tune_technique_rules(
                F, oof_sources, within, gold, technique[1], fold_techniques, fold_of, texts, cfg,
                blind_rule, cv["si"]["f1"] - float(cfg.get("si_tolerance", 0.01)),
            )  # fmt: skip
            tagger.set_params(rules=rules)
            cv["flc"] = flc
            cv["si_labelled"] = metrics.si_prf(labelled_pred, blind_gold)
            cv["sentences"] = metrics.sentence_prf(texts, labelled_pred, blind_gold)
        summaries = [
            tagger_summary(mix(t, s, w_best, v_best)) for t, s in zip(p_tok, p_sent, strict=True)
        ]
    if final is not None:
        final.result()
    elif all(
        m is not None
        and not isinstance(m.token_classifier_, float)
        and not isinstance(m.sentence_classifier_, float)
        for m in fold_models
    ):
        say("span tagger: final model = mean of the fold models")
        tagger.token_classifier_ = average_linear([m.token_classifier_ for m in fold_models])
        tagger.sentence_classifier_ = average_linear([m.sentence_classifier_ for m in fold_models])
    else:  # a fold saw one class only: fit on everything instead
        final_fit()
    pool.shutdown()
    return tagger, cv, summaries


def tune_technique_rules(
    F: Any,
    sources: dict[str, tuple[list, list]],
    within: Sequence[np.ndarray | None],
    gold: list[list[tuple]],
    techniques: Sequence[str],
    fold_techniques: Sequence[TechniqueClassifier],
    fold_of: np.ndarray,
    texts: list[str],
    cfg: dict[str, Any],
    blind_rule: dict[str, Any],
    si_floor: float,
) -> tuple[dict[str, dict], dict[str, float], list[list[tuple[int, int]]]]:
    """Per-technique decoding rules on out-of-fold token scores and technique probabilities.

    A technique reads the blind token scores, its technique group's, or the blind token
    scores beside its own sentence classifier's; its rule's source, mix, threshold, gap and
    classifier confidence are chosen for the pooled FLC F1. Then the fill-in rule (the
    SI-tuned blind runs no technique touched, under their most probable technique) takes
    the confidence floor with the best FLC among those whose SI reaches `si_floor` (the
    blind rule's SI less a tolerance), or the best SI when none does. Returns the rules,
    their CV FLC figures and the spans they decode."""
    column = {t: j for j, t in enumerate(techniques)}
    cache: dict[tuple[int, int, int], np.ndarray] = {}

    def technique_proba(items: list[tuple[int, int, int]]) -> np.ndarray:
        todo = [it for it in dict.fromkeys(items) if it not in cache]
        by_fold: dict[int, list[tuple[int, int, int]]] = {}
        for it in todo:
            by_fold.setdefault(int(fold_of[it[0]]), []).append(it)
        for f, its in by_fold.items():
            clf = fold_techniques[f]
            proba = clf.predict_proba([(texts[d], a, b) for d, a, b in its])
            full = np.zeros((len(its), len(techniques)))
            for k, label in enumerate(clf.classes_):
                full[:, column[label]] = proba[:, k]
            cache.update(zip(its, full, strict=True))
        return np.array([cache[it] for it in items]).reshape(len(items), len(techniques))

    allowed = {t: [BLIND] for t in techniques}
    for name in sources:
        if name.startswith("sentence:"):
            allowed.setdefault(name.removeprefix("sentence:"), [BLIND]).append(name)
        elif name != BLIND:
            for t in name.split("|"):
                allowed.setdefault(t, [BLIND]).append(name)
    grid = {
        "sentence_weights": [float(w) for w in cfg.get("rule_sentence_weights", [0.0, 0.3, 1.0])],
        "thresholds": [float(t) for t in cfg.get("rule_thresholds", [0.2, 0.3, 0.4])],
        "max_gaps": [int(g) for g in cfg.get("rule_max_gaps", [0, 1, 4, 16])],
        "min_probas": [float(p) for p in cfg.get("rule_min_probas", [0.0, 0.1, 0.2, 0.3, 0.4])],
        "argmax": [bool(a) for a in cfg.get("rule_argmax", [True, False])],
    }
    rules, flc = tune_rules(
        F.offsets, sources, within, gold, techniques, technique_proba, grid, allowed
    )
    blind_gold = [[(sp[0], sp[1]) for sp in doc] for doc in gold]
    tried = []
    for floor in [None] + [float(p) for p in cfg.get("fill_min_probas", [0.6, 0.4, 0.2, 0.0])]:
        trial = (
            dict(rules) if floor is None else {**rules, FILL: {**blind_rule, "min_proba": floor}}
        )
        found = labelled_spans(F.offsets, sources, within, trial, techniques, technique_proba)
        unlabelled = [[(a, b) for a, b, _, _ in doc] for doc in found]
        si = metrics.si_prf(unlabelled, blind_gold)["f1"]
        fl = metrics.flc_prf([[(a, b, lab) for a, b, lab, _ in doc] for doc in found], gold)
        tried.append((si >= si_floor, fl["f1"] if si >= si_floor else si, trial, fl, unlabelled))
    _, _, rules, flc, spans = max(tried, key=lambda t: (t[0], t[1]))
    return rules, flc, spans


def technique_params(cfg: dict[str, Any], lexicons: dict[str, list[str]]) -> dict[str, Any]:
    """`TechniqueClassifier` parameters from the `[technique]` table of a model config."""
    return {
        "C": float(cfg.get("C", 4.0)),
        "context_words": int(cfg.get("context_words", 4)),
        "char_ngrams": tuple(cfg.get("char_ngrams", (2, 5))),
        "lexicons": lexicons or None,
    }


def fit_technique(
    items: list[tuple[str, int, int]],
    labels: list[str],
    groups: list[int],
    cfg: dict[str, Any],
    techniques: Sequence[str],
    lexicons: dict[str, list[str]],
    say: Callable[[str], None],
) -> tuple[TechniqueClassifier, dict[str, float]]:
    params = technique_params(cfg, lexicons)
    cv: dict[str, float] = {}
    k = min(int(cfg.get("cv_folds", 5)), len(set(groups)))
    if k >= 2 and len(set(labels)) > 1:
        pred = np.empty(len(items), dtype=object)
        for f, (tr, te) in enumerate(GroupKFold(k).split(items, labels, groups), 1):
            say(f"technique classifier: fold {f}/{k}")
            if len({labels[i] for i in tr}) < 2:
                pred[te] = labels[tr[0]]
                continue
            clf = TechniqueClassifier(**params).fit([items[i] for i in tr], [labels[i] for i in tr])
            pred[te] = clf.predict([items[i] for i in te])
        cv = metrics.tc_f1(list(pred), labels, techniques)
    say("technique classifier: final fit")
    return TechniqueClassifier(**params).fit(items, labels), cv


def micro_f1(decided: np.ndarray, truth: np.ndarray) -> float:
    """F1 of boolean decisions against boolean truth, micro over every cell."""
    return 2 * float((decided & truth).sum()) / max(int(decided.sum() + truth.sum()), 1)


def best_threshold(grid: Sequence[float], scores: np.ndarray, truth: np.ndarray) -> float:
    """The first grid value whose decisions `scores >= t` have the best F1 against `truth`
    (micro over every cell when the arrays are 2-D)."""
    return max(grid, key=lambda t: micro_f1(scores >= t, truth))


def frame_params(cfg: dict[str, Any], frames: Sequence[str]) -> dict[str, Any]:
    """`FrameClassifier` parameters from the `[frames]` table of a model config."""
    return {
        "frames": tuple(frames),
        "C": float(cfg.get("C", 8.0)),
        "ngram_range": tuple(cfg.get("ngram_range", (1, 2))),
        "min_df": int(cfg.get("min_df", 2)),
        "class_weight": cfg.get("class_weight") or None,
        "word_vectors": bool(cfg.get("word_vectors", True)),
        "vector_words": int(cfg.get("vector_words", 100000)),
        "vector_weight": float(cfg.get("vector_weight", 1.0)),
    }


def fit_frames(
    texts: list[str],
    frame_sets: list[list[str]],
    cfg: dict[str, Any],
    frames: Sequence[str],
    seed: int,
    say: Callable[[str], None],
) -> tuple[FrameClassifier, dict[str, float], dict[str, float]]:
    params = frame_params(cfg, frames)
    grid = [float(t) for t in cfg.get("threshold_grid", [0.5])]
    per_frame = str(cfg.get("thresholds", "global")) == "per_frame"
    thresholds = {f: 0.5 for f in frames}
    cv: dict[str, Any] = {}
    folds = kfolds(len(texts), int(cfg.get("cv_folds", 5)), seed)
    if folds:
        oof = np.zeros((len(texts), len(frames)))
        for f, (tr, te) in enumerate(folds, 1):
            say(f"frame classifier: fold {f}/{len(folds)}")
            clf = FrameClassifier(**params).fit([texts[i] for i in tr], [frame_sets[i] for i in tr])
            oof[te] = clf.predict_proba([texts[i] for i in te])
        gold = [set(fs) for fs in frame_sets]
        truth = np.array([[frame in g for frame in frames] for g in gold]).reshape(oof.shape)
        if per_frame:  # a threshold per frame: fits small frames' few examples closely
            for j, frame in enumerate(frames):
                thresholds[frame] = best_threshold(grid, oof[:, j], truth[:, j])
        else:  # one threshold for all frames, for micro-F1: steadier on a few hundred documents
            thresholds = dict.fromkeys(frames, best_threshold(grid, oof, truth))
        pred = [{f for j, f in enumerate(frames) if row[j] >= thresholds[f]} for row in oof]
        scores = metrics.multilabel_f1(pred, gold, frames)
        cv = {"micro_f1": scores["micro_f1"], "macro_f1": scores["macro_f1"]}
    say("frame classifier: final fit")
    clf = FrameClassifier(**params, thresholds=thresholds).fit(texts, frame_sets)
    return clf, cv, thresholds


def train(
    corpora: Sequence[str | Path],
    out_dir: str | Path,
    *,
    config: str | Path | None = None,
    lexicons: Sequence[str | Path] = (),
    policy: str = "majority",
    progress: Callable[[str], None] | None = None,
) -> str:
    """Train all components on the corpora, write the model directory, return a summary."""
    from threadpoolctl import threadpool_limits

    # One BLAS thread: these problems are small, and threads fight on a shared machine.
    with threadpool_limits(limits=1):
        return _train(
            corpora, out_dir, config=config, lexicons=lexicons, policy=policy, progress=progress
        )


def _train(
    corpora: Sequence[str | Path],
    out_dir: str | Path,
    *,
    config: str | Path | None,
    lexicons: Sequence[str | Path],
    policy: str,
    progress: Callable[[str], None] | None,
) -> str:
    started = time.perf_counter()
    say = progress or _default_progress()
    if not corpora:
        raise BadInput("give at least one corpus directory")
    cfg = load_config(config)
    seed = int(cfg.get("seed", 0))
    jobs = int(cfg.get("jobs", 0)) or min(2, os.cpu_count() or 1)
    schema = load_schema()
    lexicon_words = load_lexicons(lexicons)
    docs, provenance = load_documents(corpora, policy, schema)
    span_docs = [d for d in docs if SPAN_CONTROL in d.annotated]
    frame_docs = [d for d in docs if FRAME_CONTROL in d.annotated]
    if not span_docs and not frame_docs:
        raise BadInput(
            "no document is annotated for techniques or frames", ", ".join(map(str, corpora))
        )
    info: dict[str, Any] = {
        "format_version": 1,
        "name": str(cfg.get("name", "model")),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "label_config_sha256": schema.sha256,
        "techniques": list(schema.techniques),
        "frames": list(schema.frames),
        "policy": policy,
        "config": cfg,
        "lexicons": sorted(lexicon_words),
        "corpora": provenance,
        "versions": versions(),
        "cv": {},
        "cv_note": (
            "out-of-fold predictions of a K-fold CV grouped by document; the span and frame "
            "thresholds were chosen on the same predictions, so these figures lean optimistic "
            "(bench/quality.py measures with the tuning nested inside each fold)"
        ),
    }
    components: dict[str, Any] = {}
    items, labels, groups = [], [], []
    for k, d in enumerate(span_docs):
        for s in d.spans:
            items.append((d.text, s["start"], s["end"]))
            labels.append(s["label"])
            groups.append(k)
    # The technique and frame classifiers fit in a thread of their own, beside the span
    # tagger's: they need nothing from it, and its SGD solver leaves CPU time to spare.
    with ThreadPoolExecutor(1) as side:
        technique_job = (
            side.submit(
                fit_technique,
                items,
                labels,
                groups,
                cfg.get("technique", {}),
                schema.techniques,
                lexicon_words,
                say,
            )
            if items
            else None
        )
        frames_job = (
            side.submit(
                fit_frames,
                [d.text for d in frame_docs],
                [d.frames for d in frame_docs],
                cfg.get("frames", {}),
                schema.frames,
                seed,
                say,
            )
            if frame_docs
            else None
        )
        if span_docs:
            texts = [d.text for d in span_docs]
            gold = [[(s["start"], s["end"], s["label"]) for s in d.spans] for d in span_docs]
            tagger, cv, summaries = fit_tagger(
                texts,
                gold,
                cfg.get("tagger", {}),
                lexicon_words,
                seed,
                say,
                jobs,
                technique=(
                    technique_params(cfg.get("technique", {}), lexicon_words),
                    schema.techniques,
                ),
            )
            components["tagger"] = tagger
            info["tagger"] = {
                "threshold": tagger.threshold,
                "max_gap": tagger.max_gap,
                "sentence_weight": tagger.sentence_weight,
                "document_weight": tagger.document_weight,
                "within_sentences": tagger.within_sentences,
                "rules": tagger.rules,
            }
            info["cv"].update(cv)
            has_span = [int(bool(d.spans)) for d in span_docs]
            components["propaganda"] = PropagandaScorer(
                C=float(cfg.get("propaganda", {}).get("C", 1.0))
            ).fit(np.array(summaries), has_span)
        if technique_job is not None:
            components["technique"], tc = technique_job.result()
            if tc:
                info["cv"]["tc"] = tc
        if frames_job is not None:
            frames, cv, thresholds = frames_job.result()
            components["frames"] = frames
            info["frame_thresholds"] = thresholds
            if cv:
                info["cv"]["frames"] = cv
    info["training_seconds"] = round(time.perf_counter() - started, 1)
    model = Model(info, **components)
    with atomic_path(out_dir, directory=True) as tmp:
        model.save(tmp)
    return summary(model.info, out_dir, len(span_docs), len(frame_docs))


def summary(info: dict[str, Any], out_dir: str | Path, n_span: int, n_frame: int) -> str:
    lines = [
        f"trained {info['model_version']} -> {out_dir} in {info['training_seconds']} s",
        f"  span-annotated documents: {n_span}; frame-annotated documents: {n_frame}",
    ]
    cv = info.get("cv", {})
    if "si" in cv:
        si = cv["si"]
        lines.append(
            f"  CV span identification P {si['precision']:.3f} R {si['recall']:.3f} "
            f"F1 {si['f1']:.3f} (threshold {info['tagger']['threshold']}, "
            f"gap {info['tagger']['max_gap']}, sentence weight {info['tagger']['sentence_weight']})"
        )
    if "flc" in cv:
        flc = cv["flc"]
        lines.append(
            f"  CV labelled spans (FLC) P {flc['precision']:.3f} R {flc['recall']:.3f} "
            f"F1 {flc['f1']:.3f}, SI of those spans {cv['si_labelled']['f1']:.3f} "
            f"({len(info['tagger'].get('rules') or {})} techniques with a rule)"
        )
    if "sentences" in cv:
        lines.append(f"  CV sentence F1 {cv['sentences']['f1']:.3f}")
    if "tc" in cv:
        lines.append(
            f"  CV technique classification micro-F1 {cv['tc']['micro_f1']:.3f} "
            f"macro-F1 {cv['tc']['macro_f1']:.3f}"
        )
    if "frames" in cv:
        lines.append(
            f"  CV frames micro-F1 {cv['frames']['micro_f1']:.3f} "
            f"macro-F1 {cv['frames']['macro_f1']:.3f}"
        )
    return "\n".join(lines)


def _default_progress() -> Callable[[str], None]:
    if not sys.stderr.isatty():
        import logging

        log = logging.getLogger("annotate.train")
        return log.info
    from rich.console import Console

    console = Console(stderr=True)

    def say(message: str) -> None:
        console.print(f"[dim]{message}[/]", highlight=False)

    return say
