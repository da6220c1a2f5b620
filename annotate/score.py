"""Score documents: repeated passages (no model needed) and, with a model, propaganda spans
and frames. Records follow CONTRACTS.md section 6, one per input document, in input order.

`score()` streams: pass 1 reads the inputs once, spools them to a temporary file and
computes each document's compact repeat signature (in parallel); a global join
(`repeats.CrossIndex`, spilling to disk) proposes partner documents; pass 2 re-reads the
spool in batches, aligns each document with itself and its partners, runs the model and
writes records as they come, in input order. Memory stays flat as the input grows: a few
bytes per document plus the batches in flight. Engines: `local` (a process pool of
`workers`) or `dask` (a `distributed` cluster: `scheduler` address, or a LocalCluster),
with identical output.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import dataclasses
import io
import itertools
import json
import os
import struct
import sys
import tempfile
import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from annotate import repeats
from annotate.atomic import atomic_path
from annotate.documents import Document, iter_documents
from annotate.errors import BadInput
from annotate.schema import REPETITION_LABEL

BATCH_SIZE = 256
OUT_SUFFIXES = (".jsonl", ".parquet", ".csv")

# ---- records --------------------------------------------------------------------------------


def repeat_span(r: repeats.Repeat) -> dict:
    return {
        "start": r.start,
        "end": r.end,
        "text": r.text,
        "label": REPETITION_LABEL,
        "score": r.score,
        "source": repeats.DETECTOR,
        "of": {"id": r.of_id, "start": r.of_start, "end": r.of_end},
    }


def make_record(
    doc_id: str, text: str, reps: list[repeats.Repeat], prediction: dict | None
) -> dict:
    """One CONTRACTS §6 record; model spans are checked against the text."""
    record: dict[str, Any] = {"id": doc_id}
    spans = [repeat_span(r) for r in reps]
    if prediction is not None:
        record["propaganda"] = float(prediction["propaganda"])
        record["frames"] = {k: float(v) for k, v in prediction.get("frames", {}).items()}
        record["frame_labels"] = list(prediction.get("frame_labels", []))
        for s in prediction.get("spans", []):
            start, end = int(s["start"]), int(s["end"])
            if not 0 <= start < end <= len(text):
                raise ValueError(f"model span {start}-{end} outside document {doc_id!r}")
            span = {**s, "start": start, "end": end, "text": text[start:end]}
            span.setdefault("source", "model")
            spans.append(span)
    spans.sort(key=lambda s: (s["start"], s["end"], s.get("source", "")))
    record["spans"] = spans
    return record


Batch = Sequence[tuple[int, str, str, bytes, list]]  # (index, id, text, word ids, within)


def score_batch(
    batch: Batch,
    partners: dict[int, list[int]],
    partner_docs: dict[int, tuple[str, str, bytes]],
    model: Any = None,
) -> list[dict]:
    """Pass 2 work: records for documents (index, id, text, word ids as uint32 bytes, own
    occurrences from pass 1); partners: index -> partner indices, whose (id, text, word ids)
    are in `partner_docs` or in the batch itself."""
    known = {i: (doc_id, text) for i, doc_id, text, _, _ in batch}
    raw_ids = {i: ids for i, _, _, ids, _ in batch}
    for p, (doc_id, text, ids) in partner_docs.items():
        known[p] = (doc_id, text)
        raw_ids[p] = ids
    ids_cache: dict[int, list[int]] = {}

    def ids_of(i: int) -> list[int]:
        w = ids_cache.get(i)
        if w is None:
            w = ids_cache[i] = np.frombuffer(raw_ids[i], dtype=np.uint32).tolist()
        return w

    predictions = model.predict([b[2] for b in batch]) if model is not None else None
    spans_cache: dict[int, list[tuple[int, int]]] = {}
    shingles_cache: dict = {}
    out = []
    for n, (i, doc_id, text, _, within) in enumerate(batch):
        own = [repeats.Occurrence(*w) for w in within]
        mine = partners.get(i)
        if mine:
            pids = {p: ids_of(p) for p in mine}
            occs = repeats.doc_occurrences(i, ids_of(i), pids, shingles_cache, within=own)
        else:
            occs = repeats.merge_occurrences(own)
        reps = repeats.to_repeats(doc_id, text, occs, known, spans_cache, i)
        out.append(make_record(doc_id, text, reps, predictions[n] if predictions else None))
    return out


def batch_signatures(texts: Sequence[str], first_index: int) -> list[tuple]:
    """Pass 1 work: per document (anchors, word ids as bytes, own occurrences as tuples)."""
    out = []
    for n, text in enumerate(texts):
        anchors, ids, within = repeats.signature(text, first_index + n)
        out.append((anchors, ids.tobytes(), [dataclasses.astuple(o) for o in within]))
    return out


def score_documents(docs: Iterable[Document], model: Any = None) -> Iterator[dict]:
    """CONTRACTS §6 records for `docs` (in memory, one process), in input order."""
    docs = list(docs)
    sigs = batch_signatures([d.text for d in docs], 0)
    index = repeats.CrossIndex()
    for i, (a, _, _) in enumerate(sigs):
        index.add(i, a)
    partners = index.partners() if len(docs) > 1 else {}
    for lo in range(0, len(docs), BATCH_SIZE):
        rng = range(lo, min(lo + BATCH_SIZE, len(docs)))
        batch = [(i, docs[i].id, docs[i].text, sigs[i][1], sigs[i][2]) for i in rng]
        needed = {p for i in rng for p in partners.get(i, [])}
        partner_docs = {p: (docs[p].id, docs[p].text, sigs[p][1]) for p in needed}
        yield from score_batch(batch, partners, partner_docs, model)


# ---- engines --------------------------------------------------------------------------------


class _InProcess:
    def __init__(self, model):
        self.model = model

    def map_ordered(self, fn: Callable, args_iter: Iterable[tuple], with_model: bool = False):
        for args in args_iter:
            yield fn(*args, self.model) if with_model else fn(*args)

    def close(self):
        pass


_WORKER_MODEL = None


def _init_worker(model):
    global _WORKER_MODEL
    _WORKER_MODEL = model
    if sys.platform == "linux":  # die with the parent instead of lingering as an orphan
        import ctypes
        import signal

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PDEATHSIG


def _call_with_worker_model(fn, *args):
    return fn(*args, _WORKER_MODEL)


class _LocalPool:
    """A process pool; at most 2 x workers batches in flight; results in submission order."""

    def __init__(self, workers: int, model):
        self.workers = workers
        self.model = model
        self.pool = None
        self.in_flight = 2 * workers

    def _start(self):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        ctx = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
        return ProcessPoolExecutor(
            self.workers, mp_context=ctx, initializer=_init_worker, initargs=(self.model,)
        )

    def map_ordered(self, fn, args_iter, with_model: bool = False):
        args_iter = iter(args_iter)
        first = next(args_iter, None)
        second = next(args_iter, None)
        if second is None:  # a single batch: not worth a trip to another process
            if first is not None:
                yield fn(*first, self.model) if with_model else fn(*first)
            return
        args_iter = itertools.chain([first, second], args_iter)
        if self.pool is None:
            self.pool = self._start()
        pending: collections.deque = collections.deque()
        for args in args_iter:
            if with_model:
                pending.append(self.pool.submit(_call_with_worker_model, fn, *args))
            else:
                pending.append(self.pool.submit(fn, *args))
            if len(pending) >= self.in_flight:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    def close(self):
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


class _DaskEngine:
    """`distributed`: the model is broadcast to workers once; results gathered in order."""

    def __init__(self, workers: int, model, scheduler: str | None):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise BadInput(
                "--engine dask needs the dask extra: pip install 'annotate[dask]'"
            ) from None
        self.cluster = None
        if scheduler:
            self.client = Client(scheduler)
        else:
            self.cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",  # a free port: never clash with another cluster
                silence_logs=40,
            )
            self.client = Client(self.cluster)
        self.model = self.client.scatter(model, broadcast=True) if model is not None else None
        self.in_flight = 2 * max(1, len(self.client.scheduler_info().get("workers", {})) or workers)

    def map_ordered(self, fn, args_iter, with_model: bool = False):
        pending: collections.deque = collections.deque()
        for args in args_iter:
            if with_model:
                pending.append(self.client.submit(fn, *args, self.model, pure=False))
            else:
                pending.append(self.client.submit(fn, *args, pure=False))
            if len(pending) >= self.in_flight:
                f = pending.popleft()
                yield f.result()
                f.release()
        while pending:
            f = pending.popleft()
            yield f.result()
            f.release()

    def close(self):
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


# ---- spool: the inputs, re-readable by position -----------------------------------------------


class _Spool:
    """Pass-1 results, written once to a temporary file and read back in order or by index:
    per document a header, JSON [id, text, own occurrences] and the word ids (uint32)."""

    HEADER = struct.Struct("<II")

    def __init__(self, tmp_dir: str | None = None):
        fd, path = tempfile.mkstemp(prefix=".annotate-score-", suffix=".spool", dir=tmp_dir)
        self.file = os.fdopen(fd, "wb")
        self._random = open(path, "rb")  # independent offsets for random and in-order reads
        self._sequential = open(path, "rb", buffering=1 << 20)
        os.unlink(path)  # nothing is left behind, however the process ends
        self.offsets = array("q")
        self.size = 0
        self._cache: collections.OrderedDict[int, tuple] = collections.OrderedDict()

    def append(self, doc_id: str, text: str, ids: bytes, within: list) -> None:
        data = json.dumps([doc_id, text, within], ensure_ascii=False).encode("utf-8")
        self.offsets.append(self.size)
        self.file.write(self.HEADER.pack(len(data), len(ids)))
        self.file.write(data)
        self.file.write(ids)
        self.size += self.HEADER.size + len(data) + len(ids)

    def __len__(self) -> int:
        return len(self.offsets)

    def _read(self, f) -> tuple[str, str, bytes, list] | None:
        head = f.read(self.HEADER.size)
        if not head:
            return None
        n_data, n_ids = self.HEADER.unpack(head)
        doc_id, text, within = json.loads(f.read(n_data))
        return doc_id, text, f.read(n_ids), within

    def get(self, i: int) -> tuple[str, str, bytes]:
        """(id, text, word ids) of document i."""
        hit = self._cache.get(i)
        if hit is not None:
            self._cache.move_to_end(i)
            return hit
        self.file.flush()
        self._random.seek(self.offsets[i])
        doc_id, text, ids, _ = self._read(self._random)
        self._cache[i] = (doc_id, text, ids)
        if len(self._cache) > 512:
            self._cache.popitem(last=False)
        return doc_id, text, ids

    def batches(self, size: int) -> Iterator[list[tuple[int, str, str, bytes, list]]]:
        self.file.flush()
        reader = self._sequential
        reader.seek(0)
        batch: list = []
        i = 0
        while (rec := self._read(reader)) is not None:
            doc_id, text, ids, within = rec
            batch.append((i, doc_id, text, ids, within))
            i += 1
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch

    def close(self) -> None:
        for f in (self.file, self._random, self._sequential):
            f.close()


# ---- writers --------------------------------------------------------------------------------


def _columns(record: dict) -> dict:
    row = {"id": record["id"]}
    if "propaganda" in record:
        row["propaganda"] = record["propaganda"]
        row["frames"] = json.dumps(record["frames"], ensure_ascii=False)
        row["frame_labels"] = json.dumps(record["frame_labels"], ensure_ascii=False)
    row["spans"] = json.dumps(record["spans"], ensure_ascii=False)
    return row


class _JsonlWriter:
    def __init__(self, stream):
        self.stream = stream

    def write(self, record: dict) -> None:
        self.stream.write(json.dumps(record, ensure_ascii=False) + "\n")

    def close(self) -> None:
        self.stream.flush()


class _CsvWriter:
    def __init__(self, stream, with_model: bool):
        cols = (
            ["id", "propaganda", "frames", "frame_labels", "spans"]
            if with_model
            else ["id", "spans"]
        )
        self.writer = csv.DictWriter(stream, fieldnames=cols)
        self.writer.writeheader()
        self.stream = stream

    def write(self, record: dict) -> None:
        self.writer.writerow(_columns(record))

    def close(self) -> None:
        self.stream.flush()


class _ParquetWriter:
    def __init__(self, path: Path, with_model: bool, rows_per_group: int = 2048):
        import pyarrow as pa
        import pyarrow.parquet as pq

        fields = [pa.field("id", pa.string())]
        if with_model:
            fields += [
                pa.field("propaganda", pa.float64()),
                pa.field("frames", pa.string()),
                pa.field("frame_labels", pa.string()),
            ]
        fields.append(pa.field("spans", pa.string()))
        self.schema = pa.schema(fields)
        self.writer = pq.ParquetWriter(path, self.schema)
        self.rows: list[dict] = []
        self.rows_per_group = rows_per_group
        self.pa = pa

    def write(self, record: dict) -> None:
        self.rows.append(_columns(record))
        if len(self.rows) >= self.rows_per_group:
            self._flush()

    def _flush(self) -> None:
        if self.rows:
            self.writer.write_table(self.pa.Table.from_pylist(self.rows, schema=self.schema))
            self.rows = []

    def close(self) -> None:
        self._flush()
        self.writer.close()


# ---- the command ------------------------------------------------------------------------------


def _load_model(model):
    if model is None or hasattr(model, "predict"):
        return model
    from annotate.learn.model import Model

    return Model.load(model)


def _progress(label: str, total: int | None):
    """A rich progress bar on a terminal, else nothing (returns an `advance(n)` callable)."""
    if not sys.stderr.isatty():
        return None, (lambda n: None)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn(f"{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} docs/s"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = progress.add_task(label, total=total, rate="-")
    started = time.perf_counter()
    done = [0]
    progress.start()

    def advance(n: int) -> None:
        done[0] += n
        rate = done[0] / max(time.perf_counter() - started, 1e-9)
        progress.update(task, advance=n, rate=f"{rate:,.0f}")

    return progress, advance


def score(
    paths: Sequence[str | Path],
    *,
    model: Any = None,
    out: str | Path | None = None,
    engine: str = "local",
    scheduler: str | None = None,
    workers: int | None = None,
    push: bool = False,
    project: str | None = None,
    batch_size: int = BATCH_SIZE,
    stdout=None,
) -> str:
    """Score the documents in `paths` (files, folders, `-` for JSON Lines on stdin) and write
    records to `out` (.jsonl, .parquet, .csv; stdout as JSON Lines when None). Returns a
    one-line summary."""
    started = time.perf_counter()
    if engine not in ("local", "dask"):
        raise BadInput(f"unknown engine {engine!r}; expected 'local' or 'dask'")
    if scheduler and engine != "dask":
        raise BadInput("--scheduler needs --engine dask")
    if out is not None and Path(out).suffix.lower() not in OUT_SUFFIXES:
        raise BadInput(f"output must end in one of {', '.join(OUT_SUFFIXES)}", out)
    if workers is not None and workers < 1:
        raise BadInput("--workers must be at least 1")
    if batch_size < 1:
        raise BadInput("--batch-size must be at least 1")
    workers = workers or os.cpu_count() or 1
    model = _load_model(model)
    if engine == "dask":
        runner: Any = _DaskEngine(workers, model, scheduler)
    elif workers > 1:
        runner = _LocalPool(workers, model)
    else:
        runner = _InProcess(model)
    spool = _Spool()  # in $TMPDIR: as large as the input
    try:
        n_docs, partners = _pass_signatures(iter_documents(paths), spool, runner, batch_size)
        counts = _pass_score(spool, partners, runner, model, out, batch_size, push, project, stdout)
    finally:
        spool.close()
        runner.close()
    seconds = time.perf_counter() - started
    where = f" -> {out}" if out else ""
    pushed = (
        f"; Label Studio: pushed {counts['pushed']}, {counts.get('already', 0)} already there, "
        f"{counts.get('missing', 0)} without a task"
        if push
        else ""
    )
    return (
        f"scored {n_docs} documents in {seconds:.1f} s ({n_docs / max(seconds, 1e-9):,.0f} docs/s): "
        f"{counts['repeats']} repeated-passage spans in {counts['docs_with_repeats']} documents"
        + (f", {counts['model']} model spans" if model is not None else "")
        + pushed
        + where
    )


def _pass_signatures(docs: Iterator[Document], spool: _Spool, runner, batch_size: int):
    """Pass 1: signatures and own repeats of every document (spooled), joined into partners."""
    index = repeats.CrossIndex()
    bar, advance = _progress("reading", None)
    waiting: collections.deque = collections.deque()  # (id, text) of batches in flight

    def text_batches():
        batch: list[Document] = []
        first = 0
        for doc in docs:
            batch.append(doc)
            if len(batch) >= batch_size:
                waiting.append(batch)
                yield [d.text for d in batch], first
                first += len(batch)
                batch = []
        if batch:
            waiting.append(batch)
            yield [d.text for d in batch], first

    i = 0
    try:
        for signatures in runner.map_ordered(batch_signatures, text_batches()):
            batch = waiting.popleft()
            for doc, (anchors, ids, within) in zip(batch, signatures, strict=True):
                spool.append(doc.id, doc.text, ids, within)
                index.add(i, anchors)
                i += 1
            advance(len(signatures))
    finally:
        if bar is not None:
            bar.stop()
    partners = index.partners() if i > 1 else {}
    index.close()
    return i, partners


def _pass_score(spool, partners, runner, model, out, batch_size, push, project, stdout) -> dict:
    counts = {"repeats": 0, "docs_with_repeats": 0, "model": 0, "pushed": 0}

    def jobs():
        for batch in spool.batches(batch_size):
            needed = {p for b in batch for p in partners.get(b[0], [])}
            in_batch = {b[0] for b in batch}
            part = {b[0]: partners[b[0]] for b in batch if b[0] in partners}
            yield batch, part, {p: spool.get(p) for p in sorted(needed - in_batch)}

    bar, advance = _progress("scoring", len(spool))

    def records() -> Iterator[dict]:
        for batch_records in runner.map_ordered(score_batch, jobs(), with_model=True):
            for r in batch_records:
                n_rep = sum(1 for s in r["spans"] if s.get("source") == repeats.DETECTOR)
                counts["repeats"] += n_rep
                counts["docs_with_repeats"] += bool(n_rep)
                counts["model"] += len(r["spans"]) - n_rep
                yield r
            advance(len(batch_records))

    def write_all(writer) -> None:
        if push:
            _push_while_writing(records(), writer, project, model, counts)
        else:
            for r in records():
                writer.write(r)
        writer.close()

    try:
        if out is None and stdout is None:
            stream = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="\n")
            try:
                write_all(_JsonlWriter(stream))
            finally:
                stream.flush()
                stream.detach()
        elif out is None:
            write_all(_JsonlWriter(stdout))
        else:
            out = Path(out)
            suffix = out.suffix.lower()
            with atomic_path(out) as tmp:
                if suffix == ".parquet":
                    write_all(_ParquetWriter(tmp, model is not None))
                else:
                    with open(tmp, "w", encoding="utf-8", newline="") as f:
                        if suffix == ".csv":
                            write_all(_CsvWriter(f, model is not None))
                        else:
                            write_all(_JsonlWriter(f))
    finally:
        if bar is not None:
            bar.stop()
    return counts


def _push_while_writing(records: Iterator[dict], writer, project, model, counts) -> None:
    """Hand every record to Label Studio (push_predictions) as it passes on to the writer."""
    from annotate.studio.client import push_predictions

    version = getattr(model, "model_version", None) or repeats.MODEL_VERSION
    kwargs: dict[str, Any] = {"model_version": version}
    if project is not None:
        kwargs["project"] = project

    def feed() -> Iterator[dict]:
        for r in records:
            writer.write(r)
            yield r

    result = push_predictions(feed(), **kwargs)
    for r in records:  # whatever push_predictions left unread
        writer.write(r)
    if isinstance(result, dict):
        for key in ("pushed", "already", "missing"):
            counts[key] = int(result.get(key, 0))
