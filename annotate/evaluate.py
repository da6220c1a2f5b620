"""`evaluate()`: measure a model on a corpus and write the metrics as JSON and an HTML report.

The measuring is `annotate.evaluation`, the page is `annotate.report`; this module sits above
both, so the report reads evaluations and evaluation never knows about pages.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from annotate.evaluation import (
    EvaluatedDocument,
    Evaluation,
    Predictor,
    classify_gold_spans,
    evaluate_model,
    metrics_table,
    score,
    span_threshold_curve,
)
from annotate.learn import load_model
from annotate.report import write_evaluation_report
from annotate.schema import Schema
from annotate.ui import write_json

__all__ = [
    "EvaluatedDocument",
    "Evaluation",
    "Predictor",
    "classify_gold_spans",
    "evaluate",
    "evaluate_model",
    "metrics_table",
    "score",
    "span_threshold_curve",
]


def evaluate(
    model: str | Path | Predictor,
    corpus_dir: str | Path | Sequence[str | Path],
    *,
    policy: str = "majority",
    json_out: str | Path | None = None,
    report: str | Path | None = None,
    schema: Schema | None = None,
) -> dict[str, Any]:
    """Metrics of CONTRACTS.md section 7 for `model` on the corpus; optional JSON and HTML."""
    model = load_model(model)
    result = evaluate_model(model, corpus_dir, policy=policy, schema=schema)
    if json_out is not None:
        write_json(json_out, result.metrics)
    if report is not None:
        result.span_curve = span_threshold_curve(model, result.documents)
        result.span_threshold = getattr(getattr(model, "tagger", None), "threshold", None)
        write_evaluation_report(result, report)
    return result.metrics
