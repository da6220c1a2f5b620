"""The collection summary as one self-contained HTML page: headline, techniques, outlets, time.

The passage groups and the top documents are `annotate.collection.listings`; plots are inline
PNGs and every text is escaped (`annotate.html`).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from annotate import html
from annotate.collection.listings import documents_section, passage_section
from annotate.collection.summary import plural
from annotate.html import Raw, escape


def render_html(summary: dict[str, Any], *, title: str = "Collection report") -> str:
    """The summary as one self-contained HTML page (plots inline, every text escaped)."""
    colours = html.label_colours()
    parts = [
        _at_a_glance(summary),
        _collection_section(summary, colours),
        _outlet_section(summary["outlets"], summary),
        _time_section(summary["time"]),
        passage_section(summary["passages"], summary),
        documents_section(summary, colours),
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
        note += f" {plural(t['unreadable_dates'], 'date')} not ISO, left out."
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
