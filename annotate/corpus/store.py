"""Read and write a Corpus (CONTRACTS.md section 4): a `datasets` dataset plus `corpus.json`.

A corpus directory is itself a `Dataset.save_to_disk` directory (`datasets.load_from_disk`
opens it: `data-*.arrow`, `dataset_info.json`, `state.json`) with `corpus.json` beside
those files. Corpora written before issue #20, with the dataset in `data/`, are still read.

One row per document: `id`, `text`, `meta` (JSON text), `annotated` (controls annotated),
`annotators` (who submitted an annotation; an extension of the contract, empty for
imported gold), `spans` and `doc_labels`, each entry naming its annotator.

A dataset written by another tool is accepted when it has `id` and `text`; missing
optional fields (and nulls in them) are filled when read (`read_corpus`): `meta` "{}" (a
record becomes JSON text), `annotators`, `spans` and `doc_labels` empty, an entry's
`annotator` "gold", `of_start`/`of_end` -1, and `annotated` the controls the dataset
carries labels for (`technique` when it has a `spans` column, every control named in its
`doc_labels`).

`annotate.corpus.store` is the only module that reads or writes a corpus; the annotator merge
policy over its rows is `annotate.corpus.policy`.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import shutil
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from annotate.atomic import atomic_path
from annotate.errors import BadInput
from annotate.schema import SPAN_CONTROL, Schema, load_schema

SCHEMA_VERSION = 1
NO_LINK = -1
GOLD = "gold"
INFO_FILE = "corpus.json"  # beside the files save_to_disk writes, which never use this name
LEGACY_DATA_DIR = "data"  # where the dataset sat before issue #20
REQUIRED_FIELDS = ("id", "text")


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
        staging = tmp / ".rows"  # not tmp itself: save_to_disk refuses to write over its source
        staging.mkdir()
        rows_file = staging / "rows.arrow"
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
        # One shard even for no rows: datasets cannot load a save_to_disk without shards.
        ds.save_to_disk(str(tmp), num_shards=None if counts.documents else 1)
        del ds
        shutil.rmtree(staging)
        info = {
            "schema_version": SCHEMA_VERSION,
            "label_config_sha256": schema.sha256,
            "source": source,
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "counts": counts.as_dict(),
        }
        (tmp / INFO_FILE).write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n")
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


def dataset_dir(path: str | Path) -> Path:
    """The `save_to_disk` directory of a corpus: the corpus directory, or its legacy `data/`."""
    path = Path(path)
    if not (path / INFO_FILE).is_file():
        raise BadInput(f"not a corpus directory (no {INFO_FILE})", path)
    for candidate in (path, path / LEGACY_DATA_DIR):
        if (candidate / "state.json").is_file():
            return candidate
    if (path / "dataset_dict.json").is_file():
        raise BadInput("a DatasetDict, not a Dataset: save one split as the corpus", path)
    raise BadInput(
        "not a corpus directory (no dataset: Dataset.save_to_disk writes state.json)", path
    )


def read_corpus(path: str | Path):
    """Open a corpus directory as a `datasets.Dataset` (memory-mapped Arrow).

    Accepts this layout, the legacy `data/` one and a dataset another tool saved with
    `corpus.json` beside it; fields such a dataset lacks get their defaults (module doc)."""
    from datasets import Dataset, load_from_disk

    where = Path(path)
    data = dataset_dir(where)
    if not any(data.glob("*.arrow")):  # older corpora of 0 rows have no shard
        return Dataset.from_dict({name: [] for name in features()}, features=features())
    try:
        ds = load_from_disk(str(data))
    except Exception as exc:  # datasets raises assorted errors for damaged files
        raise BadInput(f"cannot open the dataset ({type(exc).__name__}: {exc})", data) from None
    if not isinstance(ds, Dataset):
        raise BadInput("a DatasetDict, not a Dataset: save one split as the corpus", where)
    return _with_defaults(ds, where)


_NESTED_DEFAULTS = {
    "spans": {"annotator": GOLD, "of_start": NO_LINK, "of_end": NO_LINK},
    "doc_labels": {"annotator": GOLD},
}
_NESTED_REQUIRED = {"spans": ("start", "end", "label", "text"), "doc_labels": ("control", "label")}


def _with_defaults(ds, where: Path):
    """`ds` with every field of `features()`: missing optional ones filled (module doc).

    A corpus annotate wrote has them all and comes back unchanged. Filled columns are
    built in memory (lists of empty lists or constants), never written beside the corpus."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = set(ds.column_names)
    missing = [name for name in REQUIRED_FIELDS if name not in columns]
    if missing:
        raise BadInput(
            f"the dataset has no {' or '.join(repr(m) for m in missing)} column "
            f"(a corpus row needs {', '.join(REQUIRED_FIELDS)}; columns: {sorted(columns)})",
            where,
        )
    feats = features()
    n = len(ds)

    def arrow_type(name: str) -> pa.DataType:
        return feats.arrow_schema.field(name).type

    for name in REQUIRED_FIELDS:
        if ds.data.column(name).null_count:
            first = ds.data.column(name).is_null().to_pylist().index(True)
            raise BadInput(f"{name!r} is missing (null)", where, f"row {first}")
    for name in ("meta", "annotated", "annotators", "spans", "doc_labels"):
        if name in columns and ds.data.column(name).null_count:  # null -> the field's default
            column = ds.data.column(name)
            if name == "meta" and not pa.types.is_string(column.type):
                continue  # a record column: the JSON conversion below writes "{}" for nulls
            empty = pa.scalar("{}" if name == "meta" else [], column.type)
            ds = ds.remove_columns(name).add_column(name, pc.fill_null(column, empty))
    for name, fill in _NESTED_DEFAULTS.items():
        if name in columns:
            column = ds.data.column(name)
            fixed = _fill_struct_fields(column, fill, _NESTED_REQUIRED[name], where, name)
            if fixed is not column:
                ds = ds.remove_columns(name).add_column(name, fixed)
    if "meta" in columns and not pa.types.is_string(ds.data.column("meta").type):
        texts = [
            m if isinstance(m, str) else json.dumps(m or {}, ensure_ascii=False, sort_keys=True)
            for m in ds.data.column("meta").to_pylist()
        ]
        ds = ds.remove_columns("meta").add_column("meta", pa.array(texts, pa.string()))
    if "annotated" not in columns:
        controls = set()
        if "spans" in columns:
            controls.add(SPAN_CONTROL)
        if "doc_labels" in ds.column_names:
            for chunk in ds.data.column("doc_labels").chunks:
                controls.update(pc.unique(chunk.flatten().field("control")).to_pylist())
        controls.discard(None)
        ds = ds.add_column("annotated", pa.array([sorted(controls)] * n, arrow_type("annotated")))
    defaults: dict[str, Any] = {"meta": "{}", "annotators": [], "spans": [], "doc_labels": []}
    for name, value in defaults.items():
        if name not in ds.column_names:
            ds = ds.add_column(name, pa.array([value] * n, arrow_type(name)))
    return ds


def _fill_struct_fields(column, fill: dict[str, Any], required: tuple[str, ...], where, name):
    """A list-of-struct column with the struct fields in `fill` added where missing."""
    import pyarrow as pa

    kind = column.type
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind)) or not pa.types.is_struct(
        kind.value_type
    ):
        raise BadInput(f"field {name!r} must be a list of records, not {kind}", where)
    have = {kind.value_type.field(i).name for i in range(kind.value_type.num_fields)}
    lacking = [f for f in required if f not in have]
    if lacking:
        raise BadInput(f"{name!r} entries lack {', '.join(map(repr, lacking))}", where)
    if all(f in have for f in fill):
        return column
    array_class = pa.LargeListArray if pa.types.is_large_list(kind) else pa.ListArray
    chunks = []
    for chunk in column.chunks:
        values = chunk.values  # every entry of the chunk's lists, offsets index into it
        arrays = values.flatten()
        names = [values.type.field(i).name for i in range(values.type.num_fields)]
        for field_name, value in fill.items():
            if field_name not in have:
                kind_of = pa.string() if isinstance(value, str) else pa.int64()
                arrays.append(pa.repeat(pa.scalar(value, kind_of), len(values)))
                names.append(field_name)
        struct = pa.StructArray.from_arrays(arrays, names=names)
        chunks.append(array_class.from_arrays(chunk.offsets, struct))  # nulls filled before
    return pa.chunked_array(chunks)


def corpus_info(path: str | Path) -> dict[str, Any]:
    try:
        return json.loads((Path(path) / INFO_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError) as exc:
        raise BadInput(f"{INFO_FILE} missing or unreadable ({exc})", path) from None


def corpus_sha256(path: str | Path) -> str:
    """A fingerprint of a corpus's content (its Arrow files), for model provenance."""
    h = hashlib.sha256()
    for f in sorted(dataset_dir(path).glob("*.arrow")):
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
