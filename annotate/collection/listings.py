"""The collection page's two listings: coordinated-passage groups and the top documents."""

from __future__ import annotations

from typing import Any

from annotate import html
from annotate.collection.groups import REPEATS_SOURCE
from annotate.collection.summary import plural
from annotate.html import escape

SHOWN_SPANS = 30  # per document on the page without its text


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


def passage_section(p: dict[str, Any], s: dict[str, Any]) -> str:
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


def documents_section(s: dict[str, Any], colours: dict[str, str]) -> str:
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
        facts = [plural(d["model_spans"], "model span")]
        if d["repeat_spans"]:
            facts.append(plural(d["repeat_spans"], "repeated passage"))
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
