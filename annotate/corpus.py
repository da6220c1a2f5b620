"""The Corpus (CONTRACTS.md section 4): a typed `datasets` dataset plus `corpus.json`.

One row per document: `id`, `text`, `meta` (JSON text), `annotated` (controls annotated),
`annotators` (who submitted an annotation; an extension of the contract, empty for
imported gold), `spans` and `doc_labels`, each entry naming its annotator.

This module is the only one that reads or writes a corpus. `merge()` applies the
annotator merge policy used by train, evaluate and audit:

- `majority` (default): a character keeps a span label when more than half of the
  document's annotators gave it that label; a frame is kept when more than half chose
  it. With one annotator (or `gold`) this is that annotator's labels.
- `union`: every label any annotator gave.
- `annotator:NAME`: only NAME's labels (documents NAME did not annotate are dropped).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annotate.atomic import atomic_path
from annotate.errors import BadInput
from annotate.schema import Schema, load_schema

SCHEMA_VERSION = 1
NO_LINK = -1
GOLD = "gold"


def features():
    from datasets import Features, Value

    span = {
        "start": Value("int64"),
        "end": Value("int64"),
        "label": Value("string"),
        "text": Value("string"),
        "annotator": Value("string"),
        "of_start": Value("int64"),
        "of_end": Value("int64"),
    }
    doc_label = {"control": Value("string"), "label": Value("string"), "annotator": Value("string")}
    return Features(
        {
            "id": Value("string"),
            "text": Value("string"),
            "meta": Value("string"),
            "annotated": [Value("string")],
            "annotators": [Value("string")],
            "spans": [span],
            "doc_labels": [doc_label],
        }
    )


def span(
    text: str,
    start: int,
    end: int,
    label: str,
    annotator: str = GOLD,
    of: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """A span entry, its `text` cut from the document."""
    of_start, of_end = of if of else (NO_LINK, NO_LINK)
    return {
        "start": int(start),
        "end": int(end),
        "label": label,
        "text": text[start:end],
        "annotator": annotator,
        "of_start": int(of_start),
        "of_end": int(of_end),
    }


def row(
    doc_id: str,
    text: str,
    meta: dict | None = None,
    *,
    annotated: Iterable[str] = (),
    annotators: Iterable[str] = (),
    spans: Iterable[dict] = (),
    doc_labels: Iterable[dict] = (),
) -> dict[str, Any]:
    return {
        "id": str(doc_id),
        "text": text,
        "meta": json.dumps(meta or {}, ensure_ascii=False, sort_keys=True),
        "annotated": sorted(set(annotated)),
        "annotators": sorted(set(annotators)),
        "spans": sorted(spans, key=lambda s: (s["start"], s["end"], s["label"], s["annotator"])),
        "doc_labels": sorted(doc_labels, key=lambda d: (d["control"], d["label"], d["annotator"])),
    }


def check_row(r: dict, schema: Schema, where: str = "corpus") -> None:
    """Offsets inside the text, `text == document[start:end]`, labels in the config."""
    text = r["text"]
    for s in r["spans"]:
        rec = f"document {r['id']!r}, span {s['start']}-{s['end']}"
        if not (0 <= s["start"] < s["end"] <= len(text)):
            raise BadInput(f"offsets outside the text (length {len(text)})", where, rec)
        if text[s["start"] : s["end"]] != s["text"]:
            raise BadInput(
                f"span text {s['text'][:40]!r} does not match the document "
                f"({text[s['start'] : s['end']][:40]!r})",
                where,
                rec,
            )
        schema.check_label("technique", s["label"], where, rec)
        if s["of_start"] != NO_LINK and not (0 <= s["of_start"] < s["of_end"] <= len(text)):
            raise BadInput("repeat link offsets outside the text", where, rec)
    for d in r["doc_labels"]:
        schema.check_label(d["control"], d["label"], where, f"document {r['id']!r}")


def write_corpus(
    rows: Iterable[dict],
    out_dir: str | Path,
    *,
    source: dict[str, Any],
    schema: Schema | None = None,
    where: str = "corpus",
) -> dict[str, Any]:
    """Check every row and write the corpus atomically. Returns the `corpus.json` content.

    Streams: rows are checked, counted and written to Arrow as they come (1000 at a time),
    so a generator of rows is never held in memory."""
    import datasets
    from datasets.arrow_writer import ArrowWriter

    if not sys.stderr.isatty():
        datasets.disable_progress_bars()  # quiet in pipes and CI
    schema = schema or load_schema()
    feats = features()
    counts = _Counts()
    seen: set[str] = set()
    with atomic_path(out_dir, directory=True) as tmp:
        rows_file = tmp / "rows.arrow"
        writer = ArrowWriter(features=feats, path=str(rows_file), writer_batch_size=1000)
        try:
            for r in rows:
                if r["id"] in seen:
                    raise BadInput(f"duplicate document id {r['id']!r}", where)
                seen.add(r["id"])
                check_row(r, schema, where)
                counts.add(r)
                writer.write({name: r[name] for name in feats})
            writer.finalize()
        finally:
            writer.close()
        if counts.documents:
            ds = datasets.Dataset.from_file(str(rows_file))
        else:
            ds = datasets.Dataset.from_dict({name: [] for name in feats}, features=feats)
        ds.save_to_disk(str(tmp / "data"))
        del ds
        rows_file.unlink()
        info = {
            "schema_version": SCHEMA_VERSION,
            "label_config_sha256": schema.sha256,
            "source": source,
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "counts": counts.as_dict(),
        }
        (tmp / "corpus.json").write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n")
    return info


class _Counts:
    """What corpus.json counts, gathered row by row."""

    def __init__(self) -> None:
        self.documents = self.spans = self.doc_labels = 0
        self.controls: Counter = Counter()
        self.annotators: set[str] = set()

    def add(self, r: dict) -> None:
        self.documents += 1
        self.spans += len(r["spans"])
        self.doc_labels += len(r["doc_labels"])
        self.controls.update(r["annotated"])
        self.annotators.update(annotators_of(r))

    def as_dict(self) -> dict[str, Any]:
        return {
            "documents": self.documents,
            "spans": self.spans,
            "doc_labels": self.doc_labels,
            "annotated": dict(sorted(self.controls.items())),
            "annotators": sorted(self.annotators),
        }


def read_corpus(path: str | Path):
    """Open a corpus directory as a `datasets.Dataset` (memory-mapped Arrow)."""
    from datasets import load_from_disk

    path = Path(path)
    info_path = path / "corpus.json"
    if not info_path.is_file() or not (path / "data").is_dir():
        raise BadInput("not a corpus directory (no corpus.json and data/)", path)
    if not any((path / "data").glob("*.arrow")):  # datasets writes no shard for 0 rows
        from datasets import Dataset

        return Dataset.from_dict({name: [] for name in features()}, features=features())
    return load_from_disk(str(path / "data"))


def corpus_info(path: str | Path) -> dict[str, Any]:
    try:
        return json.loads((Path(path) / "corpus.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError) as exc:
        raise BadInput(f"corpus.json missing or unreadable ({exc})", path) from None


def corpus_sha256(path: str | Path) -> str:
    """A fingerprint of a corpus's content (its Arrow files), for model provenance."""
    h = hashlib.sha256()
    for f in sorted((Path(path) / "data").glob("*.arrow")):
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def iter_rows(paths: Iterable[str | Path]) -> Iterator[dict]:
    """Rows of one or several corpora, as plain dicts."""
    for p in paths:
        yield from read_corpus(p)


def annotators_of(r: dict) -> list[str]:
    """Who annotated this row: `annotators`, else everyone named in spans and labels."""
    names = set(r.get("annotators") or ())
    if not names:
        names = {s["annotator"] for s in r["spans"]} | {d["annotator"] for d in r["doc_labels"]}
        if not names and r.get("annotated"):
            names = {GOLD}
    return sorted(names)


@dataclass(frozen=True)
class Merged:
    """One document's labels after the merge policy: what train and evaluate use."""

    id: str
    text: str
    annotated: frozenset[str]
    spans: list[dict]  # {start, end, label, text, of_start, of_end}
    frames: list[str]


def merge(r: dict, policy: str = "majority", frame_control: str = "frame") -> Merged | None:
    """Apply an annotator merge policy to one corpus row (see module docstring)."""
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
