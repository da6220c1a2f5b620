"""The detector's steps (sign a document; align a batch with its partners) and `TwoPass`, the
one driver of the two-pass algorithm, used in memory by `repeated_passages` and by scoring."""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from annotate.documents import Document
from annotate.repeats.alignment import align
from annotate.repeats.index import CrossIndex, Partners
from annotate.repeats.occurrences import (
    Occurrence,
    Repeat,
    merge_occurrences,
    occurrences_within,
    to_repeats,
)
from annotate.repeats.words import anchors, shingle_hashes, tokens

DETECTOR = "repeats"
VERSION = "1.4.0"  # stored in predictions (MODEL_VERSION): change it when the output changes
MODEL_VERSION = f"{DETECTOR}-{VERSION}"
BATCH_SIZE = 256  # documents per batch in `repeated_passages`


# ---- per document ---------------------------------------------------------------------------


def signature(text: str, doc_index: int) -> tuple[np.ndarray, np.ndarray, list[Occurrence]]:
    """Everything one document needs from a first pass: its anchors (for the cross-document
    join), its word ids (uint32) and its within-document occurrences (not yet merged)."""
    ids = tokens(text)[0]
    shingles = shingle_hashes(ids)
    return anchors(ids, shingles), ids, occurrences_within(ids, doc_index, shingles)


def doc_occurrences(
    doc_index: int,
    ids: Sequence[int],
    partner_ids: dict[int, Sequence[int]],
    shingles: dict[int, np.ndarray] | None = None,
    within: list[Occurrence] | None = None,
) -> list[Occurrence]:
    """Within-document and cross-document occurrences of one document, merged.

    `shingles` caches shingle hashes by document index (shared across calls); `within`
    are the document's own occurrences when already known (see `signature`)."""
    cache = {} if shingles is None else shingles

    def sh(i, w):
        h = cache.get(i)
        if h is None:
            h = cache[i] = shingle_hashes(w)
        return h

    occs = (
        list(within)
        if within is not None
        else occurrences_within(ids, doc_index, sh(doc_index, ids))
    )
    for p, pids in sorted(partner_ids.items()):
        out = align(pids, ids, a_shingles=sh(p, pids), b_shingles=sh(doc_index, ids))
        occs.extend(
            Occurrence(a.b_start, a.b_end, p, a.a_start, a.a_end, a.similarity) for a in out
        )
    return merge_occurrences(occs)


def repeats_within(text: str, doc_id: str = "") -> list[Repeat]:
    """Every occurrence of every passage repeated inside one document, by start."""
    ids, starts, ends = tokens(text)
    occs = merge_occurrences(occurrences_within(ids))
    return to_repeats(doc_id, text, occs, {0: (doc_id, text)}, {0: (starts, ends)}, 0)


@dataclass
class SignedDoc:
    """A document after pass 1: input position, id, text, word ids, own occurrences."""

    index: int
    id: str
    text: str
    ids: np.ndarray
    within: list[Occurrence]


def sign_documents(
    docs: Sequence[tuple[str, str]], first_index: int
) -> tuple[list[SignedDoc], np.ndarray, np.ndarray]:
    """Pass 1 of a batch of (id, text) pairs numbered from `first_index`: the signed documents,
    all their anchors concatenated (uint32) and the number of anchors of each."""
    signed, parts = [], []
    for n, (doc_id, text) in enumerate(docs):
        doc_anchors, ids, within = signature(text, first_index + n)
        signed.append(SignedDoc(first_index + n, doc_id, text, ids, within))
        parts.append(np.asarray(doc_anchors, dtype=np.uint32))
    return (
        signed,
        np.concatenate(parts) if parts else np.zeros(0, np.uint32),
        np.fromiter(map(len, parts), dtype=np.int64, count=len(parts)),
    )


# ---- pass 2: a batch of documents and their partners ------------------------------------------


class PartnerCache:
    """Recently used documents (by input position) with their word ids as a list, shingle
    hashes and word bounds, so partners shared by consecutive batches are read and prepared
    once. Bounded (`size` documents); `start(run)` empties it when a new run begins."""

    def __init__(self, size: int = 512):
        self.size = size
        self.run: str | None = None
        self.docs: collections.OrderedDict[int, SignedDoc] = collections.OrderedDict()
        self.words: dict[int, list[int]] = {}
        self.shingles: dict[int, np.ndarray] = {}
        self.spans: dict = {}  # to_repeats fills it (index -> word starts and ends)

    def start(self, run: str) -> None:
        if run != self.run:
            self.run = run
            self.docs.clear()
            self.words.clear()
            self.shingles.clear()
            self.spans.clear()

    def get(self, i: int) -> SignedDoc | None:
        d = self.docs.get(i)
        if d is not None:
            self.docs.move_to_end(i)
        return d

    def put(self, d: SignedDoc) -> None:
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

    def words_of(self, d: SignedDoc) -> list[int]:
        w = self.words.get(d.index)
        if w is None:
            w = self.words[d.index] = d.ids.tolist()
        return w


def batch_repeats(
    batch: Sequence[SignedDoc],
    partners: Mapping[int, list[int]],
    partner_docs: Mapping[int, SignedDoc],
    cache: PartnerCache,
) -> list[list[Repeat]]:
    """Pass 2 of a batch: the repeats of each document of `batch`, in order. `partners`: index
    -> partner indices, found in `partner_docs` or in the batch itself."""
    known = {d.index: d for d in batch}
    known.update(partner_docs)
    for d in partner_docs.values():
        cache.put(d)
    out = []
    for d in batch:
        mine = partners.get(d.index)
        if mine:
            pids = {p: cache.words_of(known[p]) for p in mine}
            occs = doc_occurrences(
                d.index, cache.words_of(d), pids, cache.shingles, within=list(d.within)
            )
        else:
            occs = merge_occurrences(list(d.within))
        if occs:
            texts = {d.index: (d.id, d.text)}
            for o in occs:
                if o.of_doc not in texts:
                    of = known[o.of_doc]
                    texts[of.index] = (of.id, of.text)
            out.append(to_repeats(d.id, d.text, occs, texts, cache.spans, d.index))
        else:
            out.append([])
    cache.forget([d.index for d in batch])
    return out


# ---- the two passes -------------------------------------------------------------------------

MapOrdered = Callable[[Callable[..., Any], Iterable[tuple]], Iterable[Any]]


def map_in_order(fn: Callable[..., Any], args_iter: Iterable[tuple]) -> Iterator[Any]:
    """`fn(*args)` for each args, here, in order (what an engine does elsewhere)."""
    for args in args_iter:
        yield fn(*args)


class DocumentStore(Protocol):
    """Where signed documents wait between the passes, and how pass 2 jobs reach them."""

    def keep(self, kept: Any) -> None:
        """Hold what `sign` kept of one batch (batches arrive in input order)."""

    def jobs(self, partners: Partners, batch_size: int) -> Iterator[tuple]:
        """The arguments of `score` for each batch of `batch_size` documents, in input order."""


class TwoPass:
    """The two-pass algorithm, whatever runs the work and wherever documents wait between passes.

    A repeated passage (CONTRACTS.md section 10) may have its other occurrence in any document
    of the run, so every document is signed before any is aligned with its partners.
    `read` (pass 1): `sign(batch, first_index)` each batch (through `map_sign`, e.g. a process
    pool), returning (kept, anchors, anchors per document); `kept` goes to the store and the
    anchors to the cross-document index, which then chooses partners. `results` (pass 2): the
    store turns batches and their partners into jobs, which `score` runs (through `map_score`);
    results come in input order.
    """

    def __init__(
        self,
        store: DocumentStore,
        sign: Callable[..., tuple[Any, np.ndarray, np.ndarray]],
        score: Callable[..., Any],
        *,
        map_sign: MapOrdered = map_in_order,
        map_score: MapOrdered = map_in_order,
    ):
        self.store = store
        self.sign = sign
        self.score = score
        self.map_sign = map_sign
        self.map_score = map_score
        self.n_docs = 0
        self.partners: Partners | None = None

    def read(self, batches: Iterable[tuple], advance: Callable[[int], None] | None = None) -> int:
        """Pass 1 over `batches` (the arguments of `sign`); returns the number of documents."""
        index = CrossIndex()
        try:
            for kept, batch_anchors, n_anchors in self.map_sign(self.sign, batches):
                self.store.keep(kept)
                start = 0
                for end in np.cumsum(n_anchors).tolist():
                    index.add(self.n_docs, batch_anchors[start:end])
                    start = end
                    self.n_docs += 1
                if advance is not None:
                    advance(len(n_anchors))
            chosen = index.partners() if self.n_docs > 1 else {}
        finally:
            index.close()
        self.partners = Partners(chosen, self.n_docs)
        return self.n_docs

    def results(self, batch_size: int) -> Iterator[Any]:
        """Pass 2: `score`'s result for each batch, in input order."""
        if self.partners is None:
            raise RuntimeError("TwoPass.results before read")
        return iter(self.map_score(self.score, self.store.jobs(self.partners, batch_size)))


class _HeldDocuments:
    """A `DocumentStore` in memory: signed documents in a list; jobs for `batch_repeats`."""

    def __init__(self) -> None:
        self.docs: list[SignedDoc] = []
        self.cache = PartnerCache()

    def keep(self, kept: list[SignedDoc]) -> None:
        self.docs.extend(kept)

    def jobs(self, partners: Partners, batch_size: int) -> Iterator[tuple]:
        for first in range(0, len(self.docs), batch_size):
            last = min(first + batch_size, len(self.docs))
            part = partners.of(first, last)
            outside = {p for ps in part.values() for p in ps if not first <= p < last}
            yield self.docs[first:last], part, {p: self.docs[p] for p in outside}, self.cache


def repeated_passages(docs: Iterable[Document]) -> dict[str, list[Repeat]]:
    """Repeated passages within and across `docs`: doc id -> its occurrences, by start."""
    docs = list(docs)
    run = TwoPass(_HeldDocuments(), sign_documents, batch_repeats)
    run.read(
        ([(d.id, d.text) for d in docs[lo : lo + BATCH_SIZE]], lo)
        for lo in range(0, len(docs), BATCH_SIZE)
    )
    found = (reps for batch in run.results(BATCH_SIZE) for reps in batch)
    return {d.id: reps for d, reps in zip(docs, found, strict=True)}
