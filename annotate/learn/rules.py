"""Token scores -> spans: runs of hot tokens (`decode`), and per-technique decoding rules
(token scores + technique probabilities -> labelled spans).

A rule says, for one technique, which token scores to read (`source`: the technique-blind
tagger or a technique group's own tagger), how to mix them with the sentence score
(`sentence_weight`), how to cut runs (`threshold`, `max_gap`) and how sure the technique
classifier must be of the technique for a run to carry it (`min_proba`; with `argmax`, it
must also be the classifier's first choice). Each technique keeps its own boundaries, so a
word-level technique (Loaded_Language) gets short spans while a clause-level one (Doubt)
gets long ones, and spans of different techniques may overlap, as in PTC.

`tune_rules` chooses the rules on out-of-fold scores for the NLP4IF-2019 FLC F1 (the
labelled partial-overlap measure, pooled over techniques). One rule's candidate runs are
disjoint, so each candidate's overlap with the gold spans of a technique adds up: a rule's
contribution is a masked sum, and the pooled F1 is maximised by coordinate ascent over the
techniques.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from annotate.metrics import merge_overlaps

Candidate = tuple[int, int, float]
BLIND = "blind"  # the technique-blind token scores, beside one source per technique group
FILL = "*"  # the rules' key of the fill-in rule: SI-tuned blind runs where no technique spoke


def decode(
    offsets: Sequence[tuple[int, int]],
    proba: np.ndarray,
    threshold: float,
    max_gap: int = 1,
    min_tokens: int = 1,
    sentence: np.ndarray | None = None,
    peak: float = 0.0,
    min_span: int = 1,
) -> list[tuple[int, int, float]]:
    """Runs of tokens with probability >= threshold (gaps <= max_gap bridged) -> spans + score.

    With `peak` above the threshold, only the runs holding a token of at least `peak` are
    kept (hysteresis: a sure word starts a span, and its less sure neighbours extend it).

    With `min_span` > 1, a run shorter than `min_span` tokens is widened, a token at a time,
    by its more probable neighbour (never into another run nor across a sentence boundary):
    a loaded word becomes the phrase around it.

    With `sentence` (each token's sentence number) a run never crosses a sentence boundary:
    almost all of PTC's gold spans lie within one sentence. The score of a span is the mean
    probability of its tokens (bridged ones included).
    """
    proba = np.asarray(proba, dtype=float)
    hot = np.flatnonzero(proba >= threshold)
    if hot.size == 0:
        return []
    cut = np.diff(hot) - 1 > max_gap
    if sentence is not None:
        cut |= np.diff(np.asarray(sentence)[hot]) != 0
    breaks = np.flatnonzero(cut)
    firsts = hot[np.concatenate([[0], breaks + 1])]
    lasts = hot[np.concatenate([breaks, [hot.size - 1]])]
    keep = lasts - firsts + 1 >= min_tokens
    if peak > threshold:
        keep &= np.maximum.reduceat(proba[hot], np.concatenate([[0], breaks + 1])) >= peak
    firsts, lasts = firsts[keep], lasts[keep]
    if min_span > 1 and firsts.size:
        firsts, lasts = widen(proba, firsts, lasts, min_span, sentence)
    cumulative = np.concatenate([[0.0], np.cumsum(proba)])
    means = (cumulative[lasts + 1] - cumulative[firsts]) / (lasts - firsts + 1)
    return [
        (int(offsets[f][0]), int(offsets[last][1]), float(m))
        for f, last, m in zip(firsts, lasts, means, strict=True)
    ]


def widen(
    proba: np.ndarray,
    firsts: np.ndarray,
    lasts: np.ndarray,
    min_span: int,
    sentence: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint runs (first, last token, in order) shorter than `min_span` tokens, each grown
    by its more probable free neighbour until it is `min_span` long or has none (a token
    both runs around it want goes to the earlier one, and the later one takes its other
    neighbour)."""
    n = proba.size
    firsts, lasts = firsts.copy(), lasts.copy()
    for _ in range(min_span - 1):
        short = lasts - firsts + 1 < min_span
        if not short.any():
            break
        left, right = firsts - 1, lasts + 1
        ok_left = short & (left > np.concatenate([[-1], lasts[:-1]]))
        ok_right = short & (right < np.concatenate([firsts[1:], [n]]))
        if sentence is not None:
            sentence = np.asarray(sentence)
            ok_left &= sentence[np.maximum(left, 0)] == sentence[firsts]
            ok_right &= sentence[np.minimum(right, n - 1)] == sentence[lasts]
        score_left = np.where(ok_left, proba[np.maximum(left, 0)], -np.inf)
        score_right = np.where(ok_right, proba[np.minimum(right, n - 1)], -np.inf)
        take_left = ok_left & (score_left >= score_right)
        take_right = ok_right & ~take_left
        # the token between two runs, wanted by both, goes to the earlier run; the later one
        # grows right instead, unless the run after it takes that token
        clash = take_right[:-1] & take_left[1:] & (right[:-1] == left[1:])
        take_left[1:] &= ~clash
        fallback = np.concatenate([[False], clash]) & ok_right
        fallback[:-1] &= ~(take_left[1:] & (right[:-1] == left[1:]))
        take_right |= fallback
        firsts -= take_left
        lasts += take_right
    return firsts, lasts


def mix(
    p_token: np.ndarray, p_sentence: np.ndarray, sentence_weight: float, document_weight: float
):
    """A token's score: its own probability, its sentence's, and the document's mean sentence
    probability (how propagandistic the whole article reads), mixed linearly."""
    local = (1 - sentence_weight) * p_token + sentence_weight * p_sentence
    if not document_weight or not p_sentence.size:
        return local
    return (1 - document_weight) * local + document_weight * float(p_sentence.mean())


def rule_key(rule: Mapping[str, Any]) -> tuple:
    """The part of a rule that decides the candidate runs (shared between techniques)."""
    return (
        rule["source"],
        rule["sentence_weight"],
        rule.get("document_weight", 0.0),
        rule["threshold"],
        rule["max_gap"],
        rule.get("peak", 0.0),
        rule.get("min_span", 1),
    )


def candidates(
    offsets: Sequence[tuple[int, int]],
    p_tok: np.ndarray,
    p_sent: np.ndarray,
    sentence: np.ndarray | None,
    rule: Mapping[str, Any],
) -> list[Candidate]:
    """One document's runs under a rule's source scores, mix, threshold and gap."""
    scores = mix(
        p_tok, p_sent, float(rule["sentence_weight"]), float(rule.get("document_weight", 0.0))
    )
    threshold, gap, peak = float(rule["threshold"]), int(rule["max_gap"]), rule.get("peak", 0.0)
    span = int(rule.get("min_span", 1))
    return decode(offsets, scores, threshold, gap, 1, sentence, float(peak), span)


def chosen(proba: np.ndarray, k: int, rule: Mapping[str, Any]) -> np.ndarray:
    """Which candidates (rows of technique probabilities) carry technique `k` under `rule`."""
    if not len(proba):
        return np.zeros(0, dtype=bool)
    keep = proba[:, k] >= float(rule["min_proba"])
    if rule.get("argmax", True):
        keep &= proba.argmax(axis=1) == k
    return keep


def _gold_sums(
    cands: Sequence[tuple[int, int]], gold: Mapping[int, np.ndarray], n_labels: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per candidate and technique: sum |c∩t|/|c| and sum |c∩t|/|t| over merged gold spans t."""
    pc = np.zeros((len(cands), n_labels))
    rc = np.zeros((len(cands), n_labels))
    if not cands or not gold:
        return pc, rc
    a = np.array([c[0] for c in cands], dtype=float)[:, None]
    b = np.array([c[1] for c in cands], dtype=float)[:, None]
    for k, spans in gold.items():
        inter = np.minimum(b, spans[None, :, 1]) - np.maximum(a, spans[None, :, 0])
        inter = np.clip(inter, 0, None)
        pc[:, k] = inter.sum(axis=1) / (b[:, 0] - a[:, 0])
        rc[:, k] = (inter / (spans[None, :, 1] - spans[None, :, 0])).sum(axis=1)
    return pc, rc


def tune_rules(
    offsets: Sequence[Sequence[tuple[int, int]]],
    sources: Mapping[str, tuple[Sequence[np.ndarray], Sequence[np.ndarray]]],
    sentences: Sequence[np.ndarray | None],
    gold: Sequence[Sequence[tuple[int, int, str]]],
    labels: Sequence[str],
    technique_proba: Callable[[list[tuple[int, int, int]]], np.ndarray],
    grid: Mapping[str, Sequence],
    allowed: Mapping[str, Sequence[str]] | None = None,
) -> tuple[dict[str, dict[str, Any]], dict[str, float]]:
    """The FLC-best rule per technique, and the pooled out-of-fold FLC P/R/F1 they reach.

    `sources[name] = (token scores, sentence scores)` per document (out of fold);
    `technique_proba(items)` gives out-of-fold technique probabilities (columns in `labels`
    order) for `(document, start, end)` items; `grid` holds `sentence_weights`,
    `thresholds`, `max_gaps`, `min_probas` and `peaks` (and, for a technique group's scores,
    `group_sentence_weights`, the mixes tried, and `group_min_spans`, the lengths its short
    runs are widened to); `allowed[technique]` limits the sources a
    technique may read (default: the blind one and any source named after a group holding
    it is the caller's business; every source is tried when not given).
    """
    K = len(labels)
    index = {lab: k for k, lab in enumerate(labels)}
    gold_by: list[dict[int, np.ndarray]] = []
    n_gold = np.zeros(K)
    for doc in gold:
        per: dict[int, list[tuple[int, int]]] = {}
        for s, e, lab in doc:
            if lab in index:
                per.setdefault(index[lab], []).append((s, e))
        merged = {k: np.array(merge_overlaps(v), dtype=float) for k, v in per.items()}
        for k, v in merged.items():
            n_gold[k] += len(v)
        gold_by.append(merged)
    settings = []
    for source in sources:
        group = source != BLIND and not source.startswith("sentence:")
        weights = grid["sentence_weights"]
        for w in grid.get("group_sentence_weights", weights) if group else weights:
            if source != BLIND and source.startswith("sentence:") and not w:
                continue  # the blind token scores alone: the blind source's runs already
            for t in grid["thresholds"]:
                for g in grid["max_gaps"]:
                    for peak in grid.get("peaks", [0.0]):
                        if peak and peak <= t:
                            continue  # no different from no peak
                        for span in grid.get("group_min_spans", [1]) if group else [1]:
                            settings.append(
                                {"source": source, "sentence_weight": float(w),
                                 "threshold": float(t), "max_gap": int(g), "peak": float(peak),
                                 "min_span": int(span)}
                            )  # fmt: skip
    runs: dict[tuple, tuple[np.ndarray, list[tuple[int, int]]]] = {}
    wanted: dict[tuple[int, int, int], None] = {}
    for rule in settings:
        p_tok, p_sent = sources[rule["source"]]
        docs, spans = [], []
        for d, (o, t, s, w) in enumerate(zip(offsets, p_tok, p_sent, sentences, strict=True)):
            for a, b, _ in candidates(o, t, s, w, rule):
                docs.append(d)
                spans.append((a, b))
                wanted[(d, a, b)] = None
        runs[rule_key(rule)] = (np.array(docs, dtype=int), spans)
    items = list(wanted)
    proba_rows = technique_proba(items) if items else np.zeros((0, K))
    row_of = {item: i for i, item in enumerate(items)}
    options: dict[int, list[tuple]] = {k: [(None, 0.0, 0.0, 0)] for k in range(K)}
    for rule in settings:
        docs, spans = runs[rule_key(rule)]
        if not spans:
            continue
        proba = proba_rows[[row_of[(d, a, b)] for d, (a, b) in zip(docs, spans, strict=True)]]
        pc = np.zeros((len(spans), K))
        rc = np.zeros((len(spans), K))
        order = np.argsort(docs, kind="stable")
        bounds = np.searchsorted(docs[order], np.arange(len(gold) + 1))
        for d in range(len(gold)):
            rows = order[bounds[d] : bounds[d + 1]]
            if rows.size and gold_by[d]:
                pc[rows], rc[rows] = _gold_sums([spans[i] for i in rows], gold_by[d], K)
        for k, label in enumerate(labels):
            if allowed is not None and rule["source"] not in allowed.get(label, (BLIND,)):
                continue
            for min_proba in grid["min_probas"]:
                for argmax in grid.get("argmax", (True,)):
                    full = {**rule, "min_proba": float(min_proba), "argmax": bool(argmax)}
                    keep = chosen(proba, k, full)
                    n = int(keep.sum())
                    if n:
                        options[k].append((full, pc[keep, k].sum(), rc[keep, k].sum(), n))
    total_gold = float(n_gold.sum())

    def pooled(choice: Mapping[int, tuple]) -> tuple[float, float, float]:
        p_sum = sum(c[1] for c in choice.values())
        r_sum = sum(c[2] for c in choice.values())
        n_pred = sum(c[3] for c in choice.values())
        precision = p_sum / n_pred if n_pred else 0.0
        recall = r_sum / total_gold if total_gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return f1, precision, recall

    choice = {k: options[k][0] for k in range(K)}
    for _ in range(4):  # coordinate ascent; settles in two or three sweeps
        before = pooled(choice)[0]
        for k in range(K):
            choice[k] = max(options[k], key=lambda o, k=k: pooled({**choice, k: o})[0])
        if pooled(choice)[0] <= before:
            break
    f1, precision, recall = pooled(choice)
    rules = {labels[k]: dict(c[0]) for k, c in choice.items() if c[0] is not None}
    return rules, {"precision": precision, "recall": recall, "f1": f1}


def labelled_spans(
    offsets: Sequence[Sequence[tuple[int, int]]],
    sources: Mapping[str, tuple[Sequence[np.ndarray], Sequence[np.ndarray]]],
    sentences: Sequence[np.ndarray | None],
    rules: Mapping[str, Mapping[str, Any]],
    labels: Sequence[str],
    technique_proba: Callable[[list[tuple[int, int, int]]], np.ndarray],
) -> list[list[tuple[int, int, str, float]]]:
    """Per document, its labelled spans under the rules: (start, end, technique, score).

    Runs are decoded once per distinct setting and each distinct run is classified once, in
    one `technique_proba` call over `(document, start, end)` items for the whole batch. A
    span's score is its runs' mean token score times the probability of its technique.

    The fill-in rule (`rules[FILL]`, optional) adds the technique-blind runs that no
    technique's span touches (with `overlap`: no span of the run's own technique), each
    under its most probable technique when that probability reaches the rule's `min_proba`:
    the SI-tuned coverage the per-technique rules left out."""
    index = {lab: k for k, lab in enumerate(labels)}
    settings = {rule_key(rule): rule for rule in rules.values()}  # the fill rule's too
    runs: dict[tuple, list[list[Candidate]]] = {}
    for key, rule in settings.items():
        p_tok, p_sent = sources[rule["source"]]
        runs[key] = [
            candidates(o, t, s, w, rule)
            for o, t, s, w in zip(offsets, p_tok, p_sent, sentences, strict=True)
        ]
    items = sorted({(d, a, b) for per in runs.values() for d, c in enumerate(per) for a, b, _ in c})
    out: list[list[tuple[int, int, str, float]]] = [[] for _ in offsets]
    if not items:
        return out
    proba = technique_proba(items)
    row = {item: i for i, item in enumerate(items)}
    for label, rule in rules.items():
        if label == FILL:
            continue
        k = index[label]
        for d, cands in enumerate(runs[rule_key(rule)]):
            if not cands:
                continue
            rows = proba[[row[(d, a, b)] for a, b, _ in cands]]
            for (a, b, score), keep, p in zip(
                cands, chosen(rows, k, rule), rows[:, k], strict=True
            ):
                if keep:
                    out[d].append((a, b, label, float(score) * float(p)))
    if FILL in rules:
        fill = rules[FILL]
        for d, cands in enumerate(runs[rule_key(fill)]):
            rows = proba[[row[(d, a, b)] for a, b, _ in cands]] if cands else np.zeros((0, 0))
            out[d] += fill_in(out[d], cands, rows, labels, fill)
    return [sorted(doc) for doc in out]


def fill_in(
    found: Sequence[tuple[int, int, str, float]],
    cands: Sequence[Candidate],
    proba: np.ndarray,
    labels: Sequence[str],
    fill: Mapping[str, Any],
) -> list[tuple[int, int, str, float]]:
    """The fill-in rule's spans for one document: of the blind runs `cands` (technique
    probabilities in the rows of `proba`), those that no span in `found` touches (with
    `fill["overlap"]`: no span of the run's own technique), each under its most probable
    technique when that probability reaches `fill["min_proba"]`."""
    floor, beside = float(fill["min_proba"]), bool(fill.get("overlap", False))
    added = []
    for (a, b, score), p in zip(cands, proba, strict=True):
        k = int(np.argmax(p[: len(labels)]))
        if p[k] < floor or any(
            s < b and a < e and (lab == labels[k] or not beside) for s, e, lab, _ in found
        ):
            continue
        added.append((a, b, labels[k], float(score) * float(p[k])))
    return added
