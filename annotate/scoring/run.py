"""One scoring run: an engine, a spool and the two passes (`repeats.TwoPass`) over them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from annotate import ui
from annotate.documents import Document
from annotate.repeats import TwoPass, batch_repeats
from annotate.scoring.engines import WorkerState, make_engine
from annotate.scoring.outputs import jsonl
from annotate.scoring.packing import batch_signatures
from annotate.scoring.records import count_spans, make_record, record_meta
from annotate.scoring.spool import Job, Spool, SpoolStore

JobResult = tuple[list[dict] | None, str | None, dict[str, int]]


def score_job(job: Job, state: WorkerState) -> JobResult:
    """Pass 2 of one batch, wherever it runs: (records, or None when `job.as_text`; JSON Lines
    text, or None; span counts)."""
    cache = state.cache
    cache.start(job.run)
    batch, partner_docs = job.documents(cache, state.spool_fd(job))
    model = state.model
    predictions = model.predict([d.text for d in batch]) if model is not None else None
    found = batch_repeats(batch, job.partners, partner_docs, cache)
    records = [
        make_record(d.id, d.text, reps, predictions[n] if predictions else None, d.meta)
        for n, (d, reps) in enumerate(zip(batch, found, strict=True))
    ]
    counts = count_spans(records)
    if job.as_text:
        return None, jsonl(records), counts
    return records, None, counts


def batches(docs: Iterable[Document], batch_size: int) -> Iterator[tuple[list[tuple], int]]:
    """(id, text, record meta) of `docs` in batches, with the input position of each first."""
    batch: list[tuple] = []
    first = 0
    for doc in docs:
        batch.append((doc.id, doc.text, record_meta(doc.meta)))
        if len(batch) >= batch_size:
            yield batch, first
            first += len(batch)
            batch = []
    if batch:
        yield batch, first


class ScoringRun:
    """`read(docs)`, then `results()`; close it (or use it as a context manager) to stop the
    engine and drop the spool.

    Pass 1 (`read`) signs every document (word ids, own repeats, anchors) on the engine and
    spools it, packed, to an unlinked temporary file while the anchors are joined into partner
    documents. Pass 2 (`results`) reads each batch and its partners back from the spool (in the
    worker), aligns them, runs the model and makes the records: a `JobResult` per batch, in
    input order (`as_text`: as JSON Lines text). Memory stays flat as the input grows: a few
    bytes per document plus the batches in flight. Engines: `local` (this process, or a
    process pool of `workers`) or `dask` (`scheduler` address, or a LocalCluster of our own),
    with identical output.
    """

    def __init__(
        self,
        model: Any,
        *,
        engine: str,
        workers: int,
        scheduler: str | None,
        batch_size: int,
        as_text: bool = False,
    ):
        self.batch_size = batch_size
        self.n_docs = 0
        self.engine = make_engine(engine, workers, model, scheduler)
        try:
            self.spool = Spool()  # in $TMPDIR: as large as the input
            self.store = SpoolStore(self.spool, self.engine.spool_access(self.spool), as_text)
        except BaseException:
            self.engine.close()
            raise
        self.passes = TwoPass(
            self.store,
            batch_signatures,
            score_job,
            map_sign=self.engine.map_ordered,
            map_score=self.engine.map_with_state,
        )

    def __enter__(self) -> ScoringRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def with_meta(self) -> bool:
        """Whether any document read has meta (records with a `meta` field)."""
        return self.store.with_meta

    def read(self, docs: Iterable[Document]) -> int:
        """Pass 1; returns the number of documents."""
        with ui.progress("reading") as advance:
            self.n_docs = self.passes.read(batches(docs, self.batch_size), advance)
        return self.n_docs

    def results(self) -> Iterator[JobResult]:
        """Pass 2, batch by batch."""
        with ui.progress("scoring", self.n_docs) as advance:
            for records, text, counts in self.passes.results(self.batch_size):
                yield records, text, counts
                advance(text.count("\n") if text is not None else len(records or ()))

    def close(self) -> None:
        try:
            self.spool.close()
        finally:
            self.engine.close()
