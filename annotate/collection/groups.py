"""Coordinated passages: cross-document repeats joined into groups by a union-find.

Why passages and not whole documents as union-find nodes: an outlet's footer joins all of its
articles; if documents were the nodes, one wire story that any of them also carried would
merge with the footer's group and every group touching that outlet would become one. A node
is a document's run of overlapping repeat spans, so a document can belong to several groups.
"""

from __future__ import annotations

import datetime as _dt
from array import array
from collections import Counter
from typing import Any

from annotate.collection.meta import iso_date

SHOWN_GROUPS = 50
SHOWN_MEMBERS = 30
PASSAGE_CHARS = 600
REPEATS_SOURCE = "repeats"


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
            "first_date": iso_date(days[0]) if days else None,
            "last_date": iso_date(days[-1]) if days else None,
            "members": [
                {
                    "id": self.doc_ids[d],
                    "outlet": self.outlets[self.doc_outlet[d]] if self.doc_outlet[d] >= 0 else None,
                    "date": iso_date(self.doc_day[d]) if self.doc_day[d] else None,
                    "read": bool(self.doc_seen[d]),
                }
                for d in ordered[:members]
            ],
        }
