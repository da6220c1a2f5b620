"""Self-contained HTML reports: evaluation (`annotate evaluate --report`) and agreement.

The page pieces (shell, escaping, tables, inline plots, span highlighting) are `annotate.html`;
every piece of document text, label, id or annotator name is escaped before it reaches the
page.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from annotate.html import (
    escape,
    figure_img,
    highlight,
    label_colours,
    legend,
    page,
    pyplot,
    table,
    write_page,
)
from annotate.schema import SPAN_CONTROL, Schema

if TYPE_CHECKING:
    from annotate.evaluation import EvaluatedDocument, Evaluation

SHOWN_DOCUMENTS = 5
SHOWN_CHARS = 4000
PR_THRESHOLDS = 40

# ---- evaluation -------------------------------------------------------------------------


def write_evaluation_report(result: Evaluation, path: str | Path) -> None:
    write_page(path, evaluation_html(result))


def evaluation_html(result: Evaluation, schema: Schema | None = None) -> str:
    """The whole evaluation report as one HTML string."""
    m = result.metrics
    colours = label_colours(schema)
    parts = [
        f"<p>Model <code>{escape(result.model_version or '?')}</code>, "
        f"{m['documents']} documents.</p>",
        _summary_table(m),
    ]
    if m["spans"]:
        parts.append("<h2>Spans per label</h2>")
        rows = [
            [label, b["precision"], b["recall"], b["f1"], b["support"]]
            for label, b in m["spans"]["per_label"].items()
        ]
        parts.append(table(["technique", "precision", "recall", "F1", "gold spans"], rows))
        parts.append("<h2>Span identification: precision and recall by score threshold</h2>")
        parts.append(_span_pr_curve(result))
        parts.append("<h2>Technique classification of gold spans: confusion matrix</h2>")
        parts.append(_confusion(result))
    if m["frames"]:
        parts.append("<h2>Frames per label</h2>")
        rows = [
            [label, b["precision"], b["recall"], b["f1"], b["support"]]
            for label, b in m["frames"]["per_label"].items()
        ]
        parts.append(table(["frame", "precision", "recall", "F1", "documents"], rows))
        parts.append("<h2>Frames: precision-recall curves</h2>")
        parts.append(_frame_pr_curves(result))
    if m["spans"]:
        parts.append("<h2>Documents: gold and predicted spans</h2>")
        parts.append(legend(result.techniques, colours))
        for doc in _shown_documents(result.documents):
            parts.append(_document_pair(doc, colours))
    return page("Evaluation report", "".join(parts))


def _summary_table(m: dict) -> str:
    rows = []
    if m["spans"]:
        si = m["spans"]["si"]
        rows.append(["spans: SI (partial overlap)", si["precision"], si["recall"], si["f1"]])
        flc = m["spans"].get("flc")
        if flc:
            rows.append(
                [
                    "spans: FLC (labelled, same technique)",
                    flc["precision"],
                    flc["recall"],
                    flc["f1"],
                ]
            )
        tc = m["spans"]["tc"]
        rows.append(["spans: TC micro F1", None, None, tc["micro_f1"]])
        rows.append(["spans: TC macro F1", None, None, tc["macro_f1"]])
    if m["sentences"]:
        s = m["sentences"]
        rows.append(["sentences", s["precision"], s["recall"], s["f1"]])
    if m["frames"]:
        rows.append(["frames micro F1", None, None, m["frames"]["micro_f1"]])
        rows.append(["frames macro F1", None, None, m["frames"]["macro_f1"]])
    if not rows:
        return "<p>No annotated documents to measure.</p>"
    return table(["measure", "precision", "recall", "F1"], rows)


def span_pr_points(docs: Sequence[EvaluatedDocument]) -> list[tuple[float, float, float]]:
    """(threshold, precision, recall) of the SI measure keeping spans scored >= threshold."""
    import numpy as np

    from annotate import metrics

    span_docs = [d for d in docs if SPAN_CONTROL in d.annotated]
    scores = sorted({sc for d in span_docs for *_, sc in d.pred_spans})
    if not scores:
        return []
    thresholds = sorted(set(np.quantile(scores, np.linspace(0, 1, PR_THRESHOLDS)).tolist()))
    gold = [[(s, e) for s, e, _ in d.gold_spans] for d in span_docs]
    points = []
    for t in thresholds:
        pred = [[(s, e) for s, e, _, sc in d.pred_spans if sc >= t] for d in span_docs]
        prf = metrics.si_prf(pred, gold)
        points.append((float(t), prf["precision"], prf["recall"]))
    return points


def _span_pr_curve(result: Evaluation) -> str:
    """The tagger's SI precision-recall over thresholds when known, else over span scores."""
    points, how = result.span_curve, "tagger threshold"
    if not points:
        points, how = span_pr_points(result.documents), "spans kept at score >= threshold"
    if not points:
        return "<p>The model predicted no spans.</p>"
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot([p[2] for p in points], [p[1] for p in points], marker=".", label=how)
    si = result.metrics["spans"]["si"]
    label = "the model"
    if result.span_threshold is not None:
        label += f" (threshold {result.span_threshold:g})"
    ax.plot([si["recall"]], [si["precision"]], "o", color="red", label=label)
    ax.set_xlabel("recall (SI)")
    ax.set_ylabel("precision (SI)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return figure_img(fig)


def _confusion(result: Evaluation) -> str:
    from sklearn.metrics import confusion_matrix

    gold, pred = [], []
    for d in result.documents:
        if SPAN_CONTROL in d.annotated:
            gold.extend(lab for _, _, lab in d.gold_spans)
            pred.extend(d.tc_labels)
    if not gold:
        return "<p>No gold spans.</p>"
    labels = list(result.techniques)
    extra = sorted(set(pred) - set(labels))
    labels += extra
    matrix = confusion_matrix(gold, pred, labels=labels)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 7))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=75, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("predicted technique")
    ax.set_ylabel("gold technique")
    top = matrix.max() or 1
    for i in range(len(labels)):
        for j in range(len(labels)):
            if matrix[i, j]:
                colour = "white" if matrix[i, j] > top / 2 else "black"
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7, color=colour)
    return figure_img(fig)


def _frame_pr_curves(result: Evaluation) -> str:
    from sklearn.metrics import average_precision_score, precision_recall_curve

    from annotate.schema import FRAME_CONTROL

    docs = [d for d in result.documents if FRAME_CONTROL in d.annotated]
    frames = [
        f
        for f in result.frames
        if any(f in d.gold_frames for d in docs)
        and all(f in d.prediction.get("frames", {}) for d in docs)
    ]
    if not frames:
        return "<p>No frame probabilities or no gold frames.</p>"
    plt = pyplot()
    cols = 4
    rows = (len(frames) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.8 * rows), squeeze=False)
    for ax, frame in zip(axes.flat, frames, strict=False):
        y = [int(frame in d.gold_frames) for d in docs]
        p = [float(d.prediction["frames"][frame]) for d in docs]
        precision, recall, _ = precision_recall_curve(y, p)
        ax.plot(recall, precision)
        ax.set_title(f"{frame[:28]} (AP {average_precision_score(y, p):.2f})", fontsize=8)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(frames) :]:
        ax.axis("off")
    fig.supxlabel("recall")
    fig.supylabel("precision")
    fig.tight_layout()
    return figure_img(fig)


def _shown_documents(docs: Sequence[EvaluatedDocument]) -> list[EvaluatedDocument]:
    span_docs = [d for d in docs if SPAN_CONTROL in d.annotated]
    ranked = sorted(span_docs, key=lambda d: (-(len(d.gold_spans) + len(d.pred_spans)), d.id))
    return ranked[:SHOWN_DOCUMENTS]


def _document_pair(doc: EvaluatedDocument, colours: dict[str, str]) -> str:
    text = doc.text[:SHOWN_CHARS]
    cut = len(doc.text) > SHOWN_CHARS
    gold = [(s, e, lab) for s, e, lab in doc.gold_spans if s < len(text)]
    pred = [(s, e, lab) for s, e, lab, _ in doc.pred_spans if s < len(text)]
    note = f" (first {SHOWN_CHARS} characters)" if cut else ""
    return (
        f"<h3>Document {escape(doc.id)}{note}</h3>"
        f'<div class="side"><div><b>gold</b> ({len(doc.gold_spans)} spans)'
        f'<div class="doc">{highlight(text, gold, colours)}</div></div>'
        f"<div><b>predicted</b> ({len(doc.pred_spans)} spans)"
        f'<div class="doc">{highlight(text, pred, colours)}</div></div></div>'
    )


# ---- agreement --------------------------------------------------------------------------


def agreement_section(result: dict[str, Any]) -> str:
    """An HTML fragment with the agreement figures: overall, per pair, per label."""
    frames, spans = result["frames"], result["spans"]
    names = ", ".join(result["annotators"]) or "none"
    parts = [
        "<h2>Inter-annotator agreement</h2>",
        f"<p>{result['documents']} documents with at least two annotators; "
        f"annotators: {escape(names)}.</p>",
        table(
            ["measure", "documents", "value"],
            [
                [
                    "frames: Krippendorff's alpha (nominal)",
                    frames["documents"] if frames else 0,
                    frames and frames["krippendorff_alpha"],
                ],
                [
                    "spans: pairwise SI F1 (mean over pairs)",
                    spans["documents"] if spans else 0,
                    spans and spans["pairwise_f1"],
                ],
            ],
        ),
        "<h3>Per pair of annotators</h3>",
        table(
            ["annotators", "frame documents", "frames alpha", "span documents", "spans F1"],
            [
                [
                    " / ".join(p["annotators"]),
                    p["frame_documents"],
                    p["frames_krippendorff_alpha"],
                    p["span_documents"],
                    p["spans_f1"],
                ]
                for p in result["pairs"]
            ],
        ),
    ]
    if frames:
        parts.append("<h3>Frames: alpha per frame</h3>")
        rows = [[f, b["krippendorff_alpha"]] for f, b in frames["per_label"].items()]
        parts.append(table(["frame", "Krippendorff's alpha"], rows))
    if spans:
        parts.append("<h3>Spans: pairwise F1 per technique</h3>")
        rows = [[t, b["pairwise_f1"]] for t, b in spans["per_label"].items()]
        parts.append(table(["technique", "pairwise F1"], rows))
    return "".join(parts)


def agreement_html(result: dict[str, Any]) -> str:
    return page("Agreement report", agreement_section(result))


def write_agreement_report(result: dict[str, Any], path: str | Path) -> None:
    write_page(path, agreement_html(result))
