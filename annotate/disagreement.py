"""How much the annotators of a document disagree, in [0, 1], and the documents ranked by it."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from annotate.agreement import pair_span_f1
from annotate.schema import FRAME_CONTROL, SPAN_CONTROL


def pair_disagreement(row: Mapping[str, Any], a: str, b: str) -> dict[str, float | None]:
    """Span and frame disagreement of annotators `a` and `b` on one corpus row."""
    result: dict[str, float | None] = {"spans": None, "frames": None}
    if SPAN_CONTROL in row["annotated"]:
        doc = {
            who: [(s["start"], s["end"], s["label"]) for s in row["spans"] if s["annotator"] == who]
            for who in (a, b)
        }
        unlabelled = pair_span_f1([doc], a, b)
        labels = sorted({lab for who in (a, b) for _, _, lab in doc[who]})
        per_label = [pair_span_f1([doc], a, b, lab) for lab in labels]
        per_label = [f for f in per_label if f is not None]
        if unlabelled is None:  # neither marked a span: they agree
            result["spans"] = 0.0
        else:
            labelled = sum(per_label) / len(per_label) if per_label else 0.0
            result["spans"] = 1.0 - (unlabelled + labelled) / 2
    if FRAME_CONTROL in row["annotated"]:
        fa, fb = (
            {
                d["label"]
                for d in row["doc_labels"]
                if d["annotator"] == who and d["control"] == FRAME_CONTROL
            }
            for who in (a, b)
        )
        union = fa | fb
        result["frames"] = 1.0 - len(fa & fb) / len(union) if union else 0.0
    return result


def disagreement(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """How much the annotators of a row disagree (None with fewer than two annotators).

    Per pair of annotators: 1 - the mean of the unlabelled and the per-label SemEval-2020 SI F1 of
    their spans (`annotate.agreement.pair_span_f1`), and 1 - the Jaccard overlap of their frame
    sets; averaged over pairs, then over the two controls. `annotate review` puts the most
    disputed documents in front of a reviewer (`annotate.studio.review`).
    """
    annotators = sorted(set(row.get("annotators") or ()))
    if len(annotators) < 2:
        return None
    pairs = [pair_disagreement(row, a, b) for a, b in itertools.combinations(annotators, 2)]
    parts: dict[str, float | None] = {}
    for control in ("spans", "frames"):
        values = [p[control] for p in pairs if p[control] is not None]
        parts[control] = round(sum(values) / len(values), 4) if values else None
    present = [v for v in parts.values() if v is not None]
    return {
        "doc_id": row["id"],
        "annotators": annotators,
        "spans": parts["spans"],
        "frames": parts["frames"],
        "disagreement": round(sum(present) / len(present), 4) if present else 0.0,
    }


def rank_disagreements(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows with two or more annotators, most disputed first."""
    scored = [d for r in rows if (d := disagreement(r)) is not None]
    return sorted(scored, key=lambda d: (-d["disagreement"], d["doc_id"]))
