"""The annotator merge policy: one corpus row's several annotators -> one set of labels.

`merge()` is used by train, evaluate and audit:

- `majority` (default): a character keeps a span label when more than half of the
  document's annotators gave it that label; a frame is kept when more than half chose
  it. With one annotator (or `gold`) this is that annotator's labels.
- `union`: every label any annotator gave.
- `annotator:NAME`: only NAME's labels (documents NAME did not annotate are dropped).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from annotate.corpus.store import NO_LINK, annotators_of, span
from annotate.errors import BadInput


@dataclass(frozen=True)
class Merged:
    """One document's labels after the merge policy: what train and evaluate use."""

    id: str
    text: str
    annotated: frozenset[str]
    spans: list[dict]  # {start, end, label, text, of_start, of_end}
    frames: list[str]


def merge(r: dict, policy: str = "majority", frame_control: str = "frame") -> Merged | None:
    """Apply an annotator merge policy to one corpus row (see the module docstring)."""
    names = annotators_of(r)
    if policy.startswith("annotator:"):
        who = policy.split(":", 1)[1]
        if who not in names:
            return None
        names = [who]
        need = 1
    elif policy == "union":
        need = 1
    elif policy == "majority":
        need = len(names) // 2 + 1
    else:
        raise BadInput(f"unknown merge policy {policy!r} (majority, union or annotator:NAME)")
    keep = set(names)
    spans = [s for s in r["spans"] if s["annotator"] in keep]
    labels = [
        d for d in r["doc_labels"] if d["annotator"] in keep and d["control"] == frame_control
    ]
    frame_votes = Counter(d["label"] for d in labels)
    frames = sorted(f for f, n in frame_votes.items() if n >= need)
    return Merged(
        id=r["id"],
        text=r["text"],
        annotated=frozenset(r["annotated"]),
        spans=_merge_spans(r["text"], spans, need),
        frames=frames,
    )


def _merge_spans(text: str, spans: list[dict], need: int) -> list[dict]:
    if need <= 1 and len({s["annotator"] for s in spans}) <= 1:
        return [dict(s) for s in spans]  # one annotator: keep spans as given (overlaps too)
    out: list[dict] = []
    for label in sorted({s["label"] for s in spans}):
        same = [s for s in spans if s["label"] == label]
        votes: Counter[int] = Counter()
        for who in {s["annotator"] for s in same}:
            covered = set()
            for s in same:
                if s["annotator"] == who:
                    covered.update(range(s["start"], s["end"]))
            votes.update(covered)
        chars = sorted(c for c, n in votes.items() if n >= need)
        for start, end in _runs(chars):
            best = max(same, key=lambda s: min(end, s["end"]) - max(start, s["start"]))
            of = (best["of_start"], best["of_end"]) if best["of_start"] != NO_LINK else None
            merged = span(text, start, end, label, "merged", of)
            merged.pop("annotator")
            out.append(merged)
    return sorted(out, key=lambda s: (s["start"], s["end"], s["label"]))


def _runs(chars: list[int]) -> Iterator[tuple[int, int]]:
    start = prev = None
    for c in chars:
        if start is None:
            start = prev = c
        elif c == prev + 1:
            prev = c
        else:
            yield start, prev + 1
            start = prev = c
    if start is not None:
        yield start, prev + 1
