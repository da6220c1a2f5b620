"""The spool: pass 1's packed documents in an unlinked temporary file, and the pass-2 jobs that
name them by byte range, so memory stays flat however many documents a run has."""

from __future__ import annotations

import os
import tempfile
import time
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from annotate.repeats import PartnerCache, Partners
from annotate.scoring.packing import PackedDoc, unpack_documents


class Spool:
    """Packed documents (`packing.pack_document`) back to back in an unlinked temporary file,
    with the offset of each; read back by byte range (os.pread: no shared file position, so
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


@dataclass
class Job:
    """Pass 2 work for one batch: documents first..first+n of the run `run`, packed at spool
    bytes [start, start + length), their partners (index -> partner indices) and where each
    partner outside the batch is packed (index -> (offset, length)). The bytes come either from
    the spool's file descriptor `fd` (a forked worker or this process), or from `path` (workers
    of a Dask LocalCluster: other processes on this machine), or with the job (`data`: the
    batch, `partner_data`: index -> packed partner). `as_text`: return JSON Lines text."""

    run: str
    first: int
    start: int
    length: int
    partners: dict[int, list[int]]
    partner_at: dict[int, tuple[int, int]]
    as_text: bool
    fd: int | None = None
    path: str | None = None  # the spool as another local process sees it (/proc/PID/fd/N)
    data: bytes | None = None
    partner_data: dict[int, bytes] | None = None

    def documents(
        self, cache: PartnerCache, fd: int | None
    ) -> tuple[list[PackedDoc], dict[int, PackedDoc]]:
        """The batch and its partners from outside it (from `cache` when held there); `fd`:
        the spool's descriptor in this process, when the bytes are not with the job."""
        data = self.data if self.data is not None else os.pread(fd, self.length, self.start)
        batch = unpack_documents(data, self.first)
        partner_docs = {}
        for p, (offset, length) in self.partner_at.items():
            d = cache.get(p)
            if d is None:
                if self.partner_data is not None:
                    raw = self.partner_data[p]
                else:
                    raw = os.pread(fd, length, offset)
                (d,) = unpack_documents(raw, p)
            partner_docs[p] = d
        return batch, partner_docs


class SpoolStore:
    """A `repeats.DocumentStore` on a spool: keeps `packing.batch_signatures`' output and
    makes a `Job` per batch. `access`: how jobs reach the spool ({"fd": N}, {"path": P}, or
    empty: the bytes travel with each job)."""

    def __init__(self, spool: Spool, access: dict, as_text: bool):
        self.spool = spool
        self.access = access
        self.as_text = as_text
        self.with_meta = False  # whether any document kept has meta

    def keep(self, kept: tuple[bytes, Sequence[int], bool]) -> None:
        packed, sizes, with_meta = kept
        self.spool.append(packed, sizes)
        self.with_meta |= with_meta

    def jobs(self, partners: Partners, batch_size: int) -> Iterator[tuple[Job]]:
        spool = self.spool
        spool.flush()
        run = f"{os.getpid()}-{time.time_ns()}-{id(spool)}"  # worker caches are per run
        n = len(spool)
        for first in range(0, n, batch_size):
            last = min(first + batch_size, n)
            part = partners.of(first, last)
            outside = sorted({p for ps in part.values() for p in ps if not first <= p < last})
            partner_at = {p: spool.span(p, p + 1) for p in outside}
            start, length = spool.span(first, last)
            job = Job(run, first, start, length, part, partner_at, self.as_text)
            if self.access:
                job.fd, job.path = self.access.get("fd"), self.access.get("path")
            else:
                job.data = spool.read(start, length)
                job.partner_data = {p: spool.read(*at) for p, at in partner_at.items()}
            yield (job,)
