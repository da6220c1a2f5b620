"""The collection report: what a scored collection says, summarised in one streaming pass.

`summarize(records)` reads score records (CONTRACTS.md section 6) once and returns a plain
dict (what `annotate report --json` writes); `render_html(summary)` turns that dict into one
self-contained page (what `--out` writes). The summary holds:

- the collection: documents, the share the model calls propaganda (document score >= the
  threshold, 0.5), techniques by span count and by share of documents, frames by share;
- by outlet and over time, when the records' `meta` names an outlet (`outlet`, `source`,
  `domain`, `site`, `publisher`, else the host of `url`) and a date (`date`, `published`, ...;
  ISO strings): propaganda share and top techniques per outlet, techniques and frames per
  week (dates spanning up to 26 weeks) or month;
- coordinated passages: cross-document repeats (`source: "repeats"` spans whose `of` names
  another document) joined into groups, ranked by distinct outlets, then documents; groups
  whose documents all come from one outlet (footers, disclaimers) are listed apart;
- the most propagandistic documents with their spans (in the article's text when
  `attach_texts` is given the input documents, else each span's own text).

Memory is bounded by what the report shows, not by the collection: counters per technique,
frame, outlet and day, a heap of the top documents, and for repeats a union-find over passage
occurrences with, per document taking part, its outlet and date only.

Why passages and not whole documents as union-find nodes: an outlet's footer joins all of its
articles; if documents were the nodes, one wire story that any of them also carried would
merge with the footer's group and every group touching that outlet would become one. A node
is a document's run of overlapping repeat spans, so a document can belong to several groups.
"""

from __future__ import annotations

import datetime as _dt
import heapq
import itertools
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from annotate import html
from annotate.errors import BadInput
from annotate.html import Raw, escape

PROPAGANDA_THRESHOLD = 0.5
OUTLET_FIELDS = ("outlet", "source", "domain", "site", "publisher", "url")
DATE_FIELDS = (
    "date",
    "published",
    "published_at",
    "publish_date",
    "pubdate",
    "datetime",
    "timestamp",
    "created_at",
    "time",
)
TOP_DOCUMENTS = 20
SHOWN_GROUPS = 50
SHOWN_MEMBERS = 30
SHOWN_OUTLETS = 100
SPANS_PER_DOCUMENT = 60
SHOWN_SPANS = 30  # per document on the page without its text
PASSAGE_CHARS = 600
SPAN_CHARS = 400
CONTEXT_CHARS = 6000
WEEKLY_UP_TO_DAYS = 26 * 7
REPEATS_SOURCE = "repeats"
# `source` is also where `annotate score` keeps the input file's path: not an outlet
_FILE_SUFFIXES = (".txt", ".jsonl", ".json", ".csv", ".parquet")


# ---- reading meta -------------------------------------------------------------------------


def outlet_of(meta: dict[str, Any] | None) -> tuple[str | None, str | None]:
    """(outlet, the meta field it came from); (None, None) when meta names none."""
    if not meta:
        return None, None
    for key in OUTLET_FIELDS:
        value = meta.get(key)
        if not isinstance(value, str) or not value.strip():
            continue
        value = value.strip()
        if key == "url":
            host = urlsplit(value).hostname
            if not host:
                continue
            return host.removeprefix("www."), "url (host)"
        if key == "source" and ("/" in value or value.lower().endswith(_FILE_SUFFIXES)):
            continue  # a file path, as `annotate score` records for .txt input
        return value, key
    return None, None


def date_of(meta: dict[str, Any] | None) -> tuple[_dt.date | None, str | None, bool]:
    """(date, field, unreadable): the first date field of meta read as an ISO date."""
    if not meta:
        return None, None, False
    for key in DATE_FIELDS:
        value = meta.get(key)
        if value is None or value == "":
            continue
        return _parse_date(value), key, _parse_date(value) is None
    return None, None, False


def _parse_date(value: Any) -> _dt.date | None:
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, _dt.date):
        return value
    if not isinstance(value, str):
        return None
    value = value.strip()
    # the date as written (an ISO datetime's first ten characters; no time-zone shift)
    day = _DAYS.get(value[:10])
    if day is None:
        try:
            day = _dt.date.fromisoformat(value[:10])
        except ValueError:
            return None
        if len(_DAYS) < 100_000:
            _DAYS[value[:10]] = day
    if len(value) > 10 and value[10] not in "T ":
        return None
    return day


_DAYS: dict[str, _dt.date] = {}  # parsed days, for speed (a few thousand in practice)


# ---- the streaming pieces -----------------------------------------------------------------


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


class PassageGroups:
    """Cross-document repeats joined into groups: a union-find over passage occurrences.

    A node is one document's run of overlapping cross-document repeat spans; every `of` link
    joins two nodes. Per document taking part only its id, outlet and date are kept; passage
    texts are interned (a footer printed 50,000 times is stored once).
    """

    def __init__(self) -> None:
        self.doc_index: dict[str, int] = {}
        self.doc_ids: list[str] = []
        self.doc_outlet = array("i")  # outlet code, -1 unknown
        self.doc_day = array("i")  # date ordinal, 0 unknown
        self.doc_seen = bytearray()  # a record for this document was read
        self.outlet_code: dict[str, int] = {}
        self.outlets: list[str] = []
        self.intervals: dict[int, list[list[int]]] = {}  # doc -> [[start, end, node], ...]
        self.node_doc = array("i")
        self.node_text = array("i")
        self.text_code: dict[str, int] = {}
        self.texts: list[str] = []
        self.links = array("q")  # node, target doc, start, end (flattened)
        self.within = 0  # repeat spans pointing into their own document

    def _doc(self, doc_id: str) -> int:
        i = self.doc_index.get(doc_id)
        if i is None:
            i = self.doc_index[doc_id] = len(self.doc_ids)
            self.doc_ids.append(doc_id)
            self.doc_outlet.append(-1)
            self.doc_day.append(0)
            self.doc_seen.append(0)
        return i

    def _node(self, doc: int, text: str) -> int:
        code = self.text_code.get(text)
        if code is None:
            code = self.text_code[text] = len(self.texts)
            self.texts.append(text)
        self.node_doc.append(doc)
        self.node_text.append(code)
        return len(self.node_doc) - 1

    def add(self, doc_id: str, outlet: str | None, day: _dt.date | None, spans: list) -> None:
        cross = []
        for s in spans:
            of = s.get("of")
            if s.get("source") != REPEATS_SOURCE or not of:
                continue
            if str(of["id"]) == doc_id:
                self.within += 1
            else:
                cross.append(s)
        if not cross and doc_id not in self.doc_index:
            return
        d = self._doc(doc_id)
        self.doc_seen[d] = 1
        if outlet is not None:
            code = self.outlet_code.get(outlet)
            if code is None:
                code = self.outlet_code[outlet] = len(self.outlets)
                self.outlets.append(outlet)
            self.doc_outlet[d] = code
        if day is not None:
            self.doc_day[d] = day.toordinal()
        if not cross:
            return
        runs = self.intervals.setdefault(d, [])
        cross.sort(key=lambda s: (int(s["start"]), int(s["end"])))
        current: list[Any] | None = None  # [start, end, longest text, its spans]
        members: list[list[Any]] = []
        for s in cross:
            start, end = int(s["start"]), int(s["end"])
            text = str(s.get("text") or "")
            if current is not None and start < current[1]:
                current[1] = max(current[1], end)
                if len(text) > len(current[2]):
                    current[2] = text
                current[3].append(s)
            else:
                current = [start, end, text, [s]]
                members.append(current)
        for start, end, text, group in members:
            node = self._node(d, text[:PASSAGE_CHARS])
            runs.append([start, end, node])
            for s in group:
                of = s["of"]
                target = self._doc(str(of["id"]))
                self.links.extend((node, target, int(of["start"]), int(of["end"])))

    def _node_at(self, doc: int, start: int, end: int) -> int:
        runs = self.intervals.setdefault(doc, [])
        for s, e, node in runs:
            if s < end and start < e:
                return node
        node = self._node(doc, "")  # a document read without this span (or not read at all)
        runs.append([start, end, node])
        return node

    def groups(self, shown: int = SHOWN_GROUPS, members: int = SHOWN_MEMBERS) -> dict[str, Any]:
        """Connected components of two or more documents, ranked by distinct outlets, then
        documents: `single_outlet` those whose documents all have the same (known) outlet,
        `crossing` the others (several outlets, or outlets unknown); the first `shown` of each
        described with up to `members` documents, earliest first."""
        links = self.links
        targets = array("i", (self._node_at(links[k + 1], links[k + 2], links[k + 3])
                              for k in range(0, len(links), 4)))  # fmt: skip
        parent = array("i", range(len(self.node_doc)))

        def find(x: int) -> int:
            root = x
            while parent[root] != root:
                root = parent[root]
            while parent[x] != root:
                parent[x], x = root, parent[x]
            return root

        for k, target in enumerate(targets):
            a, b = find(links[4 * k]), find(target)
            if a != b:
                parent[max(a, b)] = min(a, b)
        components: dict[int, list[int]] = {}
        for node in range(len(self.node_doc)):
            components.setdefault(find(node), []).append(node)
        ranked = []
        for nodes in components.values():
            docs = {self.node_doc[n] for n in nodes}
            if len(docs) < 2:
                continue
            outlets = {self.doc_outlet[d] for d in docs} - {-1}
            unknown = sum(1 for d in docs if self.doc_outlet[d] == -1)
            single = len(outlets) == 1 and unknown == 0
            ranked.append((single, -len(outlets), -len(docs), nodes, docs, outlets, unknown))
        ranked.sort(key=lambda g: (g[0], g[1], g[2], min(self.doc_ids[d] for d in g[4])))
        crossing = [g for g in ranked if not g[0]]
        single = [g for g in ranked if g[0]]
        return {
            "groups": len(crossing),
            "documents": len({d for g in crossing for d in g[4]}),
            "single_outlet_groups": len(single),
            "single_outlet_documents": len({d for g in single for d in g[4]}),
            "within_document_spans": self.within,
            "crossing": [self._describe(g, members) for g in crossing[:shown]],
            "single_outlet": [self._describe(g, members) for g in single[:shown]],
        }

    def _describe(self, group: tuple, members: int) -> dict[str, Any]:
        _, _, _, nodes, docs, outlets, unknown = group
        texts = Counter(self.node_text[n] for n in nodes if self.texts[self.node_text[n]])
        passage = ""
        if texts:
            best = max(texts.items(), key=lambda kv: (kv[1], len(self.texts[kv[0]])))
            passage = self.texts[best[0]]
        days = sorted(self.doc_day[d] for d in docs if self.doc_day[d])
        ordered = sorted(docs, key=lambda d: (self.doc_day[d] or 10**9, self.doc_ids[d]))
        return {
            "passage": passage,
            "documents": len(docs),
            "outlets": len(outlets),
            "outlet_names": sorted(self.outlets[o] for o in outlets),
            "unknown_outlet_documents": unknown,
            "first_date": _iso(days[0]) if days else None,
            "last_date": _iso(days[-1]) if days else None,
            "members": [
                {
                    "id": self.doc_ids[d],
                    "outlet": self.outlets[self.doc_outlet[d]] if self.doc_outlet[d] >= 0 else None,
                    "date": _iso(self.doc_day[d]) if self.doc_day[d] else None,
                    "read": bool(self.doc_seen[d]),
                }
                for d in ordered[:members]
            ],
        }


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


def _iso(ordinal: int) -> str:
    return _dt.date.fromordinal(ordinal).isoformat()


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
                    f"; {_plural(self.unreadable_dates, 'date')} not ISO, "
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
            "first_date": _iso(first),
            "last_date": _iso(last),
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


# ---- rendering ----------------------------------------------------------------------------


def render_html(summary: dict[str, Any], *, title: str = "Collection report") -> str:
    """The summary as one self-contained HTML page (plots inline, every text escaped)."""
    colours = html.label_colours()
    parts = [
        _at_a_glance(summary),
        _collection_section(summary, colours),
        _outlet_section(summary["outlets"], summary),
        _time_section(summary["time"]),
        _passage_section(summary["passages"], summary),
        _documents_section(summary, colours),
    ]
    return html.page(title, "".join(parts))


SECTIONS = (
    ("collection", "The collection"),
    ("outlets", "By outlet"),
    ("time", "Over time"),
    ("passages", "Coordinated passages"),
    ("documents", "Most propagandistic documents"),
)


def _at_a_glance(s: dict[str, Any]) -> str:
    """A few sentences with the headline figures, and links to the sections."""
    o, t, p = s["outlets"], s["time"], s["passages"]
    first = f"<b>{s['documents']:,}</b> documents"
    if o["available"]:
        first += f" from {o['count']:,} outlets"
    if t["available"]:
        first += f", {t['first_date']} to {t['last_date']}"
    lines = [first + "."]
    if s["scored"]:
        lines.append(
            f"<b>{_pct(s['propaganda_share'])}</b> are propaganda by the model "
            f"(document score ≥ {s['threshold']:g})."
        )
    model = [t for t in s["techniques"] if t["label"] != "Repetition"] or s["techniques"]
    if model:
        lines.append(
            f"Most common technique: {escape(model[0]['label'])} "
            f"({_pct(model[0]['share'])} of documents)."
        )
    if p["groups"]:
        top = p["crossing"][0]
        biggest = (
            f"the widest: {top['outlets']:,} outlets, {top['documents']:,} documents"
            if top["outlets"]
            else f"the largest: {top['documents']:,} documents"
        )
        lines.append(f"<b>{p['groups']:,}</b> passages printed by several documents ({biggest}).")
    if p["single_outlet_groups"]:
        lines.append(f"{p['single_outlet_groups']:,} more repeated inside one outlet.")
    links = " · ".join(f'<a href="#{k}">{escape(v)}</a>' for k, v in SECTIONS)
    return f'<p>{" ".join(lines)}</p><p class="note">{links}</p>'


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _pct(x: float | None) -> str:
    return "&ndash;" if x is None else f"{100 * x:.1f}%"


def _collection_section(s: dict[str, Any], colours: dict[str, str]) -> str:
    n = s["documents"]
    rows: list[list[Any]] = [["documents", f"{n:,}"]]
    if s["scored"]:
        rows.append(["scored by a model", f"{s['scored']:,}"])
        rows.append(
            [
                f"propaganda (document score ≥ {s['threshold']:g})",
                Raw(f"{s['propaganda_documents']:,} ({_pct(s['propaganda_share'])})"),
            ]
        )
    else:
        rows.append(["scored by a model", "none (scored without --model: repeats only)"])
    rows.append(["with meta (outlet, date, ...)", f"{s['documents_with_meta']:,}"])
    sources = ", ".join(f"{k} {v:,}" for k, v in s["span_sources"].items()) or "none"
    rows.append(["spans by source", sources])
    parts = ['<h2 id="collection">The collection</h2>', html.table(["", "count"], rows)]
    if s["techniques"]:
        parts.append("<h3>Techniques</h3>")
        parts.append('<div class="figures">')
        parts.append(
            html.table(
                ["technique", "spans", "documents", "share"],
                [
                    [
                        Raw(_chip(t["label"], colours)),
                        f"{t['spans']:,}",
                        f"{t['documents']:,}",
                        Raw(_pct(t["share"])),
                    ]
                    for t in s["techniques"]
                ],  # fmt: skip
            )
        )
        parts.append(
            _bars(
                [t["label"] for t in s["techniques"]],
                [t["share"] or 0 for t in s["techniques"]],
                "share of documents with the technique",
                [colours.get(t["label"], "#888") for t in s["techniques"]],
            )
        )
        parts.append("</div>")
    if s["frames"]:
        parts.append(f"<h3>Frames</h3><p>Over the {s['framed_documents']:,} documents with "
                     "predicted frames (<code>frame_labels</code>).</p>")  # fmt: skip
        parts.append('<div class="figures">')
        parts.append(
            html.table(
                ["frame", "documents", "share"],
                [[f["label"], f"{f['documents']:,}", Raw(_pct(f["share"]))] for f in s["frames"]],
            )
        )
        parts.append(
            _bars(
                [f["label"] for f in s["frames"]],
                [f["share"] or 0 for f in s["frames"]],
                "share of documents with the frame",
            )
        )
        parts.append("</div>")
    elif not s["framed_documents"]:
        parts.append('<p class="note">No frames: the records carry no frame_labels.</p>')
    return "".join(parts)


def _chip(label: str, colours: dict[str, str]) -> str:
    return f'<mark style="{html.swatch(colours.get(label, "#ccc"))}">{escape(label)}</mark>'


def _bars(labels: list[str], values: list[float], xlabel: str, colours=None) -> str:
    plt = html.pyplot()
    labels, values = labels[:20], values[:20]
    fig, ax = plt.subplots(figsize=(4.4, 0.27 * len(labels) + 0.9))
    ax.barh(range(len(labels)), values, color=colours[:20] if colours else "#4363d8")
    ax.set_yticks(range(len(labels)), [lab[:34] for lab in labels], fontsize=8)
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(_percent_formatter())
    ax.set_xlabel(xlabel, fontsize=9)
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(axis="x", alpha=0.3)
    return html.figure_img(fig, xlabel)


def _percent_formatter():
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(1.0, decimals=0)


def _outlet_section(o: dict[str, Any], s: dict[str, Any]) -> str:
    head = '<h2 id="outlets">By outlet</h2>'
    if not o["available"]:
        return head + f'<p class="note">Left out: {escape(o["why"])}.</p>'
    fields = ", ".join(f"{k} ({v:,})" for k, v in o["fields"].items())
    rows = o["rows"]
    shown = rows[:25]
    parts = [
        head,
        f"<p>{o['count']:,} outlets over {o['documents']:,} documents; outlet read from meta "
        f"field {escape(fields)}. The {len(shown)} with most documents:</p>",
        html.table(
            ["outlet", "documents", "propaganda share", "top techniques (share of its documents)"],
            [
                [
                    r["outlet"],
                    f"{r['documents']:,}",
                    Raw(_pct(r["propaganda_share"])),
                    ", ".join(f"{t} {100 * v:.0f}%" for t, v in list(r["techniques"].items())[:3]),
                ]
                for r in shown
            ],
            text_columns=(3,),
        ),
    ]
    plots = []
    top = rows[:15]
    if any(r["propaganda_share"] is not None for r in top):
        plots.append(
            _bars(
                [r["outlet"] for r in top],
                [r["propaganda_share"] or 0 for r in top],
                f"share of documents scored ≥ {s['threshold']:g} (propaganda)",
                ["#e6194b"] * len(top),
            )
        )
    techniques = [t["label"] for t in s["techniques"]][:10]
    if techniques:
        plots.append(_heatmap(top, techniques))
    if plots:
        parts.append('<div class="figures">' + "".join(plots) + "</div>")
    return "".join(parts)


def _heatmap(rows: list[dict], techniques: list[str]) -> str:
    import numpy as np

    plt = html.pyplot()
    matrix = np.array([[r["techniques"].get(t) or 0.0 for t in techniques] for r in rows])
    fig, ax = plt.subplots(figsize=(0.55 * len(techniques) + 2.5, 0.32 * len(rows) + 2.2))
    im = ax.imshow(matrix, cmap="Blues", vmin=0, aspect="auto")
    ax.set_xticks(range(len(techniques)), [t[:22] for t in techniques], rotation=60, ha="right",
                  fontsize=7)  # fmt: skip
    ax.set_yticks(range(len(rows)), [r["outlet"][:28] for r in rows], fontsize=8)
    ax.set_title("share of each outlet's documents with the technique", fontsize=9)
    fig.colorbar(im, ax=ax, format=_percent_formatter(), shrink=0.8)
    return html.figure_img(fig, "techniques per outlet")


def _time_section(t: dict[str, Any]) -> str:
    head = '<h2 id="time">Over time</h2>'
    if not t["available"]:
        return head + f'<p class="note">Left out: {escape(t["why"])}.</p>'
    periods = t["periods"]
    fields = ", ".join(f"{k} ({v:,})" for k, v in t["fields"].items())
    note = (
        f"<p>{t['documents']:,} dated documents from {t['first_date']} to {t['last_date']}, "
        f"per {t['unit']}{' (weeks start on Monday)' if t['unit'] == 'week' else ''}; "
        f"date read from meta field {escape(fields)}."
    )
    if t["unreadable_dates"]:
        note += f" {_plural(t['unreadable_dates'], 'date')} not ISO, left out."
    parts = [head, note + "</p>"]
    plt = html.pyplot()
    labels = [p["period"] for p in periods]
    x = list(range(len(labels)))
    step = max(1, len(labels) // 12)

    def axis(ax):
        ax.set_xticks(x[::step], labels[::step], rotation=45, ha="right", fontsize=7)
        ax.tick_params(axis="y", labelsize=8)
        ax.grid(alpha=0.3)

    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar(x, [p["documents"] for p in periods], color="#bbb", label="documents")
    ax.set_ylabel("documents", fontsize=8)
    axis(ax)
    if any(p["propaganda_share"] is not None for p in periods):
        ax2 = ax.twinx()
        ax2.plot(x, [p["propaganda_share"] for p in periods], color="#e6194b", marker=".")
        ax2.set_ylabel("propaganda share", fontsize=8, color="#e6194b")
        ax2.yaxis.set_major_formatter(_percent_formatter())
        ax2.set_ylim(0, 1)
        ax2.tick_params(labelsize=8)
    ax.set_title(f"documents and propaganda share per {t['unit']}", fontsize=9)
    plots = [html.figure_img(fig, f"documents per {t['unit']}")]
    for key, what in (("techniques", "technique"), ("frames", "frame")):
        totals: Counter[str] = Counter()
        for p in periods:
            totals.update({k: v or 0.0 for k, v in p[key].items()})
        top = [k for k, _ in totals.most_common(6)]
        if not top:
            continue
        fig, ax = plt.subplots(figsize=(6, 3))
        for label in top:
            ax.plot(x, [p[key].get(label) or 0.0 for p in periods], marker=".", label=label[:30])
        ax.yaxis.set_major_formatter(_percent_formatter())
        axis(ax)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
        ax.set_title(f"share of documents with each {what}, per {t['unit']}", fontsize=9)
        plots.append(html.figure_img(fig, f"{key} per {t['unit']}"))
    parts.append('<div class="figures">' + "".join(plots) + "</div>")
    return "".join(parts)


def _members(group: dict[str, Any], visible: int = 4) -> str:
    """The group's documents: the first few, the rest behind a <details> toggle."""
    items = []
    for m in group["members"]:
        bits = [f"<code>{escape(m['id'])}</code>"]
        if m["outlet"]:
            bits.append(escape(m["outlet"]))
        if m["date"]:
            bits.append(escape(m["date"]))
        if not m["read"]:
            bits.append("(no record read)")
        items.append('<span class="nowrap">' + " · ".join(bits) + "</span>")
    more = group["documents"] - len(group["members"])
    tail = f"<br>and {more:,} more" if more > 0 else ""
    if len(items) <= visible + 1:
        return "<br>".join(items) + tail
    hidden = len(items) - visible + max(more, 0)
    return (
        "<br>".join(items[:visible])
        + f"<details><summary>{hidden:,} more</summary>"
        + "<br>".join(items[visible:])
        + tail
        + "</details>"
    )


def _group_table(groups: list[dict[str, Any]], table_id: str) -> str:
    rows = []
    for k, g in enumerate(groups, 1):
        passage = g["passage"] or "(text not in these records)"
        clipped = passage if len(passage) < 300 else passage[:299] + "…"
        outlets = ", ".join(g["outlet_names"][:6])
        if len(g["outlet_names"]) > 6:
            outlets += f", +{len(g['outlet_names']) - 6}"
        if g["unknown_outlet_documents"]:
            outlets += f" ({g['unknown_outlet_documents']:,} documents of unknown outlet)"
        rows.append(
            "<tr>"
            f"<td>{k}</td>"
            f'<td class="text passage">{escape(clipped)}</td>'
            f"<td>{g['documents']:,}</td>"
            f'<td class="text">{g["outlets"]:,}<br><span class="note">{escape(outlets)}</span></td>'
            f'<td class="date">{html.fmt(g["first_date"])}</td>'
            f'<td class="date">{html.fmt(g["last_date"])}</td>'
            f'<td class="text note members">{_members(g)}</td>'
            "</tr>"
        )
    head = "".join(
        f'<th class="text">{h}</th>' if i in (1, 3, 6) else f"<th>{h}</th>"
        for i, h in enumerate(
            [
                "#",
                "passage",
                "documents",
                "outlets",
                "first",
                "last",
                "documents (id · outlet · date)",
            ]
        )
    )
    return (
        f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody>'
        "</table>"
    )


def _passage_section(p: dict[str, Any], s: dict[str, Any]) -> str:
    parts = [
        '<h2 id="passages">Coordinated passages</h2>',
        "<p>The same passage printed by several documents: cross-document repeats "
        "(<code>source: repeats</code> spans whose <code>of</code> points to another document) "
        "joined into groups. Ranked by distinct outlets, then documents.</p>",
    ]
    if not p["groups"] and not p["single_outlet_groups"]:
        parts.append('<p class="note">No passage is repeated across documents in these records.')
        if p["within_document_spans"]:
            parts.append(f" ({p['within_document_spans']:,} repeats stay within one document.)")
        parts.append("</p>")
        return "".join(parts)
    parts.append(
        f"<p><b>{p['groups']:,}</b> groups over {p['documents']:,} documents"
        + (" (outlets unknown: records without meta)" if not s["outlets"]["available"] else "")
        + f"; shown: {len(p['crossing'])}.</p>"
    )
    if p["crossing"]:
        parts.append(_group_table(p["crossing"], "groups"))
    parts.append(
        "<h3>Repeated inside one outlet</h3><p>Groups whose documents all come from the same "
        "outlet: footers, disclaimers, house boilerplate. "
        f"{p['single_outlet_groups']:,} groups over {p['single_outlet_documents']:,} documents; "
        f"shown: {len(p['single_outlet'])}.</p>"
    )
    if p["single_outlet"]:
        parts.append(_group_table(p["single_outlet"], "boilerplate"))
    return "".join(parts)


def _documents_section(s: dict[str, Any], colours: dict[str, str]) -> str:
    docs = s["top_documents"]
    head = '<h2 id="documents">The most propagandistic documents</h2>'
    if not docs:
        return head + (
            '<p class="note">Left out: the records carry no propaganda score and no model spans '
            "(scored without --model).</p>"
        )
    ranked_by = "document score" if s["scored"] else "number of model spans (no document scores)"
    with_text = any("context" in d for d in docs)
    parts = [
        head,
        f"<p>The {len(docs)} with the highest {ranked_by}, with their model spans"
        + (
            " and repeated passages (Repetition) in the article's text."
            if with_text
            else ". A score record does not carry the article's text, so each span is shown "
            "on its own; <code>annotate report ... --text INPUT...</code> shows them in the "
            "article. The small figure after a span is its score."
        )
        + "</p>",
        html.legend([t["label"] for t in s["techniques"]], colours),
    ]
    for k, d in enumerate(docs, 1):
        bits = [f"<code>{escape(d['id'])}</code>"]
        if d["propaganda"] is not None:
            bits.append(f"score {d['propaganda']:.3f}")
        if d["outlet"]:
            bits.append(escape(d["outlet"]))
        if d["date"]:
            bits.append(escape(d["date"]))
        parts.append(f"<h3>{k}. " + " · ".join(bits) + "</h3>")
        if d["title"]:
            parts.append(f"<p><b>{escape(d['title'])}</b></p>")
        facts = [_plural(d["model_spans"], "model span")]
        if d["repeat_spans"]:
            facts.append(_plural(d["repeat_spans"], "repeated passage"))
        if d["frame_labels"]:
            facts.append("frames: " + ", ".join(map(str, d["frame_labels"])))
        if d["url"]:
            facts.append(f"url: {d['url']}")  # as text: the report links nowhere
        parts.append(f'<p class="note">{escape("; ".join(facts))}</p>')
        if "context" in d:
            ctx = d["context"]
            a, text = ctx["start"], ctx["text"]
            spans = [(x["start"] - a, x["end"] - a, x["label"]) for x in d["spans"]]
            note = ""
            if a or a + len(text) < d.get("length", 0):
                note = f'<p class="note">Characters {a:,}–{a + len(text):,} of {d["length"]:,}.</p>'
            parts.append(note + f'<div class="doc">{html.highlight(text, spans, colours)}</div>')
        elif d["spans"]:
            model = [x for x in d["spans"] if x.get("source") != REPEATS_SOURCE]
            marks = [
                html.highlight(x["text"], [(0, len(x["text"]), x["label"])], colours)
                + (f"<sub>{x['score']:.2f}</sub>" if isinstance(x["score"], float) else "")
                for x in model[:SHOWN_SPANS]
            ]
            rest = d["model_spans"] - min(len(model), SHOWN_SPANS)
            if rest > 0:
                marks.append(f"and {rest:,} more (the highest-scored {len(model)} in --json)")
            parts.append('<p class="spans">' + " &hellip; ".join(marks) + "</p>")
    return "".join(parts)


# ---- around the edges ---------------------------------------------------------------------


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
    bits = [_plural(summary["documents"], "document")]
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
