"""The pieces every HTML report is built from: page shell and CSS, escaping, tables, inline plots.

Reports are single self-contained files: plots become inline base64 PNGs (matplotlib, Agg
backend), nothing is fetched from the network. Every piece of document text, label, id or
name goes through `escape` before it reaches a page, so a document holding `<script>` stays
text. Span colours come from the `background` attributes of `label_config.xml`.

Used by `annotate.report` (evaluation, agreement), `annotate.audit` and `annotate.collection`.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html as _html
import io
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from annotate.atomic import atomic_path
from annotate.schema import SPAN_CONTROL, Schema, load_schema

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222;
       padding: 0 1em; }
h1, h2, h3 { font-weight: 600; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 10px; text-align: right;
         vertical-align: top; }
th:first-child, td:first-child { text-align: left; }
td.text, th.text { text-align: left; }
.side { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
.doc { white-space: pre-wrap; border: 1px solid #ccc; padding: 0.6em; font-size: 13px;
       line-height: 1.6; max-height: 30em; overflow-y: auto; }
mark { border-radius: 2px; padding: 0 1px; color: #000; }
mark.multi { outline: 2px dotted #000; }
.legend span { display: inline-block; margin: 2px 8px 2px 0; padding: 1px 6px; font-size: 12px; }
.note { color: #555; font-size: 13px; }
.passage { font-size: 13px; max-width: 38em; }
td.date, .nowrap { white-space: nowrap; }
td.members { min-width: 18em; }
.spans { font-size: 13px; line-height: 1.9; }
details summary { cursor: pointer; color: #335; }
.figures { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
img { max-width: 100%; }
"""


def escape(value: Any) -> str:
    """`value` as text safe inside HTML elements and quoted attributes."""
    return _html.escape(str(value), quote=True)


def fmt(value: Any) -> str:
    """A table cell: a dash for None, three decimals for floats, anything else escaped."""
    if value is None:
        return "&ndash;"
    if isinstance(value, float):
        return f"{value:.3f}"
    return escape(value)


class Raw(str):
    """Markup already built from escaped pieces; `table` puts it into a cell as it is."""


def table(
    header: Sequence[str], rows: Sequence[Sequence[Any]], *, text_columns: Sequence[int] = ()
) -> str:
    """An HTML table; cells are escaped (`fmt`) unless they are `Raw`.

    `text_columns`: indices of columns holding prose, aligned left instead of right.
    """

    def cell(tag: str, i: int, content: str) -> str:
        cls = ' class="text"' if i in text_columns and i else ""
        return f"<{tag}{cls}>{content}</{tag}>"

    head = "".join(cell("th", i, escape(h)) for i, h in enumerate(header))
    body = "".join(
        "<tr>"
        + "".join(cell("td", i, c if isinstance(c, Raw) else fmt(c)) for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def page(title: str, body: str) -> str:
    """A whole HTML document: the shared CSS, `title` as heading, a written-at note, `body`."""
    stamp = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f'<h1>{escape(title)}</h1><p class="note">Written {stamp} by annotate.</p>'
        f"{body}</body></html>\n"
    )


def write_page(path: str | Path, html: str) -> None:
    """Write `html` to `path`; the file appears only when complete."""
    with atomic_path(path) as tmp:
        tmp.write_text(html, encoding="utf-8")


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def figure_img(fig, alt: str = "plot") -> str:
    """A matplotlib figure as an inline PNG `<img>`; the figure is closed."""
    plt = pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{data}">'


# ---- spans ------------------------------------------------------------------------------


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


def ink(background: str) -> str:
    """Black or white text, whichever reads better on `background` (#rgb or #rrggbb)."""
    h = background.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    try:
        r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    except ValueError:
        return "#000"
    return "#000" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "#fff"


def swatch(colour: str) -> str:
    """The inline style of a label's mark: its colour and a readable ink."""
    return f"background:{escape(colour)};color:{ink(colour)}"


def legend(labels: Sequence[str], colours: dict[str, str]) -> str:
    """One coloured chip per label, and how overlaps are drawn."""
    items = "".join(
        f'<span style="{swatch(colours.get(t, "#ccc"))}">{escape(t)}</span>' for t in labels
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
        style = swatch(colours.get(labels[0], "#ccc"))
        cls = ' class="multi"' if len(labels) > 1 else ""
        title = escape(", ".join(labels))
        out.append(f'<mark{cls} style="{style}" title="{title}">{piece}</mark>')
    return "".join(out)
