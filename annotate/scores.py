"""Read score records (CONTRACTS.md section 6) back from what `annotate score` wrote.

`.jsonl` (one record a line; `-` reads standard input), `.parquet` and `.csv` (one row per
document, nested fields as JSON text; parquet columns that hold real lists or structs are taken
as they are). Folders contribute their score files, sorted. `meta` is optional. Records stream:
nothing is held beyond the current line or parquet batch.

Anything wrong raises `BadInput` naming the file and the line (JSON Lines, CSV) or row (parquet).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from annotate.documents import csv_rows, parquet_rows
from annotate.errors import BadInput

SUFFIXES = (".jsonl", ".parquet", ".csv")
STDIN = "-"
NESTED = ("frames", "frame_labels", "spans", "meta")


def score_files(paths: Iterable[str | Path]) -> list[Path | str]:
    """Files in the order given; a folder contributes its score files, sorted, recursively."""
    out: list[Path | str] = []
    for p in paths:
        if str(p) == STDIN:
            out.append(STDIN)
            continue
        path = Path(p)
        if path.is_dir():
            out.extend(
                sorted(
                    f
                    for f in path.rglob("*")
                    if f.is_file() and f.suffix.lower() in SUFFIXES and not f.name.startswith(".")
                )
            )
        elif path.is_file():
            if path.suffix.lower() not in SUFFIXES:
                raise BadInput(
                    f"not a score file ({path.suffix or 'no suffix'}); expected "
                    + ", ".join(SUFFIXES),
                    path,
                )
            out.append(path)
        else:
            raise BadInput("no such file or folder", path)
    return out


def iter_score_records(
    paths: Iterable[str | Path], *, unique_ids: bool = True
) -> Iterator[dict[str, Any]]:
    """Stream checked records from `paths` (see `check_record` for the shape).

    A document id seen twice is bad input (the same scores read twice would count twice);
    ids are remembered as 64-bit hashes, 8 bytes of table a document rather than the string.
    """
    seen: set[int] | None = set() if unique_ids else None
    for path in score_files(paths):
        for record, where in _read_file(path):
            if seen is not None:
                key = hash(record["id"])
                if key in seen:
                    raise BadInput(f"duplicate document id {record['id']!r}", path, where)
                seen.add(key)
            yield record


def _read_file(path: Path | str) -> Iterator[tuple[dict[str, Any], str | int]]:
    if path == STDIN:
        yield from _jsonl(sys.stdin.buffer, "<stdin>")
        return
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        with open(path, "rb") as f:
            yield from _jsonl(f, path)
    elif suffix == ".csv":
        yield from _csv(path)
    else:
        yield from _parquet(path)


def check_record(obj: Any, path: str | Path, where: str | int) -> dict[str, Any]:
    """One record, checked: `id` (str), `spans` (a list of objects with start, end, label),
    optional `propaganda` (float), `frames`, `frame_labels`, `meta`. Extra fields are kept."""
    if not isinstance(obj, dict):
        raise BadInput("expected a score record (a JSON object)", path, where)
    doc_id = obj.get("id")
    if doc_id is None or doc_id == "" or isinstance(doc_id, bool):
        raise BadInput("score record has no 'id'", path, where)
    if not isinstance(doc_id, str | int):
        raise BadInput(f"'id' must be a string, not {type(doc_id).__name__}", path, where)
    rec = dict(obj)
    rec["id"] = str(doc_id)
    for key in NESTED:
        value = rec.get(key)
        if isinstance(value, str):
            if not value.strip():
                rec.pop(key)
                continue
            try:
                rec[key] = json.loads(value)
            except json.JSONDecodeError as exc:
                raise BadInput(f"'{key}' is not valid JSON: {exc.msg}", path, where) from None
        elif value is None:
            rec.pop(key, None)
    p = rec.get("propaganda")
    if p is None or p == "" or (isinstance(p, float) and math.isnan(p)):
        rec.pop("propaganda", None)
    else:
        try:
            rec["propaganda"] = float(p)
        except (TypeError, ValueError):
            raise BadInput(f"'propaganda' must be a number, not {p!r}", path, where) from None
    if "spans" not in rec:
        hint = " (documents to score, not scores?)" if "text" in rec else ""
        raise BadInput(f"not a score record: no 'spans'{hint}", path, where)
    spans = rec["spans"]
    if not isinstance(spans, list):
        raise BadInput("'spans' must be a list", path, where)
    for i, s in enumerate(spans, 1):
        if type(s) is not dict or "start" not in s or "end" not in s or "label" not in s:
            raise BadInput(f"span {i} needs 'start', 'end' and 'label'", path, where)
        of = s.get("of")
        if of is not None and (type(of) is not dict or "id" not in of):
            raise BadInput(f"span {i}: 'of' must be an object with an 'id'", path, where)
    if "meta" in rec and not isinstance(rec["meta"], dict):
        raise BadInput("'meta' must be an object", path, where)
    if "frame_labels" in rec and not isinstance(rec["frame_labels"], list):
        raise BadInput("'frame_labels' must be a list", path, where)
    if "frames" in rec and not isinstance(rec["frames"], dict):
        raise BadInput("'frames' must be an object", path, where)
    return rec


def _jsonl(stream, path) -> Iterator[dict[str, Any]]:
    for lineno, raw in enumerate(stream, 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadInput(
                f"not valid UTF-8 (byte {exc.start} of the line)", path, lineno
            ) from None
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BadInput(
                f"malformed JSON: {exc.msg} (column {exc.colno})", path, lineno
            ) from None
        yield check_record(obj, path, lineno), lineno


def _csv(path: Path) -> Iterator[dict[str, Any]]:
    for row, line in csv_rows(path, "id"):
        yield check_record(row, path, line), line


def _parquet(path: Path) -> Iterator[dict[str, Any]]:
    for row, n in parquet_rows(path, "id"):
        yield check_record(row, path, f"row {n}"), f"row {n}"
