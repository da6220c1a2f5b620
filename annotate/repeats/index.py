"""The cross-document join: per-document anchors -> a few partner documents each (only those
pairs are aligned), spilling to disk for large runs."""

from __future__ import annotations

import os
import tempfile

import numpy as np

COMMON_DF = 50  # an anchor in more documents than this is "common" (boilerplate, phrases)
MAX_PARTNERS = 16  # partner documents aligned per document
MIN_VOTES = 2  # shared anchors needed to propose a partner document


class CrossIndex:
    """Joins per-document anchor signatures into a few partner documents per document.

    Documents are numbered 0, 1, ... in input order. For an anchor shared by at most
    `COMMON_DF` documents, each document votes for the earliest one holding it (the
    earliest votes for the second); for a common anchor (boilerplate, stock phrases), for
    the previous one. A partner needs `MIN_VOTES` votes. Entries spill to disk in buckets
    once `spill_at` are held, so memory stays flat as the run grows.
    """

    def __init__(self, spill_at: int = 1_000_000, buckets: int = 64, tmp_dir: str | None = None):
        self.spill_at = spill_at
        self.n_buckets = buckets
        self.tmp_dir = tmp_dir
        self._parts: list[np.ndarray] = []
        self._held = 0
        self._dir: tempfile.TemporaryDirectory | None = None
        self.n_docs = 0

    def add(self, doc_index: int, doc_anchors: np.ndarray) -> None:
        self.n_docs = max(self.n_docs, doc_index + 1)
        if len(doc_anchors) == 0:
            return
        keys = (doc_anchors.astype(np.uint64) << np.uint64(32)) | np.uint64(doc_index)
        self._parts.append(keys)
        self._held += len(keys)
        if self._held >= self.spill_at:
            self._spill()

    def _bucket_path(self, kind: str, i: int) -> str:
        return os.path.join(self._dir.name, f"{kind}{i}.u64")

    def _spill(self) -> None:
        if not self._parts:
            return
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="annotate-anchors-", dir=self.tmp_dir)
        keys = np.concatenate(self._parts)
        self._parts, self._held = [], 0
        for i, part in _partition(keys, (keys >> np.uint64(32)) % np.uint64(self.n_buckets)):
            with open(self._bucket_path("a", i), "ab") as f:
                part.tofile(f)

    def partners(self) -> dict[int, list[int]]:
        """doc index -> partner doc indices (most votes first, at most MAX_PARTNERS)."""
        try:
            if self._dir is None:
                keys = np.concatenate(self._parts) if self._parts else np.zeros(0, np.uint64)
                votes = _count_votes([_pair_votes(keys)])
            else:
                self._spill()
                votes = self._partners_on_disk()
            return _choose_partners(*votes)
        finally:
            self.close()

    def _partners_on_disk(self):
        # anchor buckets -> pair keys, re-bucketed by document so each vote count fits in memory
        n_pb = self.n_buckets
        for i in range(self.n_buckets):
            path = self._bucket_path("a", i)
            if not os.path.exists(path):
                continue
            pairs = _pair_votes(np.fromfile(path, dtype=np.uint64))
            os.unlink(path)
            for j, part in _partition(pairs, (pairs >> np.uint64(32)) % np.uint64(n_pb)):
                with open(self._bucket_path("p", j), "ab") as f:
                    part.tofile(f)
        docs, partners, counts = [], [], []
        for j in range(n_pb):
            path = self._bucket_path("p", j)
            if not os.path.exists(path):
                continue
            d, p, c = _count_votes([np.fromfile(path, dtype=np.uint64)])
            os.unlink(path)
            docs.append(d)
            partners.append(p)
            counts.append(c)
        if not docs:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(docs), np.concatenate(partners), np.concatenate(counts)

    def close(self) -> None:
        self._parts = []
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None


def _partition(keys: np.ndarray, bucket: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """(bucket, its keys in input order) for every non-empty bucket (one stable radix sort)."""
    small = bucket.astype(np.uint16)
    order = np.argsort(small, kind="stable")
    counts = np.bincount(small)
    bounds = np.concatenate(([0], np.cumsum(counts))).tolist()
    ordered = keys[order]
    return [(i, ordered[bounds[i] : bounds[i + 1]]) for i in range(len(counts)) if counts[i]]


def _pair_votes(keys: np.ndarray) -> np.ndarray:
    """Anchor keys (hash << 32 | doc) -> vote keys (doc << 32 | partner doc)."""
    if len(keys) == 0:
        return np.zeros(0, np.uint64)
    keys = np.sort(keys)
    h = keys >> np.uint64(32)
    same = h[1:] == h[:-1]
    shared = np.zeros(len(keys), dtype=bool)  # anchors held by one document cast no vote
    shared[1:] = same
    shared[:-1] |= same
    keys, h = keys[shared], h[shared]
    if len(keys) == 0:
        return np.zeros(0, np.uint64)
    doc = keys & np.uint64(0xFFFFFFFF)
    new_group = np.ones(len(keys), dtype=bool)
    new_group[1:] = h[1:] != h[:-1]
    group_id = np.cumsum(new_group) - 1
    starts = np.nonzero(new_group)[0]
    sizes = np.diff(np.append(starts, len(keys)))
    size = sizes[group_id]
    first = starts[group_id]
    idx = np.arange(len(keys))
    # the first holder votes for the second; later holders for the first (rare) or previous
    partner_idx = np.where(idx == first, idx + 1, np.where(size > COMMON_DF, idx - 1, first))
    return (doc << np.uint64(32)) | doc[partner_idx]


def _count_votes(parts: list[np.ndarray]):
    votes = np.concatenate(parts) if parts else np.zeros(0, np.uint64)
    if len(votes) == 0:
        z = np.zeros(0, np.int64)
        return z, z, z
    uniq, counts = np.unique(votes, return_counts=True)
    keep = counts >= MIN_VOTES
    uniq, counts = uniq[keep], counts[keep]
    docs = (uniq >> np.uint64(32)).astype(np.int64)
    partners = (uniq & np.uint64(0xFFFFFFFF)).astype(np.int64)
    return docs, partners, counts.astype(np.int64)


def _choose_partners(docs: np.ndarray, partners: np.ndarray, counts: np.ndarray):
    out: dict[int, list[int]] = {}
    order = np.lexsort((partners, -counts, docs))
    for d, p in zip(docs[order].tolist(), partners[order].tolist(), strict=True):
        if d == p:
            continue
        lst = out.setdefault(d, [])
        if len(lst) < MAX_PARTNERS:
            lst.append(p)
    for d in out:
        out[d].sort()
    return out


class Partners:
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
        """Partners of documents first..last-1 that have any."""
        offsets = self.offsets[first : last + 1].tolist()
        flat = self.flat[offsets[0] : offsets[-1]].tolist()
        base = offsets[0]
        return {
            first + k: flat[offsets[k] - base : offsets[k + 1] - base]
            for k in range(last - first)
            if offsets[k + 1] > offsets[k]
        }
