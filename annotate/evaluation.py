"""Measure a trained model on a corpus: the figures of CONTRACTS.md section 7.

`evaluate_model()` runs the model over the corpus's annotated documents and returns an
`Evaluation` (the metrics dict and what the HTML report needs: span scores, frame
probabilities, gold and predicted labels per span, the documents themselves); it prints
nothing. `metrics_table()` turns the metrics into a rich Table for the terminal. Every block
is computed over the documents annotated for its control (after the annotator merge policy)
and is `None` when there are none:

- `spans.si`: SemEval-2020 Task 11 span identification (partial overlap, labels ignored);
- `spans.flc`: labelled spans, the NLP4IF-2019 fragment-level measure (SI's partial overlap
  counted only between spans of the same technique);
- `spans.tc`: technique classification of the gold spans (`Model.classify_spans`);
- `spans.per_label`: the partial-overlap measure per label, predicted labelled spans against
  gold labelled spans;
- `sentences`: a sentence is positive when a span overlaps it;
- `frames`: document multi-label F1 over the model's thresholded frames.

`annotate.evaluate.evaluate()` is the entry point that also writes the JSON and HTML files.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from annotate import metrics
from annotate.corpus import iter_rows, merge
from annotate.learn import load_model
from annotate.schema import FRAME_CONTROL, SPAN_CONTROL, Schema, load_schema
from annotate.ui import progress

BATCH = 32


class Predictor(Protocol):
    """What evaluation needs from a model (annotate.learn.model.Model has it)."""

    model_version: str

    def predict(self, texts: list[str]) -> list[dict]: ...

    def classify_spans(self, text: str, spans: list[tuple[int, int]]) -> list[str]: ...


@dataclass
class EvaluatedDocument:
    """One document: gold (after merging annotators) and what the model said."""

    id: str
    text: str
    annotated: frozenset[str]
    gold_spans: list[tuple[int, int, str]]
    gold_frames: set[str]
    prediction: dict
    tc_labels: list[str] = field(default_factory=list)  # model's label for each gold span

    @property
    def pred_spans(self) -> list[tuple[int, int, str, float]]:
        return [
            (int(s["start"]), int(s["end"]), s["label"], float(s.get("score", 1.0)))
            for s in self.prediction.get("spans", [])
        ]


@dataclass
class Evaluation:
    metrics: dict[str, Any]
    documents: list[EvaluatedDocument]
    techniques: tuple[str, ...]
    frames: tuple[str, ...]
    model_version: str = ""
    # (threshold, SI precision, SI recall) of the span tagger over a range of thresholds
    span_curve: list[tuple[float, float, float]] | None = None
    span_threshold: float | None = None


def evaluate_model(
    model: str | Path | Predictor,
    corpus_dir: str | Path | Sequence[str | Path],
    *,
    policy: str = "majority",
    schema: Schema | None = None,
) -> Evaluation:
    """Run the model over the corpus's annotated documents and score it."""
    schema = schema or load_schema()
    model = load_model(model)
    dirs = [corpus_dir] if isinstance(corpus_dir, str | Path) else list(corpus_dir)
    docs: list[EvaluatedDocument] = []
    for r in iter_rows(dirs):
        merged = merge(r, policy, frame_control=FRAME_CONTROL)
        if merged is None or not (merged.annotated & {SPAN_CONTROL, FRAME_CONTROL}):
            continue
        docs.append(
            EvaluatedDocument(
                id=merged.id,
                text=merged.text,
                annotated=merged.annotated,
                gold_spans=[(s["start"], s["end"], s["label"]) for s in merged.spans],
                gold_frames=set(merged.frames),
                prediction={},
            )
        )
    _predict(model, docs)
    techniques, frames = schema.techniques, schema.frames
    return Evaluation(
        metrics=score(docs, techniques, frames),
        documents=docs,
        techniques=techniques,
        frames=frames,
        model_version=getattr(model, "model_version", ""),
    )


def span_threshold_curve(
    model: Predictor, docs: Sequence[EvaluatedDocument], thresholds: Sequence[float] | None = None
) -> list[tuple[float, float, float]] | None:
    """SI precision and recall of the model's span tagger at other decision thresholds.

    Needs a model with a `tagger` offering `score_tokens` (annotate.learn's SpanTagger);
    spans are decoded as the model does, with only the threshold changed. None otherwise.
    """
    tagger = getattr(model, "tagger", None)
    if tagger is None or not hasattr(tagger, "score_tokens"):
        return None

    span_docs = [d for d in docs if SPAN_CONTROL in d.annotated]
    if not span_docs:
        return None
    offsets, probas, sentences = tagger.score_tokens([d.text for d in span_docs])
    gold = [[(s, e) for s, e, _ in d.gold_spans] for d in span_docs]
    points = []
    for t in thresholds or [round(0.02 * k, 2) for k in range(1, 46)]:
        pred = [
            [(a, b) for a, b, _ in tagger.decode_spans(o, p, s, threshold=t)]
            for o, p, s in zip(offsets, probas, sentences, strict=True)
        ]
        prf = metrics.si_prf(pred, gold)
        points.append((float(t), prf["precision"], prf["recall"]))
    return points


def _predict(model: Predictor, docs: list[EvaluatedDocument]) -> None:
    with progress("evaluating", len(docs)) as advance:
        for i in range(0, len(docs), BATCH):
            batch = docs[i : i + BATCH]
            for doc, pred in zip(batch, model.predict([d.text for d in batch]), strict=True):
                doc.prediction = pred
                if SPAN_CONTROL in doc.annotated and doc.gold_spans:
                    doc.tc_labels = classify_gold_spans(model, doc.text, doc.gold_spans)
            advance(len(batch))


def classify_gold_spans(
    model: Predictor, text: str, gold: Sequence[tuple[int, int, str]]
) -> list[str]:
    """The model's technique for each gold span (TC).

    A span that carries k gold labels (PTC lists some spans twice, with two techniques)
    gets the model's k most probable techniques when the model offers `technique_proba`,
    lined up with the gold labels they match, as the SemEval-2020 TC scorer allows.
    """
    labels = list(model.classify_spans(text, [(s, e) for s, e, _ in gold]))
    groups: dict[tuple[int, int], list[int]] = {}
    for i, (s, e, _) in enumerate(gold):
        groups.setdefault((s, e), []).append(i)
    ranked = getattr(model, "technique_proba", None)
    for span, idx in groups.items():
        if len(idx) < 2:
            continue
        guesses = [labels[i] for i in idx]
        if ranked is not None:
            proba = ranked(text, [span])[0]
            order = sorted(range(len(proba)), key=lambda j: -proba[j])
            guesses = [model.techniques[j] for j in order[: len(idx)]]
        for i, label in zip(idx, _line_up(guesses, [gold[i][2] for i in idx]), strict=True):
            labels[i] = label
    return labels


def _line_up(guesses: list[str], gold: list[str]) -> list[str]:
    """Reorder `guesses` so that each one equal to a gold label sits at that label's place."""
    out: list[str | None] = [None] * len(gold)
    rest = []
    for g in guesses:
        place = next((i for i, lab in enumerate(gold) if lab == g and out[i] is None), None)
        if place is None:
            rest.append(g)
        else:
            out[place] = g
    for i in range(len(out)):
        if out[i] is None:
            out[i] = rest.pop(0)
    return out  # type: ignore[return-value]


def score(
    docs: Sequence[EvaluatedDocument], techniques: Sequence[str], frames: Sequence[str]
) -> dict[str, Any]:
    """The metrics dict from documents that carry gold and predictions."""
    span_docs = [d for d in docs if SPAN_CONTROL in d.annotated]
    frame_docs = [d for d in docs if FRAME_CONTROL in d.annotated]
    spans_block = sentences_block = frames_block = None
    if span_docs:
        gold = [d.gold_spans for d in span_docs]
        pred = [[(s, e, lab) for s, e, lab, _ in d.pred_spans] for d in span_docs]
        gold_labels = [lab for d in span_docs for _, _, lab in d.gold_spans]
        tc_pred = [lab for d in span_docs for lab in d.tc_labels]
        spans_block = {
            "si": metrics.si_prf(_unlabelled(pred), _unlabelled(gold)),
            "flc": metrics.flc_prf(pred, gold),
            "tc": metrics.tc_f1(tc_pred, gold_labels, techniques),
            "per_label": metrics.per_label_prf(pred, gold, techniques),
        }
        sentences_block = metrics.sentence_prf(
            [d.text for d in span_docs], _unlabelled(pred), _unlabelled(gold)
        )
    if frame_docs:
        frames_block = metrics.multilabel_f1(
            [set(d.prediction.get("frame_labels", [])) for d in frame_docs],
            [d.gold_frames for d in frame_docs],
            frames,
        )
    return {
        "documents": len(docs),
        "spans": spans_block,
        "sentences": sentences_block,
        "frames": frames_block,
    }


def _unlabelled(docs: Iterable[Sequence[tuple]]) -> list[list[tuple[int, int]]]:
    return [[(s[0], s[1]) for s in doc] for doc in docs]


def metrics_table(m: dict[str, Any]):
    """A rich Table of the headline figures and the per-label span and frame scores."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"Evaluation on {m['documents']} documents", title_justify="left")
    table.add_column("measure", no_wrap=True)
    for name in ("P", "R", "F1", "support"):
        table.add_column(name, justify="right", no_wrap=True)

    def prf(name: str, block: dict | None) -> None:
        if block is None:
            table.add_row(name, "-", "-", "-", "no docs")
        else:
            scores = [f"{block[k]:.3f}" for k in ("precision", "recall", "f1")]
            table.add_row(name, *scores, str(block.get("support", "")))

    def f1(name: str, value: float) -> None:
        table.add_row(name, "", "", f"{value:.3f}", "")

    spans, frames = m.get("spans"), m.get("frames")
    prf("spans: SI (partial overlap)", spans and spans["si"])
    prf("spans: FLC (labelled)", spans and spans["flc"])
    if spans:
        f1("spans: TC micro F1", spans["tc"]["micro_f1"])
        f1("spans: TC macro F1", spans["tc"]["macro_f1"])
    prf("sentences", m.get("sentences"))
    if frames is None:
        prf("frames", None)
    else:
        f1("frames: micro F1", frames["micro_f1"])
        f1("frames: macro F1", frames["macro_f1"])
    if spans:
        table.add_section()
        table.add_row("[b]spans per technique[/b]")
        for label, block in spans["per_label"].items():
            prf(f" {escape(label)}", block)
    if frames:
        table.add_section()
        table.add_row("[b]frames[/b]")
        for label, block in frames["per_label"].items():
            prf(f" {escape(label)}", block)
    return table
