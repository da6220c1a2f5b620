"""The collection summary: score records read in one streaming pass into a JSON-ready dict.

Memory is bounded by what the report shows, not by the collection: counters per technique,
frame, outlet and day, a heap of the top documents, and for repeats `PassageGroups` (a
union-find over passage occurrences with, per document taking part, its outlet and date only).
"""

from __future__ import annotations

import datetime as _dt
import heapq
import itertools
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from annotate.collection.groups import REPEATS_SOURCE, PassageGroups
from annotate.collection.meta import DATE_FIELDS, OUTLET_FIELDS, date_of, iso_date, outlet_of
from annotate.errors import BadInput

PROPAGANDA_THRESHOLD = 0.5
TOP_DOCUMENTS = 20
SHOWN_OUTLETS = 100
SPANS_PER_DOCUMENT = 60
SPAN_CHARS = 400
CONTEXT_CHARS = 6000
WEEKLY_UP_TO_DAYS = 26 * 7


class _Tally:
    """Documents, propaganda and technique/frame presence for one outlet or one day."""

    __slots__ = ("docs", "scored", "positive", "techniques", "framed", "frames")

    def __init__(self) -> None:
        self.docs = self.scored = self.positive = self.framed = 0
        self.techniques: dict[str, int] = {}  # documents with the technique
        self.frames: dict[str, int] = {}

    def add(self, propaganda, positive, labels, frame_labels) -> None:
        self.docs += 1
        if propaganda is not None:
            self.scored += 1
            self.positive += positive
        counts = self.techniques
        for label in labels:
            counts[label] = counts.get(label, 0) + 1
        if frame_labels is not None:
            self.framed += 1
            counts = self.frames
            for label in frame_labels:
                counts[label] = counts.get(label, 0) + 1

    def merge(self, other: _Tally) -> None:
        self.docs += other.docs
        self.scored += other.scored
        self.positive += other.positive
        self.framed += other.framed
        for mine, theirs in ((self.techniques, other.techniques), (self.frames, other.frames)):
            for label, c in theirs.items():
                mine[label] = mine.get(label, 0) + c


def _period(day: _dt.date, unit: str) -> str:
    """The week (its Monday) or month a day falls in, as an ISO label."""
    if unit == "week":
        return (day - _dt.timedelta(days=day.weekday())).isoformat()
    return f"{day.year:04d}-{day.month:02d}"


def _period_labels(first: int, last: int, unit: str) -> list[str]:
    """Every period from the first day's to the last day's, empty ones included."""
    day, end = _dt.date.fromordinal(first), _dt.date.fromordinal(last)
    labels = []
    if unit == "week":
        day -= _dt.timedelta(days=day.weekday())
        while day <= end:
            labels.append(day.isoformat())
            day += _dt.timedelta(days=7)
        return labels
    year, month = day.year, day.month
    while (year, month) <= (end.year, end.month):
        labels.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return labels


class Summarizer:
    """Feed score records one at a time (`add`), then read the summary (`result`)."""

    def __init__(self, *, threshold: float = PROPAGANDA_THRESHOLD, top: int = TOP_DOCUMENTS):
        self.threshold = threshold
        self.top = top
        self.all = _Tally()
        self.with_meta = 0
        self.outlet_fields: Counter[str] = Counter()
        self.date_fields: Counter[str] = Counter()
        self.unreadable_dates = 0
        self.unreadable_example: str | None = None
        self.sources: dict[str, int] = {}
        self.spans: dict[str, int] = {}  # spans per label
        self.outlets: dict[str, _Tally] = {}
        self.days: dict[int, _Tally] = {}
        self.heap: list[tuple] = []
        self.order = itertools.count()
        self.passages = PassageGroups()

    def add(self, record: dict[str, Any]) -> None:
        doc_id = record["id"]
        meta = record.get("meta") or None
        if meta:
            self.with_meta += 1
        outlet, outlet_field = outlet_of(meta)
        day, date_field, unreadable = date_of(meta)
        if outlet_field:
            self.outlet_fields[outlet_field] += 1
        if date_field and not unreadable:
            self.date_fields[date_field] += 1
        if unreadable:
            self.unreadable_dates += 1
            if self.unreadable_example is None:
                self.unreadable_example = f"{doc_id}: {date_field}={meta[date_field]!r}"
        spans = record.get("spans") or []
        span_counts = self.spans
        labels = set()
        sources: dict[str, int] = {}
        for s in spans:
            label = s["label"]
            labels.add(label)
            span_counts[label] = span_counts.get(label, 0) + 1
            source = s.get("source") or "model"
            sources[source] = sources.get(source, 0) + 1
        for source, c in sources.items():
            self.sources[source] = self.sources.get(source, 0) + c
        model_spans = len(spans) - sources.get(REPEATS_SOURCE, 0)
        propaganda = record.get("propaganda")
        positive = propaganda is not None and propaganda >= self.threshold
        frame_labels = record.get("frame_labels")
        args = (propaganda, positive, labels, frame_labels)
        self.all.add(*args)
        if outlet is not None:
            self.outlets.setdefault(outlet, _Tally()).add(*args)
        if day is not None:
            self.days.setdefault(day.toordinal(), _Tally()).add(*args)
        self.passages.add(doc_id, outlet, day, spans)
        rank = (propaganda if propaganda is not None else -1.0, model_spans)
        if self.top > 0 and (model_spans or propaganda is not None):
            item = (rank, -next(self.order), record, outlet, day)
            if len(self.heap) < self.top:
                heapq.heappush(self.heap, item)
            elif item[:2] > self.heap[0][:2]:
                heapq.heapreplace(self.heap, item)

    def result(self) -> dict[str, Any]:
        a = self.all
        n = a.docs
        scored = a.scored
        spans = self.spans
        techniques = sorted(spans, key=lambda t: (-a.techniques[t], -spans[t], t))
        frames = sorted(a.frames, key=lambda f: (-a.frames[f], f))
        summary: dict[str, Any] = {
            "documents": n,
            "threshold": self.threshold,
            "scored": scored,
            "propaganda_documents": a.positive if scored else None,
            "propaganda_share": _share(a.positive, scored),
            "documents_with_meta": self.with_meta,
            "span_sources": dict(sorted(self.sources.items(), key=lambda kv: -kv[1])),
            "techniques": [
                {
                    "label": t,
                    "spans": spans[t],
                    "documents": a.techniques[t],
                    "share": _share(a.techniques[t], n),
                }
                for t in techniques
            ],
            "framed_documents": a.framed,
            "frames": [
                {"label": f, "documents": a.frames[f], "share": _share(a.frames[f], a.framed)}
                for f in frames
            ],
        }
        summary["outlets"] = self._outlets()
        summary["time"] = self._time()
        summary["passages"] = self.passages.groups()
        summary["top_documents"] = self._top_documents()
        return summary

    def _outlets(self) -> dict[str, Any]:
        if not self.outlets:
            return {
                "available": False,
                "why": "no record's meta names an outlet (fields: "
                + ", ".join(OUTLET_FIELDS)
                + "); score documents whose input carries one",
            }
        ranked = sorted(self.outlets.items(), key=lambda kv: (-kv[1].docs, kv[0]))
        return {
            "available": True,
            "fields": dict(self.outlet_fields.most_common()),
            "count": len(self.outlets),
            "documents": sum(t.docs for t in self.outlets.values()),
            "rows": [
                {
                    "outlet": name,
                    "documents": t.docs,
                    "scored": t.scored,
                    "propaganda_share": _share(t.positive, t.scored),
                    "techniques": {
                        lab: _share(c, t.docs)
                        for lab, c in sorted(t.techniques.items(), key=lambda kv: (-kv[1], kv[0]))
                    },
                }
                for name, t in ranked[:SHOWN_OUTLETS]
            ],
        }

    def _time(self) -> dict[str, Any]:
        if not self.days:
            why = "no record's meta holds a readable date (fields: " + ", ".join(DATE_FIELDS) + ")"
            if self.unreadable_dates:
                why += (
                    f"; {plural(self.unreadable_dates, 'date')} not ISO, "
                    f"e.g. {self.unreadable_example}"
                )
            return {"available": False, "why": why}
        first, last = min(self.days), max(self.days)
        unit = "week" if last - first <= WEEKLY_UP_TO_DAYS else "month"
        periods = {label: _Tally() for label in _period_labels(first, last, unit)}
        for ordinal, tally in self.days.items():
            periods[_period(_dt.date.fromordinal(ordinal), unit)].merge(tally)
        return {
            "available": True,
            "fields": dict(self.date_fields.most_common()),
            "unreadable_dates": self.unreadable_dates,
            "first_date": iso_date(first),
            "last_date": iso_date(last),
            "unit": unit,
            "documents": sum(t.docs for t in periods.values()),
            "periods": [
                {
                    "period": label,
                    "documents": t.docs,
                    "scored": t.scored,
                    "propaganda_share": _share(t.positive, t.scored),
                    "techniques": {lab: _share(c, t.docs) for lab, c in t.techniques.items()},
                    "framed": t.framed,
                    "frames": {lab: _share(c, t.framed) for lab, c in t.frames.items()},
                }
                for label, t in periods.items()
            ],
        }

    def _top_documents(self) -> list[dict[str, Any]]:
        out = []
        for (_, model_spans), _, record, outlet, day in sorted(self.heap, reverse=True):
            meta = record.get("meta") or {}
            every = record.get("spans") or []
            spans = [s for s in every if s.get("source") != REPEATS_SOURCE]
            spans.sort(key=lambda s: -float(s.get("score") or 0.0))
            repeated = [s for s in every if s.get("source") == REPEATS_SOURCE]
            shown = sorted(
                spans[:SPANS_PER_DOCUMENT] + repeated[:SPANS_PER_DOCUMENT],
                key=lambda s: (int(s["start"]), int(s["end"])),
            )
            out.append(
                {
                    "id": record["id"],
                    "propaganda": record.get("propaganda"),
                    "outlet": outlet,
                    "date": day.isoformat() if day else None,
                    "title": meta.get("title") if isinstance(meta.get("title"), str) else None,
                    "url": meta.get("url") if isinstance(meta.get("url"), str) else None,
                    "frame_labels": record.get("frame_labels"),
                    "model_spans": model_spans,
                    "repeat_spans": len(record.get("spans") or []) - model_spans,
                    "spans": [
                        {
                            "start": int(s["start"]),
                            "end": int(s["end"]),
                            "label": s["label"],
                            "score": s.get("score"),
                            "source": s.get("source") or "model",
                            "text": str(s.get("text") or "")[:SPAN_CHARS],
                        }
                        for s in shown
                    ],
                }
            )
        return out


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def summarize(
    records: Iterable[dict[str, Any]],
    *,
    threshold: float = PROPAGANDA_THRESHOLD,
    top: int = TOP_DOCUMENTS,
) -> dict[str, Any]:
    """One pass over score records -> the collection summary (a JSON-ready dict)."""
    acc = Summarizer(threshold=threshold, top=top)
    for record in records:
        acc.add(record)
    return acc.result()


def attach_texts(summary: dict[str, Any], paths: Sequence[str | Path]) -> int:
    """Give the top documents their text from the input documents at `paths` (one pass,
    keeping only those texts). Checks every shown span against the text; returns how many
    documents were found."""
    from annotate.documents import iter_documents

    wanted = {d["id"]: d for d in summary["top_documents"]}
    found = 0
    for doc in iter_documents(paths, unique_ids=False):
        entry = wanted.pop(doc.id, None)
        if entry is None:
            continue
        for s in entry["spans"]:
            if doc.text[s["start"] : s["end"]][:SPAN_CHARS] != s["text"]:
                raise BadInput(
                    f"document {doc.id!r} does not hold the scored span {s['start']}-{s['end']} "
                    f"({s['text'][:40]!r}): not the text that was scored",
                    doc.meta.get("source"),
                )
        first = min((s["start"] for s in entry["spans"]), default=0)
        start = max(0, first - 300)
        start = doc.text.rfind("\n", 0, start) + 1 if start else 0
        entry["context"] = {"start": start, "text": doc.text[start : start + CONTEXT_CHARS]}
        entry["length"] = len(doc.text)
        found += 1
        if not wanted:
            break
    return found


def with_progress(records: Iterable[dict[str, Any]], label: str = "reading scores"):
    """Yield `records` under `annotate.ui.progress` (a bar on a terminal, quiet otherwise)."""
    from annotate import ui

    with ui.progress(label, unit="records") as advance:
        n = 0
        for record in records:
            yield record
            n += 1
            if n == 1000:
                advance(n)
                n = 0
        advance(n)


def describe(summary: dict[str, Any]) -> str:
    """One line for the terminal: what the report covers."""
    bits = [plural(summary["documents"], "document")]
    if summary["scored"]:
        bits.append(
            f"{100 * summary['propaganda_share']:.1f}% propaganda (score >= {summary['threshold']:g})"
        )
    p = summary["passages"]
    bits.append(f"{p['groups']:,} coordinated-passage groups")
    bits.append(f"{p['single_outlet_groups']:,} single-outlet groups")
    if summary["outlets"]["available"]:
        bits.append(f"{summary['outlets']['count']:,} outlets")
    return ", ".join(bits)


def plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")
