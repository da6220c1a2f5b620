"""Fitting the span tagger by grouped cross-validation: out-of-fold token scores choose the
technique-blind decoding (for SI) and one decoding rule per technique (for FLC)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from sklearn.model_selection import KFold

from annotate import metrics
from annotate.learn.frames import tagger_summary
from annotate.learn.linear import average_linear
from annotate.learn.rules import (
    BLIND,
    FILL,
    candidates,
    decode,
    fill_in,
    labelled_spans,
    mix,
    tune_rules,
)
from annotate.learn.tagger import SpanTagger
from annotate.learn.technique import TechniqueClassifier


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
    technique_docs: Sequence[bool] | None = None,
) -> tuple[SpanTagger, dict[str, Any], list[list[float]]]:
    """Fit the span tagger; the score mix, threshold and gap bridging are chosen for SI F1
    on out-of-fold predictions. `gold` spans are `(start, end)` or `(start, end, technique)`.

    With `technique = (TechniqueClassifier parameters, technique names)` and `labelled` in
    the config, each fold also fits a technique classifier, and every technique gets its own
    decoding rule (rules.py), chosen for the labelled FLC F1 on the out-of-fold scores; the
    fold's technique classifier learns from the spans of the `technique_docs` (default all).

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
                teach = [d for d in train_docs if technique_docs is None or technique_docs[d]]
                items = [(texts[d], sp[0], sp[1]) for d in teach for sp in gold[d]]
                names = [sp[2] for d in teach for sp in gold[d]]
                if len(set(names)) > 1:
                    fold_techniques[f] = TechniqueClassifier(**technique[0]).fit(items, names)

        list(pool.map(fold, range(len(folds))))
        # a source that a fold's model lacks (its training part had no span of the
        # technique) scores that fold's documents 0
        for toks, sents in oof_sources.values():
            for d in range(len(texts)):
                if toks[d] is None:
                    toks[d] = np.zeros(len(F.offsets[d]))
                if sents[d] is None:
                    sents[d] = np.zeros(len(F.offsets[d]))

        sentences = F.token_sentences()
        within = sentences if tagger.within_sentences else [None] * len(texts)
        # the decoding is chosen on the articles (documents of several sentences) when there
        # are enough of them: a sentence-level corpus (BABE, thousands of one-sentence
        # documents with one-word spans) would otherwise choose the boundaries for articles
        tune = tuning_documents(sentences, gold, int(cfg.get("rule_min_sentences", 3)))
        if len(tune) < len(texts):
            say(f"span tagger: decoding chosen on the {len(tune)} documents of several sentences")
        tune_sources = {
            name: ([tok[d] for d in tune], [sent[d] for d in tune])
            for name, (tok, sent) in oof_sources.items()
        }
        p_tok, p_sent = tune_sources[BLIND]
        offsets = [F.offsets[d] for d in tune]
        within = [within[d] for d in tune]
        tune_gold = [gold[d] for d in tune]
        tune_texts = [texts[d] for d in tune]
        blind_gold = [[(sp[0], sp[1]) for sp in doc] for doc in tune_gold]

        def spans(weight: float, doc_weight: float, threshold: float, gap: int) -> list:
            return [
                decode(o, mix(t, s, weight, doc_weight), threshold, gap, tagger.min_tokens, w)
                for o, t, s, w in zip(offsets, p_tok, p_sent, within, strict=True)
            ]

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
        cv["sentences"] = metrics.sentence_prf(tune_texts, pred, blind_gold)
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
                offsets, tune_sources, within, tune_gold, technique[1], fold_techniques,
                fold_of[tune], tune_texts, cfg, blind_rule,
                cv["si"]["f1"] - float(cfg.get("si_tolerance", 0.005)),
            )  # fmt: skip
            tagger.set_params(rules=rules)
            cv["flc"] = flc
            cv["si_labelled"] = metrics.si_prf(labelled_pred, blind_gold)
            cv["sentences"] = metrics.sentence_prf(tune_texts, labelled_pred, blind_gold)
        blind_tok, blind_sent = oof_sources[BLIND]
        summaries = [
            tagger_summary(mix(t, s, w_best, v_best))
            for t, s in zip(blind_tok, blind_sent, strict=True)
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


def tuning_documents(
    sentences: Sequence[np.ndarray], gold: Sequence[Sequence[tuple]], min_sentences: int
) -> np.ndarray:
    """The documents whose out-of-fold scores choose the decoding: those of at least
    `min_sentences` sentences (`sentences`: each document's tokens' sentence numbers), when
    at least ten of them have a span; else every document."""
    n = np.array([len(np.unique(s)) for s in sentences])  # sentence numbers run on
    long = n >= min_sentences
    if sum(bool(g) for g, keep in zip(gold, long, strict=True) if keep) >= 10:
        return np.flatnonzero(long)
    return np.arange(len(gold))


def tune_technique_rules(
    offsets: Sequence[Sequence[tuple[int, int]]],
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
        "group_sentence_weights": [float(w) for w in cfg.get("rule_group_sentence_weights", [0.0])],
        "thresholds": [float(t) for t in cfg.get("rule_thresholds", [0.1, 0.15, 0.2, 0.3, 0.4])],
        "max_gaps": [int(g) for g in cfg.get("rule_max_gaps", [0, 1, 4, 16])],
        "peaks": [float(p) for p in cfg.get("rule_peaks", [0.0, 0.4])],
        "group_min_spans": [int(n) for n in cfg.get("rule_group_min_spans", [1])],
        "min_probas": [float(p) for p in cfg.get("rule_min_probas", [0.0, 0.1, 0.2, 0.3, 0.4])],
        "argmax": [bool(a) for a in cfg.get("rule_argmax", [True, False])],
    }
    rules, flc = tune_rules(
        offsets, sources, within, gold, techniques, technique_proba, grid, allowed
    )
    blind_gold = [[(sp[0], sp[1]) for sp in doc] for doc in gold]
    found = labelled_spans(offsets, sources, within, rules, techniques, technique_proba)
    p_tok, p_sent = sources[BLIND]
    runs = [
        candidates(*args, blind_rule) for args in zip(offsets, p_tok, p_sent, within, strict=True)
    ]
    items = [(d, a, b) for d, cands in enumerate(runs) for a, b, _ in cands]
    proba = technique_proba(items)
    bounds = np.cumsum([0] + [len(c) for c in runs])
    floors = [float(p) for p in cfg.get("fill_min_probas", [0.6, 0.4, 0.2, 0.0])]
    modes = [bool(m) for m in cfg.get("fill_overlap", [False])]
    tried = []
    for floor, overlap in [(None, False)] + [(f, m) for f in floors for m in modes]:
        fill = {**blind_rule, "min_proba": floor, "overlap": overlap}
        trial = dict(rules) if floor is None else {**rules, FILL: fill}
        spans = [
            doc if floor is None
            else doc + fill_in(doc, runs[d], proba[bounds[d] : bounds[d + 1]], techniques, fill)
            for d, doc in enumerate(found)
        ]  # fmt: skip
        unlabelled = [[(a, b) for a, b, _, _ in doc] for doc in spans]
        si = metrics.si_prf(unlabelled, blind_gold)["f1"]
        fl = metrics.flc_prf([[(a, b, lab) for a, b, lab, _ in doc] for doc in spans], gold)
        tried.append((si >= si_floor, fl["f1"] if si >= si_floor else si, trial, fl, unlabelled))
    _, _, rules, flc, spans = max(tried, key=lambda t: (t[0], t[1]))
    return rules, flc, spans
