"""The technique classifier's span fields, computed once per document (`SpanFeatures.transform`).

A batch is ~150 heavily overlapping candidate runs per document. Rather than running `WORD_RE`
on each span and on each of its two context windows, and scanning the whole normalised
document for each span's words, every distinct document is tokenised once: a span's words are
a slice of its document's words (`np.searchsorted` of the span's boundaries), the repeats of
a word sequence are counted once per document, and the character tests (case, quotes, marks)
are prefix sums over the document's characters.

The values are those of `span_by_slices` and `marks_by_slices`, the per-span computation,
exactly:

- a boundary that cuts through a word gives that word's cut part, as `findall` of the slice
  does (`sliced_words`);
- the words of a slice of the lower-cased document are the words of the lower-cased slice
  only when lower-casing maps each character to one character on its own. 'İ' becomes two
  characters and 'Σ' depends on its neighbours (final sigma): the spans of a document that
  holds either, and spans whose offsets are not within their text, take the per-span path.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from annotate.learn.features import WORD_RE

SpanItem = tuple[str, int, int]
MARKS = ("upper_ratio", "starts_sentence", "quoted", "ends_q", "ends_excl", "has_q", "has_excl")


# ---- the per-span computation: the reference, and the path of the spans that need it ----------
def normalised(text: str) -> str:
    """The document's words, space-separated and space-framed: what a span's words are
    counted in."""
    return " " + " ".join(WORD_RE.findall(text.lower())) + " "


def span_by_slices(
    text: str, start: int, end: int, width: int, norm_doc: str
) -> tuple[list[str], list[str], list[str], int]:
    """One span's words, left and right context words and repeats, from its own slices."""
    reach = 12 * width
    words = WORD_RE.findall(text[start:end].lower())
    left = WORD_RE.findall(text[max(0, start - reach) : start].lower())[-width:]
    right = WORD_RE.findall(text[end : end + reach].lower())[:width]
    repeats = norm_doc.count(" " + " ".join(words) + " ") if words else 0
    return words, left, right, repeats


def marks_by_slices(text: str, start: int, end: int) -> dict[str, float]:
    """One span's character features (see `MARKS`), from its own slices."""
    piece = text[start:end]
    before = text[max(0, start - 3) : start]
    after = text[end : end + 3]
    stripped = piece.rstrip()
    return {
        "upper_ratio": sum(map(str.isupper, piece)) / max(len(piece), 1),
        "starts_sentence": float(start == 0 or text[start - 1] == "\n" or ". " in before),
        "quoted": float(
            '"' in before
            or "“" in before
            or "'" in before
            or '"' in after
            or "”" in after
            or "'" in after
        ),
        "ends_q": float(stripped.endswith("?") or after.startswith("?")),
        "ends_excl": float(stripped.endswith("!") or after.startswith("!")),
        "has_q": float("?" in piece),
        "has_excl": float("!" in piece),
    }


# ---- the distinct documents of a batch, end to end ---------------------------------------------
@dataclass
class Documents:
    """The distinct documents of a batch of spans, end to end, with one `\\n` between two, so
    a span's offsets become global positions `offset[d] + start`."""

    texts: list[str]
    offset: np.ndarray  # where each document starts
    length: np.ndarray


@dataclass
class Batch:
    """A batch of spans: its distinct documents (by identity, as the reference keys them),
    each span's document, offsets, and whether they are within its text (`0 <= start <= end
    <= len(text)`; a span that is not takes the per-span path)."""

    items: Sequence[SpanItem]
    docs: Documents
    of: np.ndarray
    start: np.ndarray
    end: np.ndarray
    inside: np.ndarray


def batch_of(items: Sequence[SpanItem]) -> Batch:
    index: dict[int, int] = {}
    texts: list[str] = []
    of = []
    for text, _start, _end in items:
        d = index.get(id(text))
        if d is None:
            d = index[id(text)] = len(texts)
            texts.append(text)
        of.append(d)
    length = np.array([len(t) for t in texts], dtype=np.int64)
    offset = np.concatenate([[0], np.cumsum(length + 1)[:-1]]).astype(np.int64)
    docs = Documents(texts, offset, length)
    of = np.array(of, dtype=np.int64)
    start = np.array([s for _t, s, _e in items], dtype=np.int64).reshape(-1)
    end = np.array([e for _t, _s, e in items], dtype=np.int64).reshape(-1)
    inside = (start >= 0) & (start <= end) & (end <= length[of])
    return Batch(items, docs, of, start, end, inside)


# ---- words -----------------------------------------------------------------------------------
_WORD_AFTER_GAP = re.compile(r"\W*\w+")  # a word and the non-word characters before it


@dataclass
class Words:
    """The words (maximal runs of \\w) of the lower-cased documents, with global offsets."""

    lower: str
    starts: np.ndarray
    ends: np.ndarray
    words: list[str]
    exact: np.ndarray  # per document: lower-casing a slice = slicing the lower-cased text

    def document(self, docs: Documents, d: int) -> list[str]:
        first, stop = np.searchsorted(
            self.starts, [docs.offset[d], docs.offset[d] + docs.length[d]]
        )
        return self.words[first:stop]


def document_words(docs: Documents) -> Words:
    lowers = [t.lower() for t in docs.texts]
    exact = np.array(
        [len(low) == len(t) and "Σ" not in t for t, low in zip(docs.texts, lowers, strict=True)],
        dtype=bool,
    )
    # an inexact document is never sliced: blanks keep the others' offsets
    lower = "\n".join(
        low if ok else " " * len(t) for t, low, ok in zip(docs.texts, lowers, exact, strict=True)
    )
    # offsets from the lengths of the matches (no Match object per word)
    words = WORD_RE.findall(lower)
    ends = np.cumsum(np.fromiter(map(len, _WORD_AFTER_GAP.findall(lower)), np.int64, len(words)))
    starts = ends - np.fromiter(map(len, words), np.int64, len(words))
    return Words(lower, starts, ends, words, exact)


def word_ranges(w: Words, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The words `[i0, i1)` that overlap each global slice `[a, b)` (none for an empty one)."""
    i0 = np.searchsorted(w.ends, a, side="right")
    i1 = np.searchsorted(w.starts, b, side="left")
    return i0, np.where(a < b, np.maximum(i1, i0), i0)


@dataclass
class Slices:
    """Global slices `[a, b)` of the lower-cased documents and the words `[i0, i1)` of each."""

    i0: np.ndarray
    i1: np.ndarray
    a: np.ndarray
    b: np.ndarray

    def cut(self, w: Words) -> np.ndarray:
        """Whether the slice cuts through its first or last word."""
        if not w.words:
            return np.zeros(self.a.shape, dtype=bool)
        top = len(w.words) - 1
        first_cut = w.starts[np.minimum(self.i0, top)] < self.a
        last_cut = w.ends[np.clip(self.i1 - 1, 0, top)] > self.b
        return (self.i0 < self.i1) & (first_cut | last_cut)

    def words(self, w: Words):
        """`WORD_RE.findall` of each slice, one list at a time: a word the slice cuts through
        is cut to the slice, as findall of the slice sees it."""
        words, lower, ws, we = w.words, w.lower, w.starts, w.ends
        columns = (self.i0.tolist(), self.i1.tolist(), self.cut(w).tolist())
        for k, (j0, j1, cut) in enumerate(zip(*columns, strict=True)):
            row = words[j0:j1]
            if cut:
                x, y = int(self.a[k]), int(self.b[k])
                row[0] = lower[max(int(ws[j0]), x) : min(int(we[j0]), y)]
                row[-1] = lower[max(int(ws[j1 - 1]), x) : min(int(we[j1 - 1]), y)]
            yield row


def span_slices(w: Words, a: np.ndarray, b: np.ndarray) -> Slices:
    return Slices(*word_ranges(w, a, b), a, b)


def context_slices(w: Words, docs: Documents, of, a, b, width: int) -> tuple[Slices, Slices]:
    """The context windows: `width` words at most, within `12 * width` characters of the span
    and within its document."""
    reach = 12 * width
    first, stop = docs.offset[of], docs.offset[of] + docs.length[of]
    la = np.maximum(first, a - reach)
    l0, l1 = word_ranges(w, la, a)
    rb = np.minimum(stop, b + reach)
    r0, r1 = word_ranges(w, b, rb)
    return Slices(np.maximum(l0, l1 - width), l1, la, a), Slices(
        r0, np.minimum(r1, r0 + width), b, rb
    )


# ---- repeats ---------------------------------------------------------------------------------
def word_frequencies(w: Words, docs: Documents) -> np.ndarray:
    """How often each word occurs in its own document."""
    if not w.words:
        return np.zeros(0, dtype=np.int64)
    index = {x: i for i, x in enumerate(dict.fromkeys(w.words))}
    codes = np.fromiter(map(index.__getitem__, w.words), np.int64, len(w.words))
    document = np.searchsorted(docs.offset, w.starts, side="right") - 1
    _keys, where, counts = np.unique(
        document * len(index) + codes, return_inverse=True, return_counts=True
    )
    return counts[where.reshape(-1)]


def rarest(freq: np.ndarray, s: Slices) -> np.ndarray:
    """The smallest of `freq[i0:i1]` per slice (0 for one without words)."""
    out = np.zeros(s.i0.shape, dtype=np.int64)
    some = s.i0 < s.i1
    if some.any():
        bounds = np.stack([s.i0[some], s.i1[some]], axis=1).reshape(-1)
        out[some] = np.minimum.reduceat(np.append(freq, 0), bounds)[::2]
    return out


def count_repeats(w: Words, docs: Documents, of: np.ndarray, words: list[list[str]], unique):
    """`normalised(text).count(" " + " ".join(words) + " ")` per span, but 1 without looking
    where `unique` (the span's words are whole words of its document and one of them occurs
    only once there: the sequence occurs there, and only there); counted once per distinct
    sequence of each document."""
    repeats = unique.astype(np.int64)
    norm: dict[int, str] = {}
    counted: dict[tuple[int, str], int] = {}
    for k in np.flatnonzero(~unique).tolist():
        if not words[k]:
            continue
        d = int(of[k])
        pattern = " " + " ".join(words[k]) + " "
        n = counted.get((d, pattern))
        if n is None:
            doc = norm.get(d)
            if doc is None:  # `normalised(text)`, from the words already found
                doc = norm[d] = " " + " ".join(w.document(docs, d)) + " "
            n = counted[(d, pattern)] = doc.count(pattern)
        repeats[k] = n
    return repeats


@dataclass
class SpanWords:
    """Per span: its words (lower-cased), how often its word sequence occurs in its document
    (0 for a span without words), and (`contexts`) the words just before and after it."""

    words: list[list[str]]
    repeats: np.ndarray
    all_long: np.ndarray  # known to have no word of one character
    document: Words
    left: Slices
    right: Slices
    by_slices: dict[int, tuple[list[str], list[str]]]  # the spans on the per-span path

    def long_words(self) -> list[list[str]]:
        """Per span, its words of 2 or more characters (the word vectorizer's tokens)."""
        keep = self.all_long.tolist()
        return [
            ws if k else [x for x in ws if len(x) > 1]
            for ws, k in zip(self.words, keep, strict=True)
        ]

    def contexts(self, combine) -> list:
        """`combine(left_words, right_words)` per span (its words live only as long as that)."""
        w = self.document
        out = [
            combine(lw, rw) for lw, rw in zip(self.left.words(w), self.right.words(w), strict=True)
        ]
        for k, (lw, rw) in self.by_slices.items():
            out[k] = combine(lw, rw)
        return out


def span_words(batch: Batch, width: int) -> SpanWords:
    """Every span's words, context words and repeats: from its document's words where that is
    exact (see the module's docstring), else from its own slices."""
    items, docs, of = batch.items, batch.docs, batch.of
    w = document_words(docs)
    fast = batch.inside & w.exact[of] & (width > 0)
    a = docs.offset[of] + np.where(fast, batch.start, 0)
    b = docs.offset[of] + np.where(fast, batch.end, 0)
    span = span_slices(w, a, b)
    words = list(span.words(w))
    whole = fast & ~span.cut(w)
    unique = whole & (rarest(word_frequencies(w, docs), span) == 1)
    one_letter = np.flatnonzero(w.ends - w.starts == 1)
    all_long = whole & (counts_within(one_letter, span.i0, span.i1) == 0)
    repeats = count_repeats(w, docs, of, words, unique)
    by_slices = {}
    norm: dict[int, str] = {}
    for k in np.flatnonzero(~fast).tolist():
        text, s, e = items[k]
        d = int(of[k])
        if d not in norm:
            norm[d] = normalised(text)
        words[k], left, right, repeats[k] = span_by_slices(text, s, e, width, norm[d])
        by_slices[k] = (left, right)
    left, right = context_slices(w, docs, of, a, b, width)
    return SpanWords(words, repeats, all_long, w, left, right, by_slices)


# ---- character marks -------------------------------------------------------------------------
def code_points(docs: Documents) -> np.ndarray:
    """The documents' code points, end to end, and one -1 after the last."""
    joined = "\n".join(docs.texts).encode("utf-32-le", "surrogatepass")
    return np.append(np.frombuffer(joined, dtype="<u4").astype(np.int64), -1)


def char_property(cp: np.ndarray, predicate) -> np.ndarray:
    """`predicate(chr(c))` for each code point (`chr(0)`'s for -1): ASCII from a table, the
    others once per distinct one."""
    out = np.array([predicate(chr(c)) for c in range(128)], dtype=bool)[np.clip(cp, 0, 127)]
    other = cp >= 128
    if other.any():
        distinct, where = np.unique(cp[other], return_inverse=True)
        table = np.array([predicate(chr(c)) for c in distinct.tolist()], dtype=bool)
        out[other] = table[where.reshape(-1)]
    return out


def counts_within(positions: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """How many of the sorted `positions` are in `[a, b)`, per slice."""
    return np.searchsorted(positions, b) - np.searchsorted(positions, a)


def span_marks(batch: Batch) -> dict[str, np.ndarray]:
    """Every span's character features (`MARKS`), from the positions of the characters they
    test in its document."""
    docs, of = batch.docs, batch.of
    cp = code_points(docs)  # cp[p] is valid for every position p up to the very end
    first, stop = docs.offset[of], docs.offset[of] + docs.length[of]
    a = first + np.where(batch.inside, batch.start, 0)
    b = first + np.where(batch.inside, batch.end, 0)

    def where(*chars: str) -> np.ndarray:
        return np.flatnonzero(np.isin(cp, [ord(c) for c in chars]))

    def within(positions, x, y):
        return counts_within(positions, x, y) > 0

    # ". " in the (up to) three characters before the span: a pair starting at a-3 or a-2
    dot_space = where(".")
    dot_space = dot_space[cp[dot_space + 1] == ord(" ")]
    dot_before = within(dot_space, np.maximum(first, a - 3), a - 1)
    newline_before = (a > first) & (cp[np.maximum(a - 1, 0)] == ord("\n"))
    # `piece.rstrip()` ends with the span's last character that is not whitespace
    solid = np.flatnonzero(~char_property(cp, str.isspace))  # never empty: the -1 is solid
    last_solid = solid[np.maximum(np.searchsorted(solid, b) - 1, 0)]
    in_span = (last_solid >= a) & (last_solid < b)
    ends_with = np.where(in_span, cp[last_solid], -1)
    followed_by = np.where(b < stop, cp[b], -1)  # `after.startswith(...)`
    upper = counts_within(np.flatnonzero(char_property(cp, str.isupper)), a, b)
    marks = {
        "upper_ratio": upper / np.maximum(b - a, 1),
        "starts_sentence": (a == first) | newline_before | dot_before,
        "quoted": within(where('"', "“", "'"), np.maximum(first, a - 3), a)
        | within(where('"', "”", "'"), b, np.minimum(stop, b + 3)),
        "ends_q": (ends_with == ord("?")) | (followed_by == ord("?")),
        "ends_excl": (ends_with == ord("!")) | (followed_by == ord("!")),
        "has_q": within(where("?"), a, b),
        "has_excl": within(where("!"), a, b),
    }
    marks = {name: value.astype(np.float64) for name, value in marks.items()}
    for k in np.flatnonzero(~batch.inside).tolist():
        for name, value in marks_by_slices(*batch.items[k]).items():
            marks[name][k] = value
    return marks
