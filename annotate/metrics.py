"""Measures, implemented once: SemEval-2020 Task 11 span scores, TC F1, sentence F1, frame F1.

SI (span identification), from the SemEval-2020 Task 11 definition, over all documents:

    P = (1/|S|) * sum_{s in S, t in T} |s ∩ t| / |s|
    R = (1/|T|) * sum_{s in S, t in T} |s ∩ t| / |t|

with predicted spans S and gold spans T, intersections only within one document, labels
ignored, and overlapping spans merged first (gold as the task prescribes; predictions too,
so overlapping predictions cannot count the same characters twice). F1 = 2PR / (P + R).
`per_label_prf` is the same measure restricted to one label on both sides.

FLC (fragment-level classification, NLP4IF-2019): the same partial overlap, counted only
between a predicted and a gold span of the same technique, with overlapping spans of one
technique merged; sums and span counts are pooled over the techniques:

    P = sum_l sum_{s in S_l, t in T_l} |s ∩ t| / |s|  /  sum_l |S_l|
    R = sum_l sum_{s in S_l, t in T_l} |s ∩ t| / |t|  /  sum_l |T_l|

so a span with the right boundaries and the wrong technique earns nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

Span = tuple[int, int]
LabelledSpan = tuple[int, int, str]


def merge_overlaps(spans: Sequence[Span]) -> list[Span]:
    """Sorted, non-overlapping spans covering the same characters (touching spans stay apart)."""
    out: list[list[int]] = []
    for start, end in sorted((int(s), int(e)) for s, e in spans if e > s):
        if out and start < out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(s, e) for s, e in out]


def _overlap_sums(pred: list[Span], gold: list[Span]) -> tuple[float, float]:
    """sum |s∩t|/|s| and sum |s∩t|/|t| over pairs, for merged (disjoint, sorted) lists."""
    p_sum = r_sum = 0.0
    j0 = 0
    for ps, pe in pred:
        while j0 < len(gold) and gold[j0][1] <= ps:
            j0 += 1
        j = j0
        while j < len(gold) and gold[j][0] < pe:
            gs, ge = gold[j]
            inter = min(pe, ge) - max(ps, gs)
            if inter > 0:
                p_sum += inter / (pe - ps)
                r_sum += inter / (ge - gs)
            j += 1
    return p_sum, r_sum


def _prf(p_sum: float, r_sum: float, n_pred: int, n_gold: int) -> dict[str, float]:
    precision = p_sum / n_pred if n_pred else 0.0
    recall = r_sum / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def si_prf(pred: Sequence[Sequence[Span]], gold: Sequence[Sequence[Span]]) -> dict[str, float]:
    """SemEval-2020 SI precision, recall, F1 over documents (one list of spans per document)."""
    if len(pred) != len(gold):
        raise ValueError(f"{len(pred)} predicted documents but {len(gold)} gold documents")
    p_sum = r_sum = 0.0
    n_pred = n_gold = 0
    for p_doc, g_doc in zip(pred, gold, strict=True):
        p = merge_overlaps([(s[0], s[1]) for s in p_doc])
        g = merge_overlaps([(s[0], s[1]) for s in g_doc])
        ps, rs = _overlap_sums(p, g)
        p_sum += ps
        r_sum += rs
        n_pred += len(p)
        n_gold += len(g)
    return _prf(p_sum, r_sum, n_pred, n_gold)


def _label_sums(
    pred: Sequence[Sequence[LabelledSpan]], gold: Sequence[Sequence[LabelledSpan]]
) -> dict[str, list[float]]:
    """Per label: [p_sum, r_sum, n_pred, n_gold] of the SI overlap, spans merged per label."""
    if len(pred) != len(gold):
        raise ValueError(f"{len(pred)} predicted documents but {len(gold)} gold documents")
    sums: dict[str, list[float]] = {}
    for p_doc, g_doc in zip(pred, gold, strict=True):
        by_label: dict[str, tuple[list[Span], list[Span]]] = {}
        for s in p_doc:
            by_label.setdefault(s[2], ([], []))[0].append((s[0], s[1]))
        for s in g_doc:
            by_label.setdefault(s[2], ([], []))[1].append((s[0], s[1]))
        for label, (p_spans, g_spans) in by_label.items():
            p = merge_overlaps(p_spans)
            g = merge_overlaps(g_spans)
            ps, rs = _overlap_sums(p, g)
            acc = sums.setdefault(label, [0.0, 0.0, 0, 0])
            acc[0] += ps
            acc[1] += rs
            acc[2] += len(p)
            acc[3] += len(g)
    return sums


def flc_prf(
    pred: Sequence[Sequence[LabelledSpan]], gold: Sequence[Sequence[LabelledSpan]]
) -> dict[str, float]:
    """NLP4IF-2019 FLC precision, recall, F1: labelled spans, overlap only within a technique."""
    sums = _label_sums(pred, gold)
    return _prf(*(sum(v[i] for v in sums.values()) for i in range(4)))


def per_label_prf(
    pred: Sequence[Sequence[LabelledSpan]],
    gold: Sequence[Sequence[LabelledSpan]],
    labels: Sequence[str],
) -> dict[str, dict[str, float]]:
    """The SI measure restricted to each label; `support` = gold spans of that label."""
    out: dict[str, dict[str, float]] = {}
    for label in labels:
        p = [[(s, e) for s, e, lab in doc if lab == label] for doc in pred]
        g = [[(s, e) for s, e, lab in doc if lab == label] for doc in gold]
        scores = si_prf(p, g)
        scores["support"] = sum(len(doc) for doc in g)
        out[label] = scores
    return out


def tc_f1(pred_labels: Sequence[str], gold_labels: Sequence[str], labels: Sequence[str]) -> dict:
    """Technique classification of gold spans: micro F1 (= accuracy) and macro F1.

    Macro F1 averages over the labels that occur in the gold data.
    """
    from sklearn.metrics import f1_score

    if len(pred_labels) != len(gold_labels):
        raise ValueError("pred_labels and gold_labels differ in length")
    if not gold_labels:
        return {"micro_f1": 0.0, "macro_f1": 0.0}
    present = [lab for lab in labels if lab in set(gold_labels)]
    return {
        "micro_f1": float(f1_score(gold_labels, pred_labels, average="micro", labels=list(labels))),
        "macro_f1": float(
            f1_score(gold_labels, pred_labels, average="macro", labels=present, zero_division=0)
        ),
    }


SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+(?=[\"'“‘(\[]*[A-Z0-9])")


def sentence_spans(text: str) -> list[Span]:
    """Sentences as [start, end), the one splitter of the toolkit (measures and features):
    each line, split further after . ! ? … (and closing quotes or brackets) before a capital
    or digit; surrounding whitespace trimmed, blank pieces dropped."""
    out: list[Span] = []
    pos = 0
    for line in text.split("\n"):
        begin = pos
        pos += len(line) + 1
        cuts = [begin] + [begin + m.end() for m in SENTENCE_END.finditer(line)]
        cuts.append(begin + len(line))
        for a, b in zip(cuts, cuts[1:], strict=False):
            piece = text[a:b]
            stripped = piece.strip()
            if stripped:
                lead = len(piece) - len(piece.lstrip())
                out.append((a + lead, a + lead + len(stripped)))
    return out


def positive_sentences(sentences: Sequence[Span], spans: Sequence[Span]) -> set[int]:
    """Indexes of sentences that overlap at least one span."""
    merged = merge_overlaps(spans)
    hits: set[int] = set()
    j = 0
    for i, (ss, se) in enumerate(sentences):
        while j < len(merged) and merged[j][1] <= ss:
            j += 1
        k = j
        while k < len(merged) and merged[k][0] < se:
            if min(se, merged[k][1]) > max(ss, merged[k][0]):
                hits.add(i)
                break
            k += 1
    return hits


def unit_prf(
    units: Sequence[Sequence[Span]],
    pred: Sequence[Sequence[Span]],
    gold: Sequence[Sequence[Span]],
) -> dict[str, float]:
    """P/R/F1 over units (sentences, words), micro over documents: a unit is positive on a
    side when a span of that side overlaps it."""
    tp = fp = fn = 0
    for doc_units, p_doc, g_doc in zip(units, pred, gold, strict=True):
        p = positive_sentences(doc_units, [(s[0], s[1]) for s in p_doc])
        g = positive_sentences(doc_units, [(s[0], s[1]) for s in g_doc])
        tp += len(p & g)
        fp += len(p - g)
        fn += len(g - p)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def sentence_prf(
    texts: Sequence[str], pred: Sequence[Sequence[Span]], gold: Sequence[Sequence[Span]]
) -> dict[str, float]:
    """Sentence-level P/R/F1: a sentence is positive when it overlaps a span."""
    return unit_prf([sentence_spans(t) for t in texts], pred, gold)


def multilabel_f1(
    pred: Sequence[set[str]], gold: Sequence[set[str]], labels: Sequence[str]
) -> dict:
    """Document multi-label F1: micro over all decisions, macro over labels present in gold."""
    tp = {lab: 0 for lab in labels}
    fp = dict(tp)
    fn = dict(tp)
    for p, g in zip(pred, gold, strict=True):
        for lab in labels:
            if lab in p and lab in g:
                tp[lab] += 1
            elif lab in p:
                fp[lab] += 1
            elif lab in g:
                fn[lab] += 1
    per_label = {}
    for lab in labels:
        precision = tp[lab] / (tp[lab] + fp[lab]) if tp[lab] + fp[lab] else 0.0
        recall = tp[lab] / (tp[lab] + fn[lab]) if tp[lab] + fn[lab] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[lab] = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": tp[lab] + fn[lab],
        }
    TP, FP, FN = sum(tp.values()), sum(fp.values()), sum(fn.values())
    micro = 2 * TP / (2 * TP + FP + FN) if TP else 0.0
    present = [lab for lab in labels if per_label[lab]["support"]]
    macro = sum(per_label[lab]["f1"] for lab in present) / len(present) if present else 0.0
    return {"micro_f1": micro, "macro_f1": macro, "per_label": per_label}


_WORD = re.compile(r"\w+")


def word_prf(
    texts: Sequence[str], pred: Sequence[Sequence[Span]], gold: Sequence[Sequence[Span]]
) -> dict[str, float]:
    """Word-level P/R/F1, micro over documents: a word (`\\w+`) is positive when a span
    overlaps it (BABE's biased words against the words inside predicted spans)."""
    return unit_prf([[m.span() for m in _WORD.finditer(t)] for t in texts], pred, gold)
