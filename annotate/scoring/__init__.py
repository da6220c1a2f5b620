"""Score documents (CONTRACTS.md section 6): `score_records` yields one record per document, in
input order; `score` writes them to a file or stdout and returns a summary."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from annotate.documents import Document, iter_documents
from annotate.errors import BadInput
from annotate.learn import load_model
from annotate.repeats import MODEL_VERSION
from annotate.scoring.engines import ENGINES
from annotate.scoring.outputs import check_output, open_output
from annotate.scoring.run import ScoringRun

BATCH_SIZE = 256

__all__ = ["BATCH_SIZE", "model_version", "score", "score_documents", "score_records"]


def model_version(model: Any) -> str:
    """The version predictions from `model` carry (the detector's when there is no model)."""
    return getattr(model, "model_version", None) or MODEL_VERSION


def _check_options(engine: str, scheduler: str | None, workers: int | None, batch_size: int):
    if engine not in ENGINES:
        raise BadInput(f"unknown engine {engine!r}; expected 'local' or 'dask'")
    if scheduler and engine != "dask":
        raise BadInput("--scheduler needs --engine dask")
    if workers is not None and workers < 1:
        raise BadInput("--workers must be at least 1")
    if batch_size < 1:
        raise BadInput("--batch-size must be at least 1")


def score_records(
    docs: Iterable[Document],
    model: Any = None,
    *,
    engine: str = "local",
    workers: int = 1,
    scheduler: str | None = None,
    batch_size: int = BATCH_SIZE,
) -> Iterator[dict]:
    """CONTRACTS §6 records for `docs`, one per document, in input order. `model`: a model
    directory or an object with `Model.predict`'s interface (None: repeated passages only)."""
    _check_options(engine, scheduler, workers, batch_size)
    model = load_model(model)
    return _records(docs, model, engine, workers, scheduler, batch_size)


def _records(docs, model, engine, workers, scheduler, batch_size) -> Iterator[dict]:
    with ScoringRun(
        model, engine=engine, workers=workers, scheduler=scheduler, batch_size=batch_size
    ) as run:
        run.read(docs)
        for records, _, _ in run.results():
            yield from records


def score_documents(docs: Iterable[Document], model: Any = None) -> Iterator[dict]:
    """`score_records(docs, model)` in this process (kept for callers of the earlier name)."""
    return score_records(docs, model)


def score(
    paths: Sequence[str | Path],
    model: Any = None,
    out: str | Path | None = None,
    *,
    engine: str = "local",
    scheduler: str | None = None,
    workers: int | None = None,
    batch_size: int = BATCH_SIZE,
    stdout: IO[str] | None = None,
    send_to: Callable[[Iterator[dict]], Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Score the documents in `paths` (files, folders, `-` for JSON Lines on stdin) and write
    the records to `out` (.jsonl, .parquet, .csv; JSON Lines to `stdout`, or standard output,
    when None). `workers` defaults to the number of cores.

    `send_to`, when given, is called once with an iterator over the records, each yielded
    just after it is written (so it sees them as a stream, batch by batch); what it returns
    is the summary's `sent`. It runs before the documents are read, so it can fail early.

    Returns a summary: documents, seconds, docs_per_second, repeats (spans), docs_with_repeats,
    model_spans (with a model), out (None for stdout) and sent (with `send_to`).
    """
    started = time.perf_counter()
    _check_options(engine, scheduler, workers, batch_size)
    check_output(out)
    model = load_model(model)
    workers = workers or os.cpu_count() or 1
    as_text = send_to is None and (out is None or Path(out).suffix.lower() == ".jsonl")
    counts = {"documents": 0, "repeats": 0, "docs_with_repeats": 0, "model": 0}
    options = {"engine": engine, "workers": workers, "scheduler": scheduler}
    written = _written(paths, model, out, options, batch_size, as_text, stdout, counts)
    summary: dict[str, Any] = {}
    with contextlib.closing(written):
        if send_to is not None:
            summary["sent"] = dict(send_to(written))
        for _ in written:  # what the consumer left (or everything, without one)
            pass
    seconds = time.perf_counter() - started
    summary = {
        "documents": counts["documents"],
        "seconds": seconds,
        "docs_per_second": counts["documents"] / max(seconds, 1e-9),
        "repeats": counts["repeats"],
        "docs_with_repeats": counts["docs_with_repeats"],
        **({"model_spans": counts["model"]} if model is not None else {}),
        "out": str(out) if out is not None else None,
        **summary,
    }
    return summary


def _written(paths, model, out, options, batch_size, as_text, stdout, counts) -> Iterator[dict]:
    """Score and write; yields each record once written (none when the workers return text)."""
    with ScoringRun(model, batch_size=batch_size, as_text=as_text, **options) as run:
        counts["documents"] = run.read(iter_documents(paths))
        with open_output(
            out, with_model=model is not None, with_meta=run.with_meta, stdout=stdout
        ) as writer:
            for records, text, batch_counts in run.results():
                for key, value in batch_counts.items():
                    counts[key] += value
                if text is not None:
                    writer.write_text(text)
                    continue
                for record in records:
                    writer.write(record)
                    yield record
