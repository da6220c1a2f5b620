"""Self-contained HTML reports: evaluation (`annotate evaluate --report`) and agreement.

Plots are inline base64 PNGs (matplotlib, Agg backend); no external assets. Every piece of
document text, label, id or annotator name is HTML-escaped before it reaches the page.
Label colours come from the `background` attributes of `label_config.xml`.
"""

from __future__ import annotations

import base64
import datetime as _dt
import io
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from annotate.atomic import atomic_path
from annotate.schema import SPAN_CONTROL, Schema, load_schema

if TYPE_CHECKING:
    from annotate.evaluate import EvaluatedDocument, Evaluation

SHOWN_DOCUMENTS = 5
SHOWN_CHARS = 4000
PR_THRESHOLDS = 40

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1, h2, h3 { font-weight: 600; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.side { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
.doc { white-space: pre-wrap; border: 1px solid #ccc; padding: 0.6em; font-size: 13px;
       line-height: 1.6; max-height: 30em; overflow-y: auto; }
mark { border-radius: 2px; padding: 0 1px; color: #000; }
mark.multi { outline: 2px dotted #000; }
.legend span { display: inline-block; margin: 2px 8px 2px 0; padding: 1px 6px; font-size: 12px; }
.note { color: #555; font-size: 13px; }
img { max-width: 100%; }
"""


# ---- shared pieces ----------------------------------------------------------------------


def label_colours(schema: Schema | None = None) -> dict[str, str]:
    """Span label -> CSS colour, from the label config's `background` attributes."""
    schema = schema or load_schema()
    colours: dict[str, str] = {}
    root = ET.fromstring(schema.xml)
    for labels in root.iter("Labels"):
        if labels.get("name") != SPAN_CONTROL:
            continue
        for label in labels.iter("Label"):
            name = label.get("alias") or label.get("value")
            if name and label.get("background"):
                colours[name] = label.get("background")
    fallback = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6"]
    for i, name in enumerate(t for t in schema.techniques if t not in colours):
        colours[name] = fallback[i % len(fallback)]
    return colours


def _ink(background: str) -> str:
    """Black or white text, whichever reads better on `background` (#rgb or #rrggbb)."""
    h = background.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    try:
        r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    except ValueError:
        return "#000"
    return "#000" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "#fff"


def _swatch(colour: str) -> str:
    return f"background:{escape(colour)};color:{_ink(colour)}"


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="plot" src="data:image/png;base64,{data}">'


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _fmt(x: Any) -> str:
    if x is None:
        return "&ndash;"
    if isinstance(x, float):
        return f"{x:.3f}"
    return escape(str(x))


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _page(title: str, body: str) -> str:
    stamp = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f'<h1>{escape(title)}</h1><p class="note">Written {stamp} by annotate.</p>'
        f"{body}</body></html>\n"
    )


def _write(path: str | Path, html: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(html, encoding="utf-8")


# ---- evaluation -------------------------------------------------------------------------


def write_evaluation_report(result: Evaluation, path: str | Path) -> None:
    _write(path, evaluation_html(result))


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
        parts.append(_table(["technique", "precision", "recall", "F1", "gold spans"], rows))
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
        parts.append(_table(["frame", "precision", "recall", "F1", "documents"], rows))
        parts.append("<h2>Frames: precision-recall curves</h2>")
        parts.append(_frame_pr_curves(result))
    if m["spans"]:
        parts.append("<h2>Documents: gold and predicted spans</h2>")
        parts.append(_legend(result.techniques, colours))
        for doc in _shown_documents(result.documents):
            parts.append(_document_pair(doc, colours))
    return _page("Evaluation report", "".join(parts))


def _summary_table(m: dict) -> str:
    rows = []
    if m["spans"]:
        si = m["spans"]["si"]
        rows.append(["spans: SI (partial overlap)", si["precision"], si["recall"], si["f1"]])
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
    return _table(["measure", "precision", "recall", "F1"], rows)


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
    plt = _pyplot()
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
    return _png(fig)


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
    plt = _pyplot()
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
    return _png(fig)


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
    plt = _pyplot()
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
    return _png(fig)


def _shown_documents(docs: Sequence[EvaluatedDocument]) -> list[EvaluatedDocument]:
    span_docs = [d for d in docs if SPAN_CONTROL in d.annotated]
    ranked = sorted(span_docs, key=lambda d: (-(len(d.gold_spans) + len(d.pred_spans)), d.id))
    return ranked[:SHOWN_DOCUMENTS]


def _legend(techniques: Sequence[str], colours: dict[str, str]) -> str:
    items = "".join(
        f'<span style="{_swatch(colours.get(t, "#ccc"))}">{escape(t)}</span>' for t in techniques
    )
    return (
        f'<p class="legend">{items}</p><p class="note">A dotted outline marks text under '
        "more than one span; hover for the labels.</p>"
    )


def highlight(text: str, spans: Sequence[tuple[int, int, str]], colours: dict[str, str]) -> str:
    """`text` as HTML with each span a coloured <mark>; all text escaped."""
    cuts = {0, len(text)}
    for s, e, _ in spans:
        cuts.update((max(0, min(s, len(text))), max(0, min(e, len(text)))))
    points = sorted(cuts)
    out = []
    for a, b in zip(points, points[1:], strict=False):
        piece = escape(text[a:b])
        labels = sorted({lab for s, e, lab in spans if s <= a and b <= e})
        if not labels:
            out.append(piece)
            continue
        style = _swatch(colours.get(labels[0], "#ccc"))
        cls = ' class="multi"' if len(labels) > 1 else ""
        title = escape(", ".join(labels))
        out.append(f'<mark{cls} style="{style}" title="{title}">{piece}</mark>')
    return "".join(out)


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
        _table(
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
        _table(
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
        parts.append(_table(["frame", "Krippendorff's alpha"], rows))
    if spans:
        parts.append("<h3>Spans: pairwise F1 per technique</h3>")
        rows = [[t, b["pairwise_f1"]] for t, b in spans["per_label"].items()]
        parts.append(_table(["technique", "pairwise F1"], rows))
    return "".join(parts)


def agreement_html(result: dict[str, Any]) -> str:
    return _page("Agreement report", agreement_section(result))


def write_agreement_report(result: dict[str, Any], path: str | Path) -> None:
    _write(path, agreement_html(result))
