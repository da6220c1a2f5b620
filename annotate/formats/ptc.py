"""Import the Propaganda Techniques Corpus (SemEval-2020 Task 11) into a corpus directory.

Articles are `article<ID>.txt` (strict UTF-8, a leading BOM kept as character 0); labels are
technique-label files, `id<TAB>technique<TAB>start<TAB>end`, one file or a folder of them.
Every article is annotated for the span control (an article without labels has no spans).
Identical label lines are kept once; overlapping spans are kept as they are.

The label-file reader and the label map here are shared with `annotate.formats.semeval2023`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from annotate import corpus
from annotate.documents import read_text_file
from annotate.errors import BadInput
from annotate.schema import SPAN_CONTROL, Schema, load_schema

ARTICLE_NAME = re.compile(r"^article(?P<id>.+)\.txt$")
DROP = None  # a label mapped to nothing is dropped


@dataclass(frozen=True, slots=True)
class LabelLine:
    """One technique label as read from a label file (label already mapped)."""

    doc_id: str
    label: str
    start: int
    end: int
    path: str
    line: int


def read_articles(articles_dir: str | Path) -> dict[str, tuple[str, Path]]:
    """`{id: (text, path)}` for every `article<ID>.txt` in the folder."""
    folder = Path(articles_dir)
    if not folder.is_dir():
        raise BadInput("no such folder of articles", folder)
    articles: dict[str, tuple[str, Path]] = {}
    for path in sorted(folder.iterdir()):
        match = ARTICLE_NAME.match(path.name)
        if match and path.is_file():
            articles[match["id"]] = (read_text_file(path), path)
    if not articles:
        raise BadInput("no article<ID>.txt files in this folder", folder)
    return articles


def read_label_map(path: str | Path | None) -> dict[str, str | None]:
    """A TSV of `their label<TAB>our label`; an empty second column drops the label.

    Blank lines and lines starting with `#` are ignored.
    """
    if path is None:
        return {}
    path = Path(path)
    if not path.is_file():
        raise BadInput("no such label map file", path)
    mapping: dict[str, str | None] = {}
    for lineno, line in enumerate(read_text_file(path).splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 2 or not fields[0].strip():
            raise BadInput(
                "expected two tab-separated columns: their label, our label (empty = drop)",
                path,
                lineno,
            )
        theirs, ours = fields[0].strip(), fields[1].strip()
        if theirs in mapping and mapping[theirs] != (ours or DROP):
            raise BadInput(f"label {theirs!r} is mapped twice", path, lineno)
        mapping[theirs] = ours or DROP
    return mapping


def label_files(labels: str | Path) -> list[Path]:
    """A label file, or the regular files of a folder (sorted, hidden files skipped)."""
    labels = Path(labels)
    if labels.is_file():
        return [labels]
    if labels.is_dir():
        files = sorted(p for p in labels.iterdir() if p.is_file() and not p.name.startswith("."))
        if not files:
            raise BadInput("no label files in this folder", labels)
        return files
    raise BadInput("no such label file or folder", labels)


def read_technique_labels(
    files: Iterable[Path],
    schema: Schema,
    label_map: dict[str, str | None] | None = None,
    dropped: dict[str, int] | None = None,
) -> Iterator[LabelLine]:
    """Parse technique-label lines, map their labels, check them against the label config.

    Labels mapped to nothing are skipped (counted in `dropped` when given).
    """
    label_map = label_map or {}
    for path in files:
        for lineno, line in enumerate(read_text_file(path).split("\n"), 1):
            line = line.rstrip("\r")
            if not line.strip():
                continue
            fields = [f.strip() for f in line.split("\t")]
            if len(fields) == 3 and fields[1].isdigit() and fields[2].isdigit():
                raise BadInput(
                    "3 columns (id, start, end): a span-identification file has no technique; "
                    "expected id<TAB>technique<TAB>start<TAB>end",
                    path,
                    lineno,
                )
            if len(fields) != 4:
                raise BadInput(
                    f"expected 4 tab-separated columns (id, technique, start, end), "
                    f"found {len(fields)}",
                    path,
                    lineno,
                )
            doc_id, theirs, start_s, end_s = fields
            try:
                start, end = int(start_s), int(end_s)
            except ValueError:
                raise BadInput(
                    f"start and end must be integers, not {start_s!r} and {end_s!r}", path, lineno
                ) from None
            label = label_map[theirs] if theirs in label_map else theirs
            if label is DROP:
                if dropped is not None:
                    dropped[theirs] = dropped.get(theirs, 0) + 1
                continue
            schema.check_label(SPAN_CONTROL, label, path, lineno)
            yield LabelLine(doc_id, label, start, end, str(path), lineno)


def spans_by_document(
    lines: Iterable[LabelLine], articles: dict[str, tuple[str, Path]]
) -> tuple[dict[str, list[dict]], int]:
    """Corpus span entries per document id, checked against the texts; identical ones once.

    Returns the spans and how many duplicate lines were dropped.
    """
    spans: dict[str, list[dict]] = {}
    seen: set[tuple[str, str, int, int]] = set()
    duplicates = 0
    for ll in lines:
        if ll.doc_id not in articles:
            raise BadInput(
                f"no article{ll.doc_id}.txt for document id {ll.doc_id!r}", ll.path, ll.line
            )
        text = articles[ll.doc_id][0]
        if not (0 <= ll.start < ll.end <= len(text)):
            raise BadInput(
                f"offsets {ll.start}-{ll.end} fall outside the text of article{ll.doc_id}.txt "
                f"(length {len(text)}) or the span is empty",
                ll.path,
                ll.line,
            )
        key = (ll.doc_id, ll.label, ll.start, ll.end)
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        spans.setdefault(ll.doc_id, []).append(corpus.span(text, ll.start, ll.end, ll.label))
    return spans, duplicates


def article_meta(path: Path, text: str, **extra) -> dict:
    title = text.lstrip("\ufeff").split("\n", 1)[0].strip()
    return {"source": str(path), "title": title, **extra}


def ptc_rows(
    articles_dir: str | Path,
    labels: str | Path,
    *,
    label_map: str | Path | None = None,
    schema: Schema | None = None,
) -> tuple[list[dict], dict]:
    """Corpus rows for PTC articles and technique labels, plus import statistics."""
    schema = schema or load_schema()
    articles = read_articles(articles_dir)
    files = label_files(labels)
    dropped: dict[str, int] = {}
    lines = read_technique_labels(files, schema, read_label_map(label_map), dropped)
    spans, duplicates = spans_by_document(lines, articles)
    rows = [
        corpus.row(
            doc_id,
            text,
            article_meta(path, text, corpus="ptc"),
            annotated=[SPAN_CONTROL],
            spans=spans.get(doc_id, []),
        )
        for doc_id, (text, path) in articles.items()
    ]
    stats = {
        "duplicate_label_lines": duplicates,
        "dropped_labels": dict(sorted(dropped.items())),
        "label_files": len(files),
    }
    return rows, stats


def import_ptc(
    articles_dir: str | Path,
    labels: str | Path,
    out_dir: str | Path,
    *,
    label_map: str | Path | None = None,
    schema: Schema | None = None,
) -> str:
    """Write a corpus from PTC articles and technique labels; returns a one-line summary."""
    schema = schema or load_schema()
    rows, stats = ptc_rows(articles_dir, labels, label_map=label_map, schema=schema)
    source = {
        "format": "ptc",
        "articles": str(articles_dir),
        "labels": str(labels),
        "label_map": str(label_map) if label_map else None,
        **stats,
    }
    info = corpus.write_corpus(rows, out_dir, source=source, schema=schema, where=str(labels))
    return summary(info, stats, out_dir)


def summary(info: dict, stats: dict, out_dir: str | Path) -> str:
    counts = info["counts"]
    text = f"{out_dir}: {counts['documents']} documents, {counts['spans']} spans"
    if counts.get("doc_labels"):
        text += f", {counts['doc_labels']} document labels"
    if stats.get("duplicate_label_lines"):
        text += f" ({stats['duplicate_label_lines']} duplicate label lines kept once)"
    if stats.get("dropped_labels"):
        n = sum(stats["dropped_labels"].values())
        text += f"; {n} spans dropped by the label map ({', '.join(stats['dropped_labels'])})"
    return text
