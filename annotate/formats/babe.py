"""Import BABE (media bias, sentence level, with the words annotators marked) into a corpus.

BABE's SG1/SG2 CSV is `;`-separated with the columns `text`, `outlet`, `topic`, `type`,
`label_bias`, `label_opinion` and `biased_words`, a Python list literal read with
`ast.literal_eval` (never `eval`). It maps onto the label config like this:

- one document per sentence, id `<file stem>-<record number>` (records counted from 1);
- a `Loaded_Language` span at every whole-word, case-insensitive occurrence of a listed
  biased word (quotes around a listed word are dropped); the document is annotated for the
  technique control, so a sentence without biased words is a negative example;
- a sentence labelled `Biased` with no word listed, or `No agreement`, is kept but not
  annotated for techniques: its annotators did not say which words;
- a listed word that does not occur in the sentence (a misspelling in the list) is counted
  in the summary and skipped;
- `meta` keeps `outlet`, `topic`, `type`, `label_bias`, `label_opinion` and `news_link`.
"""

from __future__ import annotations

import ast
import csv
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from annotate import corpus
from annotate.errors import BadInput
from annotate.schema import SPAN_CONTROL, Schema, load_schema

LABEL = "Loaded_Language"
META_COLUMNS = ("outlet", "topic", "type", "label_bias", "label_opinion", "news_link")
REQUIRED = ("text", "biased_words")
_QUOTES = "\"'“”‘’"


def _words(value: str, path: Path, record: str) -> list[str]:
    try:
        words = ast.literal_eval(value.strip() or "[]")
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise BadInput(
            f"biased_words is not a list literal: {value[:60]!r}", path, record
        ) from None
    if not isinstance(words, list | tuple) or not all(isinstance(w, str) for w in words):
        raise BadInput(f"biased_words is not a list of strings: {value[:60]!r}", path, record)
    return [w.strip().strip(_QUOTES).strip() for w in words if w.strip().strip(_QUOTES).strip()]


def occurrences(text: str, word: str) -> list[tuple[int, int]]:
    """[start, end) of every whole-word, case-insensitive occurrence of `word` in `text`."""
    pattern = re.compile(r"(?<!\w)" + re.escape(word) + r"(?!\w)", re.IGNORECASE)
    return [m.span() for m in pattern.finditer(text)]


def babe_rows(path: str | Path, stats: dict[str, int] | None = None) -> Iterator[dict[str, Any]]:
    """Corpus rows of a BABE CSV, one per sentence; `stats` collects unmatched words."""
    path = Path(path)
    stats = {} if stats is None else stats
    stats.setdefault("unmatched_words", 0)
    stats.setdefault("not_annotated", 0)
    try:
        fh = open(path, encoding="utf-8", newline="")
    except FileNotFoundError:
        raise BadInput("no such file", path) from None
    except IsADirectoryError:
        raise BadInput("is a directory, not a BABE CSV file", path) from None
    with fh:
        try:
            reader = csv.DictReader(fh, delimiter=";")
            missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
            if missing:
                raise BadInput(
                    f"not a BABE CSV: no column {', '.join(map(repr, missing))} "
                    f"(columns: {', '.join(reader.fieldnames or [])}; `;`-separated expected)",
                    path,
                    "line 1",
                )
            for n, rec in enumerate(reader, 1):
                where = f"line {reader.line_num} (record {n})"
                text = rec.get("text")
                if not text or not text.strip():
                    raise BadInput("record has no text", path, where)
                words = _words(rec.get("biased_words") or "", path, where)
                bias = (rec.get("label_bias") or "").strip()
                annotated = bool(words) or bias == "Non-biased"
                spans = []
                seen: set[tuple[int, int]] = set()
                for word in words:
                    found = occurrences(text, word)
                    if not found:
                        stats["unmatched_words"] += 1
                    for start, end in found:
                        if (start, end) not in seen:
                            seen.add((start, end))
                            spans.append(corpus.span(text, start, end, LABEL))
                stats["not_annotated"] += not annotated
                meta = {c: rec[c] for c in META_COLUMNS if rec.get(c) not in (None, "")}
                meta["corpus"] = "babe"
                yield corpus.row(
                    f"{path.stem}-{n}",
                    text,
                    meta,
                    annotated=[SPAN_CONTROL] if annotated else [],
                    spans=spans,
                )
        except UnicodeDecodeError as exc:
            raise BadInput(f"not valid UTF-8 ({exc.reason} at byte {exc.start})", path) from None
        except csv.Error as exc:
            raise BadInput(f"malformed CSV ({exc})", path) from None


def import_babe(
    csv_path: str | Path, out_dir: str | Path, *, schema: Schema | None = None
) -> dict[str, Any]:
    """Write a corpus from a BABE CSV. Returns `corpus.json`'s content plus the statistics."""
    schema = schema or load_schema()
    if LABEL not in schema.techniques:
        raise BadInput(
            f"the label config has no {LABEL!r} label, which BABE's biased words map to",
            schema.path,
        )
    stats: dict[str, int] = {}
    info = corpus.write_corpus(
        babe_rows(csv_path, stats),
        out_dir,
        source={"format": "babe", "csv": str(csv_path), "label": LABEL},
        schema=schema,
        where=str(csv_path),
    )
    return {**info, "stats": stats}
