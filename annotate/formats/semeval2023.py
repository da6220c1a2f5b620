"""Import SemEval-2023 Task 3 (English) articles with frames and/or technique spans.

- `--frames FILE`: lines `id<TAB>Frame1,Frame2,...` (subtask 2); a listed article is annotated
  for the frame control (an empty frame list means "no frame applies").
- `--spans DIR`: technique-label files as in PTC (subtask 3). Their 23 techniques differ from
  the label config's; `--label-map FILE` maps them (an empty second column drops a technique;
  see docs/label-maps/semeval2023-to-ptc.tsv). With `--spans`, every article is annotated for
  the span control.

Offsets are only valid with the texts they were made on (articles-subtask-3 for spans).
"""

from __future__ import annotations

from pathlib import Path

from annotate import corpus
from annotate.documents import read_text_file
from annotate.errors import BadInput
from annotate.formats.ptc import (
    article_meta,
    label_files,
    read_articles,
    read_label_map,
    read_technique_labels,
    spans_by_document,
    summary,
)
from annotate.schema import FRAME_CONTROL, SPAN_CONTROL, Schema, load_schema


def read_frames(
    path: str | Path, articles: dict[str, tuple[str, Path]], schema: Schema
) -> dict[str, list[str]]:
    """`{id: [frame, ...]}` from a subtask-2 labels file, checked against the label config."""
    path = Path(path)
    if not path.is_file():
        raise BadInput("no such frames file", path)
    frames: dict[str, list[str]] = {}
    for lineno, line in enumerate(read_text_file(path).split("\n"), 1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) == 1:
            fields.append("")  # an id alone: no frame applies
        if len(fields) != 2 or not fields[0].strip():
            raise BadInput("expected id<TAB>Frame1,Frame2,...", path, lineno)
        doc_id = fields[0].strip()
        labels = sorted({f.strip() for f in fields[1].split(",") if f.strip()})
        for label in labels:
            schema.check_label(FRAME_CONTROL, label, path, lineno)
        if doc_id not in articles:
            raise BadInput(f"no article{doc_id}.txt for document id {doc_id!r}", path, lineno)
        if doc_id in frames and frames[doc_id] != labels:
            raise BadInput(
                f"document {doc_id!r} is listed twice with different frames", path, lineno
            )
        frames[doc_id] = labels
    return frames


def semeval2023_rows(
    articles_dir: str | Path,
    *,
    frames: str | Path | None = None,
    spans: str | Path | None = None,
    label_map: str | Path | None = None,
    schema: Schema | None = None,
) -> tuple[list[dict], dict]:
    """Corpus rows for SemEval-2023 articles, plus import statistics."""
    schema = schema or load_schema()
    if frames is None and spans is None:
        raise BadInput("nothing to import: give --frames FILE and/or --spans DIR", articles_dir)
    articles = read_articles(articles_dir)
    frame_labels = read_frames(frames, articles, schema) if frames is not None else {}
    span_entries: dict[str, list[dict]] = {}
    duplicates, files = 0, []
    dropped: dict[str, int] = {}
    if spans is not None:
        files = label_files(spans)
        lines = read_technique_labels(files, schema, read_label_map(label_map), dropped)
        span_entries, duplicates = spans_by_document(lines, articles)
    rows = []
    for doc_id, (text, path) in articles.items():
        annotated = []
        if spans is not None:
            annotated.append(SPAN_CONTROL)
        if doc_id in frame_labels:
            annotated.append(FRAME_CONTROL)
        doc_labels = [
            {"control": FRAME_CONTROL, "label": f, "annotator": corpus.GOLD}
            for f in frame_labels.get(doc_id, [])
        ]
        rows.append(
            corpus.row(
                doc_id,
                text,
                article_meta(path, text, corpus="semeval2023"),
                annotated=annotated,
                spans=span_entries.get(doc_id, []),
                doc_labels=doc_labels,
            )
        )
    stats = {
        "duplicate_label_lines": duplicates,
        "dropped_labels": dict(sorted(dropped.items())),
        "label_files": len(files),
        "documents_with_frames": len(frame_labels),
    }
    return rows, stats


def import_semeval2023(
    articles_dir: str | Path,
    out_dir: str | Path,
    *,
    frames: str | Path | None = None,
    spans: str | Path | None = None,
    label_map: str | Path | None = None,
    schema: Schema | None = None,
) -> str:
    """Write a corpus from SemEval-2023 articles, frames and spans; returns a summary line."""
    schema = schema or load_schema()
    rows, stats = semeval2023_rows(
        articles_dir, frames=frames, spans=spans, label_map=label_map, schema=schema
    )
    source = {
        "format": "semeval2023",
        "articles": str(articles_dir),
        "frames": str(frames) if frames else None,
        "spans": str(spans) if spans else None,
        "label_map": str(label_map) if label_map else None,
        **stats,
    }
    info = corpus.write_corpus(rows, out_dir, source=source, schema=schema, where=str(articles_dir))
    return summary(info, stats, out_dir)
