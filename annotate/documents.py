"""Read documents from files and folders, checking them as they stream by.

Supported: `.txt` (id = file name without extension), `.jsonl` / `.json` (fields `id`,
`text`, any others go into `meta`), `.csv` and `.parquet` (columns `id`, `text`, others
into `meta`), and `-` for JSON Lines on standard input. Text is kept exactly as stored:
strict UTF-8, no newline translation, a leading BOM kept as a character (offsets are
code points into this text, CONTRACTS.md section 3).

Anything wrong raises `BadInput` naming the file and the line or record.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annotate.errors import BadInput

log = logging.getLogger("annotate")

SUFFIXES = (".txt", ".jsonl", ".json", ".csv", ".parquet")
STDIN = "-"


@dataclass(frozen=True, slots=True)
class Document:
    id: str
    text: str
    meta: dict[str, Any] = field(default_factory=dict)


def expand_paths(paths: Iterable[str | Path]) -> list[Path | str]:
    """Files in the order given; a folder contributes its supported files, sorted, recursively."""
    out: list[Path | str] = []
    for p in paths:
        if str(p) == STDIN:
            out.append(STDIN)
            continue
        path = Path(p)
        if path.is_dir():
            found = sorted(
                f
                for f in path.rglob("*")
                if f.is_file() and f.suffix.lower() in SUFFIXES and not f.name.startswith(".")
            )
            out.extend(found)
        elif path.is_file():
            if path.suffix.lower() not in SUFFIXES:
                raise BadInput(
                    f"unsupported file type {path.suffix or '(none)'!r}; expected one of "
                    + ", ".join(SUFFIXES),
                    path,
                )
            out.append(path)
        else:
            raise BadInput("no such file or folder", path)
    return out


def iter_documents(paths: Iterable[str | Path], *, unique_ids: bool = True) -> Iterator[Document]:
    """Stream documents from `paths`. Duplicate ids within the run are bad input."""
    seen: set[str] | None = set() if unique_ids else None
    for path in expand_paths(paths):
        for doc, where in _read_file(path):
            if seen is not None:
                if doc.id in seen:
                    raise BadInput(f"duplicate document id {doc.id!r}", path, where)
                seen.add(doc.id)
            if not doc.text.strip():
                log.warning("%s, %s: document %r is empty", path, _where(where), doc.id)
            yield doc


def read_documents(paths: Iterable[str | Path], *, unique_ids: bool = True) -> list[Document]:
    return list(iter_documents(paths, unique_ids=unique_ids))


def read_text_file(path: str | Path) -> str:
    """A whole file as text, exactly: strict UTF-8, BOM kept, no newline translation."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise BadInput(f"not valid UTF-8 (byte {exc.start})", path, line) from None


def _where(where: str | int | None) -> str:
    return f"line {where}" if isinstance(where, int) else str(where)


def _read_file(path: Path | str) -> Iterator[tuple[Document, str | int | None]]:
    if path == STDIN:
        yield from _read_jsonl(sys.stdin.buffer, "<stdin>")
        return
    suffix = path.suffix.lower()
    if suffix == ".txt":
        yield Document(path.stem, read_text_file(path), {"source": str(path)}), None
    elif suffix == ".jsonl":
        with open(path, "rb") as f:
            yield from _read_jsonl(f, path)
    elif suffix == ".json":
        yield from _read_json(path)
    elif suffix == ".csv":
        yield from _read_csv(path)
    elif suffix == ".parquet":
        yield from _read_parquet(path)


def _record(obj: Any, path, where, default_id: str) -> Document:
    if not isinstance(obj, dict):
        raise BadInput("expected a JSON object with a 'text' field", path, where)
    if "text" not in obj or obj["text"] is None:
        raise BadInput("record has no 'text'", path, where)
    text = obj["text"]
    if not isinstance(text, str):
        raise BadInput(f"'text' must be a string, not {type(text).__name__}", path, where)
    doc_id = obj.get("id")
    if doc_id is None or doc_id == "":
        doc_id = default_id
    elif isinstance(doc_id, bool) or not isinstance(doc_id, str | int):
        raise BadInput(f"'id' must be a string or an integer, not {doc_id!r}", path, where)
    meta = {k: v for k, v in obj.items() if k not in ("id", "text", "meta")}
    if isinstance(obj.get("meta"), dict):
        meta.update(obj["meta"])
    elif isinstance(obj.get("meta"), str) and obj["meta"]:
        try:
            extra = json.loads(obj["meta"])
        except json.JSONDecodeError:
            extra = {"meta": obj["meta"]}
        meta.update(extra if isinstance(extra, dict) else {"meta": extra})
    meta.setdefault("source", str(path))
    return Document(str(doc_id), text, meta)


def _read_jsonl(stream, path) -> Iterator[tuple[Document, int]]:
    stem = Path(str(path)).stem
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
        yield _record(obj, path, lineno, f"{stem}-{lineno}"), lineno


def _read_json(path: Path) -> Iterator[tuple[Document, str]]:
    text = read_text_file(path)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(f"malformed JSON: {exc.msg}", path, exc.lineno) from None
    records = obj if isinstance(obj, list) else [obj]
    for i, rec in enumerate(records, 1):
        yield _record(rec, path, f"record {i}", f"{path.stem}-{i}"), f"record {i}"


def csv_rows(path: Path, column: str) -> Iterator[tuple[dict[str, Any], int]]:
    """Rows of a UTF-8 CSV file with a `column` column, each with its line number; a bad file
    is BadInput naming it (and the line)."""
    csv.field_size_limit(sys.maxsize)
    try:
        with io.TextIOWrapper(open(path, "rb"), encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f, strict=True)
            if reader.fieldnames is None or column not in reader.fieldnames:
                raise BadInput(f"CSV has no {column!r} column", path, 1)
            for row in reader:
                if None in row:
                    raise BadInput(
                        "row has more fields than the header", path, f"line {reader.line_num}"
                    )
                yield row, reader.line_num
    except UnicodeDecodeError as exc:
        raise BadInput(f"not valid UTF-8 ({exc.reason})", path) from None
    except csv.Error as exc:
        raise BadInput(f"malformed CSV: {exc}", path) from None


def parquet_rows(path: Path, column: str) -> Iterator[tuple[dict[str, Any], int]]:
    """Rows of a parquet file with a `column` column, each with its row number (from 1)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise BadInput(f"not a readable parquet file: {exc}", path) from None
    if column not in pf.schema_arrow.names:
        raise BadInput(f"parquet file has no {column!r} column", path)
    n = 0
    try:
        for batch in pf.iter_batches(batch_size=1024):
            for row in batch.to_pylist():
                n += 1
                yield row, n
    except (pa.ArrowException, OSError) as exc:
        raise BadInput(f"parquet file is damaged near row {n + 1}: {exc}", path) from None


def _read_csv(path: Path) -> Iterator[tuple[Document, str]]:
    for n, (row, line) in enumerate(csv_rows(path, "text"), 1):
        where = f"line {line}"
        if row.get("text") is None:
            raise BadInput("row has no 'text' value", path, where)
        yield _record(row, path, where, f"{path.stem}-{n}"), where


def _read_parquet(path: Path) -> Iterator[tuple[Document, str]]:
    for row, n in parquet_rows(path, "text"):
        yield _record(row, path, f"row {n}", f"{path.stem}-{n}"), f"row {n}"
