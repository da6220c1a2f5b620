"""Occurrences of repeated passages in word indices: found within a document, merged, and made
`Repeat`s (character offsets)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from annotate.repeats.alignment import align
from annotate.repeats.words import word_bounds


@dataclass(frozen=True)
class Repeat:
    """One occurrence of a repeated passage in `doc_id`, pointing to another occurrence."""

    doc_id: str
    start: int
    end: int
    text: str
    of_id: str
    of_start: int
    of_end: int
    score: float


@dataclass
class Occurrence:
    """A repeated passage in one document (word indices) and the occurrence it points to."""

    start: int
    end: int
    of_doc: int  # index of the document pointed to (input order)
    of_start: int
    of_end: int
    similarity: float


def occurrences_within(ids: Sequence[int], doc_index: int = 0, shingles=None) -> list[Occurrence]:
    """Both occurrences of every passage repeated inside one document."""
    out = []
    for al in align(ids, ids, a_shingles=shingles):
        out.append(Occurrence(al.b_start, al.b_end, doc_index, al.a_start, al.a_end, al.similarity))
        out.append(Occurrence(al.a_start, al.a_end, doc_index, al.b_start, al.b_end, al.similarity))
    return out


def merge_occurrences(occs: list[Occurrence]) -> list[Occurrence]:
    """One occurrence per stretch of text: overlapping finds merge, pointing to the earliest."""
    if not occs:
        return []
    occs = sorted(occs, key=lambda o: (o.start, -o.end, o.of_doc, o.of_start))
    groups: list[list[Occurrence]] = []
    for o in occs:
        if groups:
            g = groups[-1]
            g_start, g_end = g[0].start, max(x.end for x in g)
            overlap = min(g_end, o.end) - max(g_start, o.start)
            shorter = min(g_end - g_start, o.end - o.start)
            if overlap > 0 and overlap * 2 >= shorter:
                g.append(o)
                continue
        groups.append([o])
    merged = []
    for g in groups:
        start, end = min(x.start for x in g), max(x.end for x in g)
        full = [x for x in g if (x.end - x.start) * 10 >= (end - start) * 9] or g
        best = min(full, key=lambda x: (x.of_doc, x.of_start, -(x.end - x.start)))
        sim = best.similarity * (best.end - best.start) / (end - start)
        merged.append(
            Occurrence(start, end, best.of_doc, best.of_start, best.of_end, round(min(sim, 1.0), 4))
        )
    return merged


def to_repeats(
    doc_id: str,
    text: str,
    occs: list[Occurrence],
    texts_by_index: dict[int, tuple[str, str]],
    spans_cache: dict | None = None,
    doc_index: int | None = None,
) -> list[Repeat]:
    """Word-index occurrences -> character-offset `Repeat`s (texts_by_index: index -> (id, text);
    spans_cache: index -> word starts and ends, filled as needed, also for `doc_index`)."""
    if not occs:
        return []
    cache = {} if spans_cache is None else spans_cache
    bounds = cache.get(doc_index) if doc_index is not None else None
    if bounds is None:
        bounds = word_bounds(text)
        if doc_index is not None:
            cache[doc_index] = bounds
    starts, ends = bounds
    out = []
    for o in occs:
        of_id, of_text = texts_by_index[o.of_doc]
        of_bounds = cache.get(o.of_doc)
        if of_bounds is None:
            of_bounds = cache[o.of_doc] = word_bounds(of_text)
        start, end = int(starts[o.start]), int(ends[o.end - 1])
        out.append(
            Repeat(
                doc_id=doc_id,
                start=start,
                end=end,
                text=text[start:end],
                of_id=of_id,
                of_start=int(of_bounds[0][o.of_start]),
                of_end=int(of_bounds[1][o.of_end - 1]),
                score=o.similarity,
            )
        )
    return out
