"""Record writers: JSON Lines, CSV and parquet (one row per record, nested fields as JSON text).
Files appear only when complete (`open_output` writes to a temporary name, then renames)."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Protocol

from annotate.atomic import atomic_path
from annotate.errors import BadInput

SUFFIXES = (".jsonl", ".parquet", ".csv")


class RecordWriter(Protocol):
    def write(self, record: dict) -> None: ...

    def close(self) -> None: ...


def check_output(out: str | Path | None) -> None:
    """Bad input unless `out` is None (stdout) or ends in one of `SUFFIXES`."""
    if out is not None and Path(out).suffix.lower() not in SUFFIXES:
        raise BadInput(f"output must end in one of {', '.join(SUFFIXES)}", out)


def jsonl(records: list[dict]) -> str:
    """Records as JSON Lines text."""
    return "".join([json.dumps(r, ensure_ascii=False) + "\n" for r in records])


def columns(with_model: bool, with_meta: bool) -> list[str]:
    """The columns of a CSV or parquet file of records."""
    cols = (
        ["id", "propaganda", "frames", "frame_labels", "spans"] if with_model else ["id", "spans"]
    )
    return cols + ["meta"] if with_meta else cols


def row(record: dict) -> dict:
    """A record as one row: nested fields as JSON text; `meta` absent when the record has none."""
    out = {"id": record["id"]}
    if "propaganda" in record:
        out["propaganda"] = record["propaganda"]
        out["frames"] = json.dumps(record["frames"], ensure_ascii=False)
        out["frame_labels"] = json.dumps(record["frame_labels"], ensure_ascii=False)
    out["spans"] = json.dumps(record["spans"], ensure_ascii=False)
    if "meta" in record:
        out["meta"] = json.dumps(record["meta"], ensure_ascii=False)
    return out


class JsonlWriter:
    takes_text = True  # `write_text`: records already encoded as JSON Lines (by a worker)

    def __init__(self, stream: IO[str]):
        self.stream = stream

    def write(self, record: dict) -> None:
        self.stream.write(json.dumps(record, ensure_ascii=False) + "\n")

    def write_text(self, text: str) -> None:
        self.stream.write(text)

    def close(self) -> None:
        self.stream.flush()


class CsvWriter:
    takes_text = False

    def __init__(self, stream: IO[str], with_model: bool, with_meta: bool = False):
        self.writer = csv.DictWriter(stream, fieldnames=columns(with_model, with_meta))
        self.writer.writeheader()
        self.stream = stream

    def write(self, record: dict) -> None:
        self.writer.writerow(row(record))

    def close(self) -> None:
        self.stream.flush()


class ParquetWriter:
    takes_text = False

    def __init__(
        self, path: Path, with_model: bool, with_meta: bool = False, rows_per_group: int = 2048
    ):
        import pyarrow as pa
        import pyarrow.parquet as pq

        types = {"propaganda": pa.float64()}
        names = columns(with_model, with_meta)
        self.schema = pa.schema([pa.field(c, types.get(c, pa.string())) for c in names])
        self.writer = pq.ParquetWriter(path, self.schema)
        self.rows: list[dict] = []
        self.rows_per_group = rows_per_group
        self.pa = pa

    def write(self, record: dict) -> None:
        self.rows.append(row(record))
        if len(self.rows) >= self.rows_per_group:
            self._flush()

    def _flush(self) -> None:
        if self.rows:
            self.writer.write_table(self.pa.Table.from_pylist(self.rows, schema=self.schema))
            self.rows = []

    def close(self) -> None:
        self._flush()
        self.writer.close()


@contextlib.contextmanager
def open_output(
    out: str | Path | None,
    *,
    with_model: bool,
    with_meta: bool = False,
    stdout: IO[str] | None = None,
) -> Iterator[Any]:
    """A writer for `out` (.jsonl, .csv, .parquet; JSON Lines to `stdout`, or this process's
    standard output, when None), closed on success. A file appears only when complete: after
    an error, `out` is absent or unchanged."""
    check_output(out)
    if out is None:
        stream = stdout
        if stream is None:
            stream = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="\n")
        try:
            writer = JsonlWriter(stream)
            yield writer
            writer.close()
        finally:
            if stdout is None:
                stream.flush()
                stream.detach()
        return
    out = Path(out)
    suffix = out.suffix.lower()
    with atomic_path(out) as tmp:
        if suffix == ".parquet":
            writer = ParquetWriter(tmp, with_model, with_meta)
            yield writer
            writer.close()
            return
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            writer = CsvWriter(f, with_model, with_meta) if suffix == ".csv" else JsonlWriter(f)
            yield writer
            writer.close()
