"""HTML reports: self-contained, plots inline, and every piece of document text escaped."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser

import pytest
from test_evaluate import StandIn, frame, gold, write

from annotate import corpus
from annotate.agreement import agreement
from annotate.evaluate import evaluate, evaluate_model
from annotate.report import agreement_html, evaluation_html, highlight, label_colours

HOSTILE = (
    "Breaking: <script>alert(1)</script> the brutal regime said "
    '<img src=x onerror=alert(1)> and "quotes" & terrorists </div></mark> evil.'
)


class Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    return tags


@pytest.fixture
def hostile_corpus(tmp_path):
    s = HOSTILE.index("brutal")
    t = HOSTILE.index("terrorists")
    e = HOSTILE.index("<img")
    rows = [
        corpus.row(
            "<b onmouseover=alert(2)>x</b>",
            HOSTILE,
            annotated=["technique", "frame"],
            spans=[
                gold(HOSTILE, s, s + 6, "Loaded_Language"),
                gold(HOSTILE, t, t + 10, "Name_Calling,Labeling"),
                gold(HOSTILE, e, e + 30, "Doubt"),
                gold(HOSTILE, s, t + 10, "Exaggeration,Minimisation"),
            ],
            doc_labels=[frame("Political")],
        ),
        corpus.row(
            "plain",
            "The vote and the money, brutal.",
            annotated=["technique", "frame"],
            doc_labels=[frame("Economic")],
        ),
        corpus.row("f3", "money vote", annotated=["frame"], doc_labels=[frame("Economic")]),
    ]
    return write(tmp_path, "hostile", rows)


def test_report_escapes_document_text(hostile_corpus, tmp_path):
    out = tmp_path / "report.html"
    evaluate(StandIn(), hostile_corpus, report=out)
    html = out.read_text(encoding="utf-8")
    assert "<script" not in html.lower()
    assert not re.search(r"<[^>]*\bon\w+\s*=", html, re.I)  # no event-handler attribute
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;b onmouseover=alert(2)&gt;x&lt;/b&gt;" in html
    tags = parse(html)
    allowed = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "code",
               "table", "thead", "tbody", "tr", "th", "td", "div", "b", "span", "mark", "img"}  # fmt: skip
    assert {t for t, _ in tags.tags} <= allowed
    for tag, attrs in tags.tags:
        assert not any(a.startswith("on") for a in attrs), (tag, attrs)
        if tag == "img":
            assert attrs["src"].startswith("data:image/png;base64,")
    # the document, as the reader sees it, is the original text (in both columns)
    assert "".join(tags.text).count(HOSTILE) == 2


def test_report_has_plots_tables_and_highlights(hostile_corpus):
    result = evaluate_model(StandIn(), hostile_corpus)
    html = evaluation_html(result)
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == 3  # span PR curve, TC confusion matrix, frame PR curves
    for data in images:
        assert base64.b64decode(data).startswith(b"\x89PNG")
    assert "http://" not in html and "https://" not in html  # self-contained
    assert "Spans per label" in html and "Frames per label" in html
    assert "spans: FLC (labelled, same technique)" in html
    colours = label_colours()
    assert colours["Loaded_Language"] == "#e6194b"  # from label_config.xml
    assert 'style="background:#e6194b;color:#fff" title="Loaded_Language"' in html
    assert 'class="multi"' in html  # overlapping gold spans
    assert "stand-in-1" in html


def test_highlight_segments():
    text = "ab<cd>ef"
    html = highlight(text, [(1, 5, "X"), (3, 7, "Y")], {"X": "#111", "Y": "#eeeeee"})
    assert html == (
        'a<mark style="background:#111;color:#fff" title="X">b&lt;</mark>'
        '<mark class="multi" style="background:#111;color:#fff" title="X, Y">cd</mark>'
        '<mark style="background:#eeeeee;color:#000" title="Y">&gt;e</mark>f'
    )
    assert highlight(text, [], {}) == "ab&lt;cd&gt;ef"


def test_agreement_report_escapes_names(tmp_path):
    text = "They are brutal terrorists."
    rows = [
        corpus.row(
            "d",
            text,
            annotated=["technique", "frame"],
            annotators=["<script>x</script>", "b"],
            spans=[gold(text, 9, 15, "Loaded_Language", "<script>x</script>"),
                   gold(text, 9, 26, "Loaded_Language", "b")],
            doc_labels=[frame("Political", "b")],
        )
    ]  # fmt: skip
    result = agreement(write(tmp_path, "agree", rows))
    html = agreement_html(result)
    assert "<script" not in html.lower()
    assert "&lt;script&gt;x&lt;/script&gt; / b" in html
    assert "Krippendorff" in html
