"""Suspicious labels: annotations that cross-validated model predictions strongly contradict.

Confident-learning style (Northcutt et al., 2021). Every gold span gets out-of-fold technique
probabilities from a span classifier trained, fold by fold, on the other documents (folds are
grouped by document, so a span is never judged by a model that saw its own article). A span
whose given label has a low out-of-fold probability ranks first (suspicion = 1 - p(label)); it
is an *issue* when p(label) is below that label's mean self-confidence and some other label
reaches its own mean self-confidence (the per-class thresholds of confident learning).
Frames work the same way per document: a frame given with a low out-of-fold probability, or
missing with a high one.

The classifiers are deliberately light (TF-IDF + SGD logistic regression, seconds for five
folds over 6,000 spans) rather than the trained model's, so an audit needs no model directory
and stays quick. The corpus's annotators are merged first with the same policy train and evaluate use
(`annotate.corpus.merge`: majority, union or annotator:NAME).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from annotate import corpus
from annotate.errors import BadInput
from annotate.schema import FRAME_CONTROL, SPAN_CONTROL, Schema, load_schema
from annotate.ui import write_json

WORD = re.compile(r"\w+")
CONTEXT_CHARS = 60
CONTEXT_WORDS = 3
QUOTES = frozenset('"“”«»')


def span_features(text: str, start: int, end: int, lowered: str | None = None) -> str:
    """One span and its surroundings as a string of feature tokens (words, context, shape)."""
    lowered = lowered if lowered is not None else text.lower()
    piece = text[start:end]
    words = WORD.findall(piece.lower())
    left = WORD.findall(lowered[max(0, start - CONTEXT_CHARS) : start])[-CONTEXT_WORDS:]
    right = WORD.findall(lowered[end : end + CONTEXT_CHARS])[:CONTEXT_WORDS]
    core = piece.strip().lower()
    repeated = len(core) > 3 and lowered.count(core) > 1  # Repetition's strongest cue
    feats = [f"w:{w}" for w in words]
    feats += [f"L:{w}" for w in left] + [f"R:{w}" for w in right]
    feats += [
        f"len:{min(len(words), 12) // 2}",
        f"rep:{int(repeated)}",
        f"q:{int('?' in piece)}",
        f"ex:{int('!' in piece)}",
        f"cap:{int(piece[:1].isupper())}",
        f"quote:{int(any(c in QUOTES for c in piece))}",
    ]
    return " ".join(feats)


def span_classifier(seed: int = 0):
    """A fast technique classifier over `span_features` strings (TF-IDF + logistic SGD)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import make_pipeline

    return make_pipeline(
        TfidfVectorizer(
            token_pattern=r"\S+", lowercase=False, sublinear_tf=True, ngram_range=(1, 2), min_df=2
        ),
        SGDClassifier(loss="log_loss", alpha=1e-4, random_state=seed),
    )


def frame_classifier(seed: int = 0):
    """A document-level one-vs-rest frame classifier (TF-IDF + logistic SGD)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import SGDClassifier
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline

    return make_pipeline(
        TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2, max_features=100_000),
        OneVsRestClassifier(SGDClassifier(loss="log_loss", alpha=1e-4, random_state=seed)),
    )


def out_of_fold_proba(
    estimator, X: Sequence, y, groups: Sequence[str], folds: int, seed: int = 0
) -> np.ndarray:
    """`cross_val_predict(..., method="predict_proba")` with folds grouped by document."""
    import warnings

    from sklearn.model_selection import GroupKFold, cross_val_predict

    n_groups = len(set(groups))
    if n_groups < 2:
        raise BadInput("cross-validation needs at least two annotated documents")
    cv = GroupKFold(n_splits=min(folds, n_groups), shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        # a fold may lack a rare label entirely; its probability is then 0, as it should be
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        return cross_val_predict(estimator, X, y, groups=groups, cv=cv, method="predict_proba")


def audit_spans(
    docs: Sequence[corpus.Merged], labels: Sequence[str], *, folds: int = 5, seed: int = 0
) -> dict[str, Any]:
    """Rank the gold spans of `docs` by how strongly out-of-fold predictions contradict them."""
    X: list[str] = []
    y: list[str] = []
    groups: list[str] = []
    where: list[tuple[corpus.Merged, dict]] = []
    for d in docs:
        lowered = d.text.lower()
        for s in d.spans:
            X.append(span_features(d.text, s["start"], s["end"], lowered))
            y.append(s["label"])
            groups.append(d.id)
            where.append((d, s))
    if len(set(y)) < 2:
        return {"checked": len(y), "issues": 0, "oof_accuracy": None, "suspicious": []}
    proba = out_of_fold_proba(span_classifier(seed), X, np.array(y), groups, folds, seed)
    classes = sorted(set(y))  # cross_val_predict orders columns like np.unique
    col = {c: i for i, c in enumerate(classes)}
    given = np.array([col[lab] for lab in y])
    p_given = proba[np.arange(len(y)), given]
    # per-label mean self-confidence: confident learning's thresholds
    thresholds = np.array([p_given[given == k].mean() for k in range(len(classes))])
    others = proba.copy()
    others[np.arange(len(y)), given] = -1.0
    best_other = others.argmax(axis=1)
    confident_other = (proba >= thresholds).copy()
    confident_other[np.arange(len(y)), given] = False
    issue = (p_given < thresholds[given]) & confident_other.any(axis=1)
    items = []
    for i, (d, s) in enumerate(where):
        k = int(best_other[i])
        items.append(
            {
                "doc_id": d.id,
                "start": int(s["start"]),
                "end": int(s["end"]),
                "text": s["text"],
                "context": [
                    d.text[max(0, s["start"] - CONTEXT_CHARS) : s["start"]],
                    d.text[s["end"] : s["end"] + CONTEXT_CHARS],
                ],
                "label": s["label"],
                "p_label": round(float(p_given[i]), 4),
                "suggested": classes[k],
                "p_suggested": round(float(proba[i, k]), 4),
                "issue": bool(issue[i]),
                "suspicion": round(float(1.0 - p_given[i]), 4),
            }
        )
    items.sort(key=lambda it: (-it["suspicion"], -it["p_suggested"], it["doc_id"], it["start"]))
    del labels  # the classes present are what can be judged; kept in the signature for clarity
    return {
        "checked": len(items),
        "issues": int(issue.sum()),
        "oof_accuracy": round(float((proba.argmax(axis=1) == given).mean()), 4),
        "thresholds": {c: round(float(t), 4) for c, t in zip(classes, thresholds, strict=True)},
        "suspicious": items,
    }


def audit_frames(
    docs: Sequence[corpus.Merged], frames: Sequence[str], *, folds: int = 5, seed: int = 0
) -> dict[str, Any]:
    """Frames the out-of-fold model is sure are wrong (given, low p) or missing (absent, high p)."""
    docs = [d for d in docs if FRAME_CONTROL in d.annotated]
    if len(docs) < 2:
        return {"checked": len(docs), "issues": 0, "suspicious": []}
    present = [f for f in frames if any(f in d.frames for d in docs)]
    Y = np.array([[int(f in d.frames) for f in present] for d in docs])
    usable = [j for j in range(len(present)) if 0 < Y[:, j].sum() < len(docs)]
    present = [present[j] for j in usable]
    Y = Y[:, usable]
    if not present:
        return {"checked": len(docs), "issues": 0, "suspicious": []}
    texts = [d.text for d in docs]
    proba = out_of_fold_proba(frame_classifier(seed), texts, Y, [d.id for d in docs], folds, seed)
    items = []
    for i, d in enumerate(docs):
        for j, frame in enumerate(present):
            p = float(proba[i, j])
            given = bool(Y[i, j])
            suspicion = 1.0 - p if given else p
            items.append(
                {
                    "doc_id": d.id,
                    "frame": frame,
                    "given": given,
                    "p": round(p, 4),
                    "problem": "given, model sure it is wrong" if given else "missing",
                    "issue": suspicion >= 0.9,
                    "suspicion": round(suspicion, 4),
                }
            )
    items.sort(key=lambda it: (-it["suspicion"], it["doc_id"], it["frame"]))
    return {
        "checked": len(docs),
        "issues": sum(it["issue"] for it in items),
        "suspicious": items,
    }


def audit_rows(
    rows: Iterable[dict],
    *,
    policy: str = "majority",
    folds: int = 5,
    seed: int = 0,
    schema: Schema | None = None,
) -> dict[str, Any]:
    """Audit corpus rows (merged with `policy`): spans and frames, each list ranked."""
    schema = schema or load_schema()
    merged = [m for r in rows if (m := corpus.merge(r, policy, FRAME_CONTROL)) is not None]
    span_docs = [m for m in merged if SPAN_CONTROL in m.annotated]
    return {
        "documents": len(merged),
        "policy": policy,
        "folds": folds,
        "spans": audit_spans(span_docs, schema.techniques, folds=folds, seed=seed),
        "frames": audit_frames(merged, schema.frames, folds=folds, seed=seed),
    }


def audit(
    corpus_dir: str | Path,
    *,
    policy: str = "majority",
    folds: int = 5,
    seed: int = 0,
    json_out: str | Path | None = None,
    report: str | Path | None = None,
    top: int = 50,
) -> dict[str, Any]:
    """Audit a corpus directory; `json_out`: the full ranking as JSON; `report`: HTML (top N)."""
    result = audit_rows(corpus.read_corpus(corpus_dir), policy=policy, folds=folds, seed=seed)
    result = {"corpus": str(corpus_dir), **result}
    if json_out:
        write_json(json_out, result, indent=1)
    if report:
        from annotate import html

        html.write_page(report, html.page("Suspicious labels", audit_section(result, top)))
    return result


def audit_section(result: dict[str, Any], top: int = 50) -> str:
    """HTML: the `top` most suspicious spans (highlighted in context) and frames."""
    from annotate import html
    from annotate.html import escape

    colours = html.label_colours()
    spans = result["spans"]
    parts = [
        "<h2>Span labels the cross-validated model contradicts</h2>",
        f'<p class="note">{spans["checked"]} spans checked, {spans["issues"]} issues '
        f"(confident learning); out-of-fold accuracy {html.fmt(spans.get('oof_accuracy'))}. "
        f"Policy {escape(result['policy'])}, {result['folds']} folds grouped by document.</p>",
        "<table><thead><tr><th>#</th><th>doc</th><th>span in context</th><th>label</th>"
        "<th>p</th><th>model says</th><th>p</th><th>suspicion</th></tr></thead><tbody>",
    ]
    for k, it in enumerate(spans["suspicious"][:top], 1):
        left, right = it.get("context") or ("", "")
        snippet = left + it["text"] + right
        marked = html.highlight(
            snippet, [(len(left), len(left) + len(it["text"]), it["label"])], colours
        )
        cells = [
            str(k),
            escape(it["doc_id"]),
            f"&hellip;{marked}&hellip;",
            escape(it["label"]),
            f"{it['p_label']:.2f}",
            escape(it["suggested"]),
            f"{it['p_suggested']:.2f}",
            f"{it['suspicion']:.2f}",
        ]
        parts.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    parts.append("</tbody></table>")
    frames = result["frames"]
    if frames["suspicious"]:
        parts.append("<h2>Frames the cross-validated model contradicts</h2>")
        parts.append(
            html.table(
                ["doc", "frame", "problem", "p", "suspicion"],
                [
                    [it["doc_id"], it["frame"], it["problem"], it["p"], it["suspicion"]]
                    for it in frames["suspicious"][:top]
                ],
            )
        )
    return "".join(parts)


def audit_tables(result: dict[str, Any], top: int = 20) -> list:
    """Rich tables of the `top` most suspicious spans and frames."""
    from rich.table import Table

    spans = result["spans"]
    title = f"Suspicious span labels: {spans['issues']} issues among {spans['checked']} spans" + (
        f" (out-of-fold accuracy {spans['oof_accuracy']:.2f})" if spans.get("oof_accuracy") else ""
    )
    span_table = Table(title=title, title_justify="left")
    span_table.add_column("doc", no_wrap=True)
    for column in ("offsets", "text", "label", "p", "model says", "p ", "suspicion"):
        span_table.add_column(column, overflow="fold")
    for it in spans["suspicious"][:top]:
        span_table.add_row(
            it["doc_id"],
            f"{it['start']}-{it['end']}",
            _clip(it["text"]),
            it["label"],
            f"{it['p_label']:.2f}",
            it["suggested"],
            f"{it['p_suggested']:.2f}",
            f"{it['suspicion']:.2f}",
        )
    tables = [span_table]
    frames = result["frames"]
    if frames["suspicious"]:
        frame_table = Table(
            title=f"Suspicious frames: {frames['issues']} issues in {frames['checked']} documents",
            title_justify="left",
        )
        for column in ("doc", "frame", "problem", "p", "suspicion"):
            frame_table.add_column(column)
        for it in frames["suspicious"][:top]:
            frame_table.add_row(
                it["doc_id"], it["frame"], it["problem"], f"{it['p']:.2f}", f"{it['suspicion']:.2f}"
            )
        tables.append(frame_table)
    return tables


def _clip(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
