"""Score documents: repeated passages (no model needed) and, with a model, propaganda spans
and frames. Records follow CONTRACTS.md section 6, one per input document, in input order.

`score()` streams in two passes. Pass 1: the parent reads the inputs once and hands batches
of (id, text) to the workers, which tokenise each document once and return it packed
(`pack_document`: text, word ids, own repeats) with its anchors; the parent appends the
packed bytes to an unlinked temporary file (the spool) and feeds the anchors to the global
join (`repeats.CrossIndex`, spilling to disk), which proposes partner documents. Pass 2:
each job names a batch by spool offsets; workers read the batch and its partners from the
spool themselves (forked workers through the inherited descriptor, a Dask LocalCluster's
through /proc; a cluster elsewhere gets the bytes), keep recently used partners, align,
run the model, and return the records (as JSON Lines text when that is the output), which
the parent writes (and pushes to Label Studio, batch by batch) in input order. Memory stays
flat as the input grows: a few bytes per document plus the batches in flight. Engines:
`local` (a process pool of `workers`) or `dask` (a `distributed` cluster: `scheduler`
address, or a LocalCluster), with identical output.
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


# ---- packed documents: what pass 1 learns about a document, as bytes -------------------------
#
# Per document: a header (id bytes, text bytes, words, own occurrences), the id and text in
# UTF-8, the word ids (uint32), the own occurrences' word positions (int64 x 5) and
# similarities (float64). Pass 1 workers return these; the spool holds them back to back;
# pass 2 workers read them (from the spool's file descriptor, or shipped as bytes).

_HEADER = struct.Struct("<IIII")
_OCC_INTS = 5


def pack_document(doc_id: str, text: str, ids: np.ndarray, within: list) -> bytes:
    """One document's pass-1 result as bytes (see `unpack_documents`)."""
    id_bytes = doc_id.encode("utf-8", "surrogatepass")
    text_bytes = text.encode("utf-8", "surrogatepass")
    ints = np.array(
        [(o.start, o.end, o.of_doc, o.of_start, o.of_end) for o in within], dtype=np.int64
    )
    sims = np.array([o.similarity for o in within], dtype=np.float64)
    return b"".join(
        (
            _HEADER.pack(len(id_bytes), len(text_bytes), len(ids), len(within)),
            id_bytes,
            text_bytes,
            np.ascontiguousarray(ids, dtype=np.uint32).tobytes(),
            ints.tobytes(),
            sims.tobytes(),
        )
    )


@dataclasses.dataclass
class _Doc:
    """A document in pass 2: its input position, id, text, word ids, own occurrences."""

    index: int
    id: str
    text: str
    ids: np.ndarray
    within: list


def unpack_documents(buf: bytes, first_index: int) -> list[_Doc]:
    """Documents packed back to back (`pack_document`), numbered from `first_index`."""
    out = []
    view = memoryview(buf)
    pos, index = 0, first_index
    while pos < len(buf):
        n_id, n_text, n_words, n_occ = _HEADER.unpack_from(buf, pos)
        pos += _HEADER.size
        doc_id = str(view[pos : pos + n_id], "utf-8", "surrogatepass")
        pos += n_id
        text = str(view[pos : pos + n_text], "utf-8", "surrogatepass")
        pos += n_text
        ids = np.frombuffer(buf, dtype=np.uint32, count=n_words, offset=pos)
        pos += 4 * n_words
        within = []
        if n_occ:
            ints = np.frombuffer(buf, dtype=np.int64, count=n_occ * _OCC_INTS, offset=pos)
            pos += 8 * n_occ * _OCC_INTS
            sims = np.frombuffer(buf, dtype=np.float64, count=n_occ, offset=pos)
            pos += 8 * n_occ
            rows = ints.reshape(n_occ, _OCC_INTS).tolist()
            within = [
                repeats.Occurrence(*row, sim) for row, sim in zip(rows, sims.tolist(), strict=True)
            ]
        out.append(_Doc(index, doc_id, text, ids, within))
        index += 1
    return out


def batch_signatures(docs: Sequence[tuple[str, str]], first_index: int) -> tuple:
    """Pass 1 work on (id, text) pairs: (packed documents as one bytes object, packed length
    of each, all anchors concatenated (uint32), number of anchors of each)."""
    packed, anchor_parts = [], []
    for n, (doc_id, text) in enumerate(docs):
        anchors, ids, within = repeats.signature(text, first_index + n)
        packed.append(pack_document(doc_id, text, ids, within))
        anchor_parts.append(np.asarray(anchors, dtype=np.uint32))
    return (
        b"".join(packed),
        np.fromiter(map(len, packed), dtype=np.int64, count=len(packed)),
        np.concatenate(anchor_parts) if anchor_parts else np.zeros(0, np.uint32),
        np.fromiter(map(len, anchor_parts), dtype=np.int64, count=len(anchor_parts)),
    )


# ---- pass 2: a batch of documents and their partners -> records ------------------------------


class _DocCache:
    """Per process, per run: recently used documents (by input position) with their word ids
    as a list, shingle hashes and word spans, so partners shared by consecutive batches are
    read and prepared once. Bounded (`size` documents)."""

    def __init__(self, size: int = 512):
        self.size = size
        self.run = None
        self.docs: collections.OrderedDict[int, _Doc] = collections.OrderedDict()
        self.words: dict[int, list[int]] = {}
        self.shingles: dict[int, np.ndarray] = {}
        self.spans: dict = {}  # repeats.to_repeats fills it (index -> word offsets)

    def start(self, run: str) -> None:
        if run != self.run:
            self.run = run
            self.docs.clear()
            self.words.clear()
            self.shingles.clear()
            self.spans.clear()

    def get(self, i: int) -> _Doc | None:
        d = self.docs.get(i)
        if d is not None:
            self.docs.move_to_end(i)
        return d

    def put(self, d: _Doc) -> None:
        self.docs[d.index] = d
        self.docs.move_to_end(d.index)
        while len(self.docs) > self.size:
            old, _ = self.docs.popitem(last=False)
            self.words.pop(old, None)
            self.shingles.pop(old, None)
            self.spans.pop(old, None)

    def forget(self, indices: Iterable[int]) -> None:
        """Drop what was derived for documents that are not held (a batch's own)."""
        for i in indices:
            if i not in self.docs:
                self.words.pop(i, None)
                self.shingles.pop(i, None)
                self.spans.pop(i, None)

    def words_of(self, d: _Doc) -> list[int]:
        w = self.words.get(d.index)
        if w is None:
            w = self.words[d.index] = d.ids.tolist()
        return w


_CACHE = _DocCache()


def score_docs(
    batch: list[_Doc],
    partners: dict[int, list[int]],
    partner_docs: dict[int, _Doc],
    model: Any = None,
    cache: _DocCache | None = None,
) -> list[dict]:
    """Records for the documents of `batch`; partners: index -> partner indices, found in
    `partner_docs` or in the batch itself."""
    cache = cache or _DocCache()
    known = {d.index: d for d in batch}
    known.update(partner_docs)
    for d in partner_docs.values():
        cache.put(d)
    predictions = model.predict([d.text for d in batch]) if model is not None else None
    out = []
    for n, d in enumerate(batch):
        mine = partners.get(d.index)
        if mine:
            pids = {p: cache.words_of(known[p]) for p in mine}
            occs = repeats.doc_occurrences(
                d.index, cache.words_of(d), pids, cache.shingles, within=list(d.within)
            )
        else:
            occs = repeats.merge_occurrences(list(d.within))
        if occs:
            texts = {d.index: (d.id, d.text)}
            for o in occs:
                if o.of_doc not in texts:
                    of = known[o.of_doc]
                    texts[of.index] = (of.id, of.text)
            reps = repeats.to_repeats(d.id, d.text, occs, texts, cache.spans, d.index)
        else:
            reps = []
        out.append(make_record(d.id, d.text, reps, predictions[n] if predictions else None))
    cache.forget([d.index for d in batch])
    return out


def _count(records: list[dict]) -> dict:
    counts = {"repeats": 0, "docs_with_repeats": 0, "model": 0}
    for r in records:
        n_rep = sum(1 for s in r["spans"] if s.get("source") == repeats.DETECTOR)
        counts["repeats"] += n_rep
        counts["docs_with_repeats"] += bool(n_rep)
        counts["model"] += len(r["spans"]) - n_rep
    return counts


def _jsonl(records: list[dict]) -> str:
    return "".join([json.dumps(r, ensure_ascii=False) + "\n" for r in records])


@dataclasses.dataclass
class _Job:
    """Pass 2 work for one batch: documents first..first+len(sizes) of the run `run`, packed
    at spool bytes [start, start + sum(sizes)), their partners (index -> partner indices) and
    where each partner outside the batch is packed (index -> (offset, length)). The bytes come
    either from the spool's file descriptor `fd` (a forked worker or this process) or with the
    job (`data`: the batch, `partner_data`: index -> packed partner), or from `path` (workers of
    a Dask LocalCluster: other processes on this machine)."""

    run: str
    first: int
    start: int
    length: int
    partners: dict[int, list[int]]
    partner_at: dict[int, tuple[int, int]]
    jsonl: bool
    fd: int | None = None
    path: str | None = None  # the spool as another local process sees it (/proc/PID/fd/N)
    data: bytes | None = None
    partner_data: dict[int, bytes] | None = None


def score_job(job: _Job, model: Any = None) -> tuple[list[dict] | None, str | None, dict]:
    """Run one pass-2 job: (records, or None when `job.jsonl`; JSON Lines text, or None; counts)."""
    cache = _CACHE
    cache.start(job.run)
    fd = job.fd if job.path is None else _open_spool(job.path, job.run)
    data = job.data if job.data is not None else os.pread(fd, job.length, job.start)
    batch = unpack_documents(data, job.first)
    partner_docs = {}
    for p, (offset, length) in job.partner_at.items():
        d = cache.get(p)
        if d is None:
            if job.partner_data is not None:
                raw = job.partner_data[p]
            else:
                raw = os.pread(fd, length, offset)
            (d,) = unpack_documents(raw, p)
        partner_docs[p] = d
    records = score_docs(batch, job.partners, partner_docs, model, cache)
    counts = _count(records)
    if job.jsonl:
        return None, _jsonl(records), counts
    return records, None, counts


_OPEN_SPOOL: dict[str, tuple[str, int]] = {}  # path -> (run, descriptor), in a Dask worker


def _open_spool(path: str, run: str) -> int:
    held = _OPEN_SPOOL.get(path)
    if held is not None and held[0] == run:
        return held[1]
    for _, fd in _OPEN_SPOOL.values():
        os.close(fd)
    _OPEN_SPOOL.clear()
    fd = os.open(path, os.O_RDONLY)
    _OPEN_SPOOL[path] = (run, fd)
    return fd


def score_documents(docs: Iterable[Document], model: Any = None) -> Iterator[dict]:
    """CONTRACTS §6 records for `docs` (in memory, one process), in input order.

    Pass 1 packs each document (text, word ids, own repeats) into one growing buffer, a batch
    at a time; pass 2 unpacks a batch and its partners when it needs them. So beside `docs`,
    one packed copy of the texts is held."""
    docs = list(docs)
    packed = bytearray()
    at = [0]
    index = repeats.CrossIndex()
    for lo in range(0, len(docs), BATCH_SIZE):
        chunk = docs[lo : lo + BATCH_SIZE]
        data, sizes, anchors, n_anchors = batch_signatures([(d.id, d.text) for d in chunk], lo)
        packed += data
        at.extend((at[-1] + np.cumsum(sizes)).tolist())
        bounds = np.concatenate(([0], np.cumsum(n_anchors)))
        for i in range(len(chunk)):
            index.add(lo + i, anchors[bounds[i] : bounds[i + 1]])
    partners = index.partners() if len(docs) > 1 else {}
    view = memoryview(packed)

    def unpack(lo: int, hi: int) -> list[_Doc]:
        return unpack_documents(view[at[lo] : at[hi]], lo)

    cache = _DocCache()
    for lo in range(0, len(docs), BATCH_SIZE):
        batch = unpack(lo, min(lo + BATCH_SIZE, len(docs)))
        needed = {p for d in batch for p in partners.get(d.index, [])}
        known = {p: cache.get(p) or unpack(p, p + 1)[0] for p in needed}
        yield from score_docs(batch, partners, known, model, cache)


# ---- engines --------------------------------------------------------------------------------


class _InProcess:
    def __init__(self, model):
        self.model = model

    def spool_access(self, spool: _Spool) -> dict:
        """How pass 2 jobs reach the spool: its descriptor (here)."""
        return {"fd": spool.fd}

    def warm(self) -> None:
        pass

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


def _nothing() -> None:
    return None


class _LocalPool:
    """A process pool; at most 2 x workers batches in flight; results in submission order.
    Forked workers (Linux) inherit the spool's file descriptor and read pass 2 inputs
    themselves; elsewhere the inputs travel with the jobs."""

    def __init__(self, workers: int, model):
        import multiprocessing

        self.workers = workers
        self.model = model
        self.pool = None
        self.in_flight = 2 * workers
        self.method = "fork" if sys.platform == "linux" else "spawn"
        self.context = multiprocessing.get_context(self.method)

    def _start(self):
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(
            self.workers, mp_context=self.context, initializer=_init_worker, initargs=(self.model,)
        )

    def spool_access(self, spool: _Spool) -> dict:
        """Forked workers inherit the spool's descriptor; spawned ones get bytes (empty)."""
        return {"fd": spool.fd} if self.method == "fork" else {}

    def warm(self) -> None:
        """Start the workers now (before any other thread of ours exists: fork is safe)."""
        if self.pool is None:
            self.pool = self._start()
            self.pool.submit(_nothing).result()

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
    """`distributed`: the model is broadcast to workers once; results gathered in order.
    Workers may be on other machines: pass 2 inputs travel with the jobs, as bytes."""

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
            import dask

            # our own cluster, quiet: no statistical profiler (samples every 10 ms), no GIL
            # monitor, slower ticks: idle, the defaults cost 13% of a core, these 2%
            quiet = {
                "distributed.worker.profile.enabled": False,
                "distributed.admin.system-monitor.gil.enabled": False,
                "distributed.admin.tick.interval": "1s",
                "distributed.admin.system-monitor.interval": "2s",
                "distributed.worker.memory.monitor-interval": "1s",
            }
            with dask.config.set(quiet):
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

    def warm(self) -> None:
        pass

    def spool_access(self, spool: _Spool) -> dict:
        """Workers of our own LocalCluster open the spool through /proc (same machine);
        a cluster elsewhere gets the bytes with each job (empty)."""
        path = f"/proc/{os.getpid()}/fd/{spool.fd}"
        if self.cluster is None or not os.path.exists(path):
            return {}
        try:
            seen = self.client.run(os.path.exists, path)
        except Exception:  # a worker that cannot answer: send bytes
            return {}
        return {"path": path} if seen and all(seen.values()) else {}

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


# ---- spool: pass 1 results, re-readable by position -------------------------------------------


class _Spool:
    """Packed documents (`pack_document`) back to back in an unlinked temporary file, with
    the offset of each; read back by byte range (os.pread: no shared file position, so
    forked workers read it through the inherited descriptor)."""

    def __init__(self, tmp_dir: str | None = None):
        fd, path = tempfile.mkstemp(prefix=".annotate-score-", suffix=".spool", dir=tmp_dir)
        os.unlink(path)  # nothing is left behind, however the process ends
        self.file = os.fdopen(fd, "wb", buffering=1 << 20)
        self.fd = fd
        self.offsets = array("q", [0])  # offsets[i] = start of document i; last = size

    def append(self, packed: bytes, sizes: Sequence[int]) -> None:
        """Documents packed back to back, with their sizes."""
        self.file.write(packed)
        end = self.offsets[-1]
        for s in sizes:
            end += int(s)
            self.offsets.append(end)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def flush(self) -> None:
        self.file.flush()

    def span(self, first: int, last: int) -> tuple[int, int]:
        """(offset, length) of documents first..last-1."""
        return self.offsets[first], self.offsets[last] - self.offsets[first]

    def read(self, offset: int, length: int) -> bytes:
        return os.pread(self.fd, length, offset)

    def close(self) -> None:
        self.file.close()


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

    def write_text(self, text: str) -> None:
        """Records already encoded as JSON Lines (by a worker)."""
        self.stream.write(text)

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
    pusher = None
    try:
        if push:
            runner.warm()  # fork the workers before the push thread exists
            version = getattr(model, "model_version", None) or repeats.MODEL_VERSION
            pusher = _Pusher(project, version)
        check = pusher.check if pusher is not None else (lambda: None)
        n_docs, partners = _pass_signatures(iter_documents(paths), spool, runner, batch_size, check)
        counts = _pass_score(spool, partners, runner, model, out, batch_size, pusher, stdout)
    except BaseException:
        if pusher is not None:
            pusher.abandon()
        raise
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


def _pass_signatures(docs: Iterator[Document], spool: _Spool, runner, batch_size: int, check):
    """Pass 1: signatures and own repeats of every document (spooled), joined into partners.
    `check()` is called after every batch (raises to stop early)."""
    index = repeats.CrossIndex()
    bar, advance = _progress("reading", None)

    def batches():
        batch: list[tuple[str, str]] = []
        first = 0
        for doc in docs:
            batch.append((doc.id, doc.text))
            if len(batch) >= batch_size:
                yield batch, first
                first += len(batch)
                batch = []
        if batch:
            yield batch, first

    i = 0
    try:
        for packed, sizes, anchors, n_anchors in runner.map_ordered(batch_signatures, batches()):
            spool.append(packed, sizes)
            ends = np.cumsum(n_anchors).tolist()
            start = 0
            for end in ends:
                index.add(i, anchors[start:end])
                start = end
                i += 1
            advance(len(sizes))
            check()
    finally:
        if bar is not None:
            bar.stop()
    partners = _Partners(index.partners() if i > 1 else {}, i)
    index.close()
    spool.flush()
    return i, partners


class _Partners:
    """Partner documents of every document, compact (two arrays, 8-12 bytes a partner, instead
    of a dict of lists of ints at ~45): `of(first, last)` -> {index: [partners]}."""

    def __init__(self, partners: dict[int, list[int]], n_docs: int):
        counts = np.zeros(n_docs + 1, dtype=np.int64)
        for i, ps in partners.items():
            counts[i + 1] = len(ps)
        self.offsets = np.cumsum(counts)
        self.flat = np.zeros(int(self.offsets[-1]), dtype=np.int64)
        for i, ps in partners.items():
            self.flat[self.offsets[i] : self.offsets[i + 1]] = ps
        partners.clear()

    def of(self, first: int, last: int) -> dict[int, list[int]]:
        offsets = self.offsets[first : last + 1].tolist()
        flat = self.flat[offsets[0] : offsets[-1]].tolist()
        base = offsets[0]
        return {
            first + k: flat[offsets[k] - base : offsets[k + 1] - base]
            for k in range(last - first)
            if offsets[k + 1] > offsets[k]
        }


def _jobs(spool: _Spool, partners: _Partners, batch_size: int, jsonl: bool, access: dict):
    run = f"{os.getpid()}-{time.time_ns()}-{id(spool)}"  # worker caches are per run
    n = len(spool)
    for first in range(0, n, batch_size):
        last = min(first + batch_size, n)
        part = partners.of(first, last)
        outside = sorted({p for ps in part.values() for p in ps if not first <= p < last})
        partner_at = {p: spool.span(p, p + 1) for p in outside}
        start, length = spool.span(first, last)
        job = _Job(run, first, start, length, part, partner_at, jsonl)
        if access:
            job.fd, job.path = access.get("fd"), access.get("path")
        else:
            job.data = spool.read(start, length)
            job.partner_data = {p: spool.read(*at) for p, at in partner_at.items()}
        yield (job,)


def _pass_score(
    spool, partners, runner, model, out, batch_size, pusher: _Pusher | None, stdout
) -> dict:
    """Pass 2: records in input order to the output (and to Label Studio)."""
    counts = {"repeats": 0, "docs_with_repeats": 0, "model": 0, "pushed": 0}
    bar, advance = _progress("scoring", len(spool))

    def write_all(writer) -> None:
        jsonl = isinstance(writer, _JsonlWriter) and pusher is None
        jobs = _jobs(spool, partners, batch_size, jsonl, runner.spool_access(spool))
        for records, text, batch_counts in runner.map_ordered(score_job, jobs, with_model=True):
            for key, value in batch_counts.items():
                counts[key] += value
            if text is not None:
                writer.write_text(text)
                advance(text.count("\n"))
                continue
            for r in records:
                writer.write(r)
            if pusher is not None:
                pusher.put(records)
            advance(len(records))
        writer.close()
        if pusher is not None:
            counts.update(pusher.finish())

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


class _Pusher:
    """Sends records to Label Studio (`push_predictions`) from a background thread, started
    before pass 1 so the project and its tasks are looked up while documents are read, and
    fed batch by batch in pass 2 through a bounded queue (a few batches held at most)."""

    _END = None

    def __init__(self, project: str | None, model_version: str, max_batches: int = 4):
        import queue
        import threading

        self.queue: queue.Queue = queue.Queue(max_batches)
        self.error: BaseException | None = None
        self.ended = False
        self.result: dict = {}
        kwargs: dict[str, Any] = {"model_version": model_version}
        if project is not None:
            kwargs["project"] = project
        self.thread = threading.Thread(target=self._run, args=(kwargs,), daemon=True)
        self.thread.start()

    def _records(self) -> Iterator[dict]:
        while (batch := self.queue.get()) is not self._END:
            yield from batch
        self.ended = True

    def _run(self, kwargs) -> None:
        from annotate.studio.client import push_predictions

        try:
            result = push_predictions(self._records(), **kwargs)
            self.result = result if isinstance(result, dict) else {}
        except BaseException as exc:  # handed to the main thread
            self.error = exc
        finally:
            while not self.ended:  # unblock a producer, whatever happened
                self.ended = self.queue.get() is self._END

    def check(self) -> None:
        """Raise the push's error, if it failed (e.g. no such project)."""
        if self.error is not None:
            raise self.error

    def put(self, records: list[dict]) -> None:
        import queue

        while True:
            self.check()
            try:
                self.queue.put(records, timeout=0.5)
                return
            except queue.Full:
                if not self.thread.is_alive():
                    self.check()
                    raise RuntimeError("the push to Label Studio stopped") from None

    def finish(self) -> dict:
        """Wait for the last batch to be sent; counts pushed/already/missing."""
        self.put(self._END)
        self.thread.join()
        self.check()
        return {k: int(self.result.get(k, 0)) for k in ("pushed", "already", "missing")}

    def abandon(self) -> None:
        """Stop feeding (on an error elsewhere): the thread ends after what it has."""
        if self.thread.is_alive():
            with contextlib.suppress(Exception):
                self.queue.put(self._END, timeout=5)
