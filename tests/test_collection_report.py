"""`annotate report`: the collection summary, coordinated passages, and a page that stays inert.

Records come from the real scorer (`score_records`: the real repeated-passage detector, a
small word-list model for the propaganda fields) over real PTC articles with planted passages.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from annotate.collection import attach_texts, outlet_of, render_html, summarize
from annotate.documents import Document, read_text_file
from annotate.errors import BadInput
from annotate.scores import iter_score_records
from annotate.scoring import score_records

ROOT = Path(__file__).resolve().parent.parent
PTC = ROOT.parent / "shared" / "data" / "ptc" / "train-articles"
ANNOTATE = [sys.executable, "-m", "annotate"]

pytestmark = pytest.mark.skipif(not PTC.is_dir(), reason="../shared/data/ptc not present")

PASSAGE = (
    "The minister said that the shameless traitors in parliament will never be allowed "
    "to destroy our great and beloved nation again, whatever the foreign press may claim."
)
FOOTER = (
    "Copyright Daily Example News. All rights reserved. This material may not be published, "
    "broadcast, rewritten or redistributed without written permission."
)
HOSTILE = '<script>window.pwned = 1</script> <img src=x onerror="window.pwned=2"> brutal'
PLANTED = {1: "wire.example", 4: "herald.example", 6: "daily.example", 9: "wire.example",
           13: "herald.example"}  # fmt: skip
OUTLETS = ["daily.example", "wire.example", "herald.example", "post.example"]
WORDS = {"shameless": "Loaded_Language", "traitors": "Name_Calling,Labeling",
         "brutal": "Loaded_Language", "terrorists": "Name_Calling,Labeling",
         "never": "Exaggeration,Minimisation"}  # fmt: skip


class WordListModel:
    """The Model.predict interface: marks a few loaded words; score grows with their count."""

    model_version = "word-list-1"

    def predict(self, texts):
        out = []
        for t in texts:
            spans = [
                {"start": m.start(), "end": m.end(), "text": m.group(), "label": WORDS[w],
                 "score": 0.8, "source": "model"}
                for m in re.finditer(r"\w+", t)
                if (w := m.group().lower()) in WORDS
            ]  # fmt: skip
            frames = {"Political": 0.9 if "minister" in t else 0.2, "Economic": 0.3}
            out.append(
                {
                    "propaganda": min(1.0, 0.15 * len(spans)),
                    "frames": frames,
                    "frame_labels": [f for f, p in frames.items() if p >= 0.5],
                    "spans": spans,
                }
            )
        return out


def collection_docs() -> list[Document]:
    """20 PTC articles (first 1,500 characters), four outlets, dates over nine months.

    The passage is planted in five documents from three outlets; daily.example prints its
    footer under every article (one of them, doc6, also carries the passage)."""
    docs = []
    for i, path in enumerate(sorted(PTC.glob("article*.txt"))[:20]):
        text = read_text_file(path)[:1500]
        outlet = PLANTED.get(i) or OUTLETS[i % 4]
        if i in PLANTED:
            text += "\n\n" + PASSAGE + "\n"
        if outlet == "daily.example":
            text += "\n" + FOOTER + "\n"
        if i == 3:
            text = HOSTILE + " " + text
        meta = {
            "outlet": outlet,
            "date": f"2024-{1 + 2 * (i % 5):02d}-{10 + i:02d}",
            "title": f"T{i}",
        }
        if i == 3:
            meta["title"] = "<script>alert('title')</script>"
        docs.append(Document(f"doc{i}", text, meta))
    return docs


def scored(docs: list[Document], model=None) -> list[dict]:
    """Score records as `annotate score` writes them (the scorer carries each `meta`)."""
    records = list(score_records(docs, model or WordListModel()))
    assert [r["meta"] for r in records] == [d.meta for d in docs]
    return records


@pytest.fixture(scope="module")
def docs() -> list[Document]:
    return collection_docs()


@pytest.fixture(scope="module")
def records(docs) -> list[dict]:
    return scored(docs)


@pytest.fixture(scope="module")
def summary(records) -> dict:
    return summarize(records)


def test_planted_passage_is_one_group_with_its_outlets_and_dates(summary, docs):
    p = summary["passages"]
    (group,) = [g for g in p["crossing"] if "shameless traitors" in g["passage"]]
    assert group["documents"] == 5
    assert group["outlets"] == 3
    assert group["outlet_names"] == ["daily.example", "herald.example", "wire.example"]
    assert {m["id"] for m in group["members"]} == {f"doc{i}" for i in PLANTED}
    dates = sorted(d.meta["date"] for d in docs if int(d.id[3:]) in PLANTED)
    assert (group["first_date"], group["last_date"]) == (dates[0], dates[-1])
    assert [m["date"] for m in group["members"]] == dates  # members in date order
    assert p["crossing"][0] is group  # ranked first: most outlets


def test_one_outlets_footer_is_listed_apart(summary, docs):
    p = summary["passages"]
    daily = {d.id for d in docs if d.meta["outlet"] == "daily.example"}
    (footer,) = p["single_outlet"]
    assert "All rights reserved" in footer["passage"]
    assert footer["outlet_names"] == ["daily.example"]
    assert {m["id"] for m in footer["members"]} == daily
    assert not any("All rights reserved" in g["passage"] for g in p["crossing"])
    assert "doc6" in daily  # carries both: passage-level groups keep them apart


def test_collection_counts_techniques_frames_and_outlets(summary, records):
    assert summary["documents"] == 20 and summary["scored"] == 20
    positive = sum(r["propaganda"] >= 0.5 for r in records)
    assert summary["propaganda_documents"] == positive
    assert summary["propaganda_share"] == round(positive / 20, 4)
    by_label = {t["label"]: t for t in summary["techniques"]}
    spans = sum(1 for r in records for s in r["spans"] if s["label"] == "Loaded_Language")
    assert by_label["Loaded_Language"]["spans"] == spans
    assert by_label["Repetition"]["documents"] == sum(
        any(s["source"] == "repeats" for s in r["spans"]) for r in records
    )
    assert {f["label"] for f in summary["frames"]} <= {"Political", "Economic"}
    outlets = summary["outlets"]
    assert outlets["available"] and outlets["fields"] == {"outlet": 20}
    assert sum(r["documents"] for r in outlets["rows"]) == 20
    t = summary["time"]
    assert t["available"] and t["unit"] == "month"  # nine months: monthly
    assert [p["period"] for p in t["periods"]] == [f"2024-0{m}" for m in range(1, 10)]
    assert [p["documents"] for p in t["periods"]] == [4, 0, 4, 0, 4, 0, 4, 0, 4]
    top = summary["top_documents"]
    assert [d["propaganda"] for d in top] == sorted((d["propaganda"] for d in top), reverse=True)
    assert top[0]["propaganda"] == max(r["propaganda"] for r in records)


def test_week_bins_for_a_short_range():
    records = [
        {"id": f"d{i}", "spans": [], "meta": {"published": f"2024-03-{1 + i:02d}T10:00:00Z"}}
        for i in range(20)
    ]
    t = summarize(records)["time"]
    assert t["unit"] == "week" and t["fields"] == {"published": 20}
    assert [p["period"] for p in t["periods"]] == ["2024-02-26", "2024-03-04", "2024-03-11",
                                                   "2024-03-18"]  # fmt: skip


def test_outlet_fields_are_picked_sensibly():
    assert outlet_of({"outlet": "A", "source": "B"}) == ("A", "outlet")
    assert outlet_of({"source": "in.jsonl"}) == (None, None)  # the input file, not an outlet
    assert outlet_of({"source": "/data/x.txt", "url": "https://www.rt.com/a/b"}) == (
        "rt.com",
        "url (host)",
    )
    assert outlet_of({"source": "Reuters"}) == ("Reuters", "source")


class Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def test_a_document_holding_script_stays_inert(summary):
    html = render_html(summary)
    assert "<script" not in html.lower()
    assert not re.search(r"<[^>]*\bon\w+\s*=", html, re.I)  # no event-handler attribute
    assert "&lt;script&gt;alert(&#x27;title&#x27;)&lt;/script&gt;" in html  # the title, as text
    tags = Tags()
    tags.feed(html)
    for tag, attrs in tags.tags:
        assert not any(a.startswith("on") for a in attrs), (tag, attrs)
        if tag == "img":
            assert attrs["src"].startswith("data:image/png;base64,")
    assert "http://" not in html and "https://" not in html  # self-contained


def test_texts_show_spans_in_context_and_script_stays_text(summary, docs, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": d.id, "text": d.text}) + "\n" for d in docs))
    s = json.loads(json.dumps(summary))
    assert attach_texts(s, [src]) == len(s["top_documents"])
    hostile = next(d for d in s["top_documents"] if d["id"] == "doc3")
    assert hostile["context"]["text"].startswith("<script>")
    html = render_html(s)
    assert "<script" not in html.lower()
    assert "&lt;script&gt;window.pwned = 1&lt;/script&gt;" in html
    assert 'title="Loaded_Language">brutal</mark>' in html
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text(json.dumps({"id": "doc3", "text": "x" * 2000}) + "\n")
    with pytest.raises(BadInput, match="doc3"):
        attach_texts(json.loads(json.dumps(summary)), [wrong])


def test_records_without_meta_still_give_a_report(docs):
    bare = [Document(d.id, d.text) for d in docs]
    records = list(score_records(bare))  # no model, no meta: repeats only
    assert not any("meta" in r for r in records)
    s = summarize(records)
    assert s["scored"] == 0 and s["propaganda_share"] is None
    assert not s["outlets"]["available"] and "outlet" in s["outlets"]["why"]
    assert not s["time"]["available"] and "date" in s["time"]["why"]
    (group,) = [g for g in s["passages"]["crossing"] if "shameless" in g["passage"]]
    assert group["documents"] == 5 and group["unknown_outlet_documents"] == 5
    html = render_html(s)
    assert "Left out: no record&#x27;s meta names an outlet" in html
    assert "Left out: no record&#x27;s meta holds a readable date" in html
    assert "scored without --model" in html


def write_formats(records: list[dict], d: Path) -> dict[str, Path]:
    """The records in the three formats of `annotate score --out` (nested fields as JSON)."""
    d.mkdir(parents=True, exist_ok=True)
    jsonl = d / "s.jsonl"
    jsonl.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    nested = ("frames", "frame_labels", "spans", "meta")
    rows = [{k: json.dumps(v) if k in nested else v for k, v in r.items()} for r in records]
    pd.DataFrame(rows).to_parquet(d / "s.parquet")
    pd.DataFrame(rows).to_csv(d / "s.csv", index=False)
    return {"jsonl": jsonl, "parquet": d / "s.parquet", "csv": d / "s.csv"}


def test_meta_round_trips_through_jsonl_parquet_and_csv(records, summary, tmp_path):
    files = write_formats(records, tmp_path)
    for kind, path in files.items():
        back = list(iter_score_records([path]))
        assert back == records, kind
        assert summarize(back)["passages"] == summary["passages"], kind
    bare = [{k: v for k, v in r.items() if k != "meta"} for r in records]
    for kind, path in write_formats(bare, tmp_path / "bare").items():
        assert list(iter_score_records([path])) == bare, kind


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*ANNOTATE, *args], capture_output=True, text=True, cwd=cwd or ROOT,
                          timeout=300)  # fmt: skip


def test_cli_writes_the_page_and_the_summary(records, tmp_path):
    files = write_formats(records, tmp_path)
    out, js = tmp_path / "r.html", tmp_path / "r.json"
    proc = run("report", str(files["parquet"]), "--out", str(out), "--json", str(js))
    assert proc.returncode == 0, proc.stderr
    assert "20 documents" in proc.stderr
    summary = json.loads(js.read_text())
    assert summary["passages"]["groups"] >= 1
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and 'id="groups"' in html
    assert len(re.findall(r'src="data:image/png;base64,', html)) >= 5


def test_bad_input_exits_2_naming_file_and_line(records, tmp_path):
    bad = tmp_path / "bad.jsonl"
    lines = [json.dumps(r) for r in records[:3]]
    lines.insert(2, '{"id": "broken", "spans": [')
    bad.write_text("\n".join(lines) + "\n")
    out = tmp_path / "r.html"
    proc = run("report", str(bad), "--out", str(out))
    assert proc.returncode == 2
    assert f"{bad}, line 3: malformed JSON" in proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists()
    dup = tmp_path / "dup.jsonl"
    dup.write_text(json.dumps(records[0]) + "\n" + json.dumps(records[0]) + "\n")
    proc = run("report", str(dup), "--out", str(out))
    assert proc.returncode == 2 and f"{dup}, line 2: duplicate document id 'doc0'" in proc.stderr
    csv = tmp_path / "bad.csv"
    csv.write_text('id,spans\nd1,"[{""start"": 1}]"\n')
    proc = run("report", str(csv), "--out", str(out))
    assert proc.returncode == 2 and f"{csv}, line 2: span 1 needs" in proc.stderr
    docs_file = tmp_path / "docs.jsonl"
    docs_file.write_text(json.dumps({"id": "a", "text": "not scored"}) + "\n")
    proc = run("report", str(docs_file), "--out", str(out))
    assert proc.returncode == 2 and f"{docs_file}, line 1: not a score record" in proc.stderr
    proc = run("report", str(tmp_path / "missing.jsonl"), "--out", str(out))
    assert proc.returncode == 2 and "no such file" in proc.stderr


@pytest.mark.browser
def test_browser_shows_the_plots_and_the_group_table(summary, docs, tmp_path):
    import browser_helpers as bh

    missing = bh.chromium_missing_reason()
    if missing:
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": d.id, "text": d.text}) + "\n" for d in docs))
    s = json.loads(json.dumps(summary))
    attach_texts(s, [src])  # doc3's text, <script> and onerror included, is on the page
    page_file = tmp_path / "report.html"
    page_file.write_text(render_html(s), encoding="utf-8")
    with sync_playwright() as p:
        browser = bh.launch(p)
        page = browser.new_page(viewport=bh.VIEWPORT)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: errors.append(r.url) if not r.url.startswith(("file:", "data:")) else None)  # fmt: skip
        page.goto(page_file.as_uri())
        page.wait_for_load_state("load")
        widths = page.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
        assert len(widths) >= 7 and all(w > 100 for w in widths)  # every plot decoded
        rows = page.locator("#groups tbody tr")
        assert rows.count() == 1
        first = rows.first.inner_text()
        assert "shameless traitors" in first and "herald.example" in first
        assert page.locator("#boilerplate tbody tr").count() == 1
        assert "All rights reserved" in page.locator("#boilerplate").inner_text()
        assert page.evaluate("window.pwned") is None  # the document's script never ran
        assert "<script>window.pwned = 1</script>" in page.inner_text("body")  # shown as text
        assert errors == []
        browser.close()


def rep(start: int, end: int, of_id: str, of_start: int, of_end: int, text: str = "p") -> dict:
    return {"start": start, "end": end, "text": text, "label": "Repetition", "score": 1.0,
            "source": "repeats", "of": {"id": of_id, "start": of_start, "end": of_end}}  # fmt: skip


def test_links_join_overlapping_occurrences_and_documents_never_read():
    # near-copies: the offsets an `of` names overlap the other document's span without
    # matching it; "gone" was scored in another run (no record here)
    records = [
        {"id": "a", "spans": [rep(10, 50, "b", 5, 45, "the passage as a printed it")]},
        {"id": "b", "spans": [rep(0, 40, "a", 12, 48), rep(100, 130, "gone", 0, 30)]},
        {"id": "c", "spans": [rep(7, 30, "gone", 2, 20), rep(200, 240, "c", 0, 40)]},
    ]
    p = summarize(records)["passages"]
    assert p["groups"] == 2 and p["within_document_spans"] == 1
    larger, pair = p["crossing"]  # no outlets known: ranked by documents
    assert {m["id"]: m["read"] for m in larger["members"]} == {"b": True, "c": True, "gone": False}
    assert {m["id"] for m in pair["members"]} == {"a", "b"}
    assert pair["passage"] == "the passage as a printed it"


def test_stdin_and_folders(records, tmp_path):
    files = write_formats(records, tmp_path / "scores")
    (tmp_path / "scores" / "s.csv").unlink()
    (tmp_path / "scores" / "s.parquet").rename(tmp_path / "scores" / "other.parquet")
    ids = {r["id"] for r in records}
    renamed = [{**r, "id": "x" + r["id"]} for r in records]
    (tmp_path / "scores" / "s.jsonl").write_text("".join(json.dumps(r) + "\n" for r in renamed))
    back = list(iter_score_records([tmp_path / "scores"]))
    assert {r["id"] for r in back} == ids | {"x" + i for i in ids}
    out = tmp_path / "r.html"
    proc = subprocess.run([*ANNOTATE, "report", "-", "--out", str(out)], cwd=ROOT, text=True,
                          input=files["jsonl"].read_text(), capture_output=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "shameless traitors" in out.read_text(encoding="utf-8")


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet", ".csv"])
def test_score_then_report_end_to_end(docs, tmp_path, suffix):
    """`annotate score` on JSON Lines with outlet and date fields, then `annotate report`."""
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": d.id, "text": d.text, **d.meta}) + "\n" for d in docs))
    scores = tmp_path / f"scores{suffix}"
    proc = run("score", str(src), "--out", str(scores))
    assert proc.returncode == 0, proc.stderr
    back = list(iter_score_records([scores]))
    assert [r["meta"] for r in back] == [d.meta for d in docs]  # meta round-trips through score
    out, js = tmp_path / "r.html", tmp_path / "r.json"
    proc = run("report", str(scores), "--out", str(out), "--json", str(js), "--text", str(src))
    assert proc.returncode == 0, proc.stderr
    s = json.loads(js.read_text())
    assert s["outlets"]["available"] and s["outlets"]["fields"] == {"outlet": 20}
    assert s["time"]["available"] and s["time"]["fields"] == {"date": 20}
    (group,) = [g for g in s["passages"]["crossing"] if "shameless traitors" in g["passage"]]
    assert group["documents"] == 5
    assert group["outlet_names"] == ["daily.example", "herald.example", "wire.example"]
    (footer,) = s["passages"]["single_outlet"]
    assert (
        footer["outlet_names"] == ["daily.example"] and "All rights reserved" in footer["passage"]
    )
    html = out.read_text(encoding="utf-8")
    assert "<script" not in html.lower() and 'id="groups"' in html
