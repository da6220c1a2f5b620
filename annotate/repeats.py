"""Repeated-passage detector (CONTRACTS.md section 10).

A *word* is a maximal `\\w+` run, compared case-insensitively. A *repeated passage* is a
maximal run of at least `MIN_WORDS` words that occurs more than once among the documents
of one run, verbatim or nearly so (a few words changed, inserted or deleted), possibly cut
mid-sentence. Every occurrence is reported, pointing (`of`) to one other occurrence.

How: words become stable 32-bit ids (numpy over the whole text: code points, a word-character
table, polynomial hashes of the lower-cased runs); every `SEED_WORDS`-word shingle is a seed
(equal shingles found with one sort). Within a document, equal shingles are extended in both
directions with a greedy gapped X-drop extension (exact runs, then the best of a few
substitutions/insertions/deletions of up to `MAX_GAP` words), so near-copies with a change
every five or six words still align; the alignment's ends then stretch over one more changed
word when the words after it match again and the last 8 words differ in that word only
(`_stretch`: one word in eight changed). An alignment is kept when both sides have >=
`MIN_WORDS` words and similarity (matched words / longer side) >= `MIN_SIMILARITY`. Seeds
inside regions already explored are skipped, so the pass is linear in practice. Across
documents, each document contributes a compact signature (its winnowed 4-word shingle hashes,
`anchors()`); `CrossIndex` joins signatures (spilling to disk for large runs) and proposes a
few partner documents per document; only those pairs are aligned.
"""

from __future__ import annotations

import bisect
import os
import re
import tempfile
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from annotate.documents import Document

DETECTOR = "repeats"
# 1.1: anchors winnowed over 3 shingles (more short cross-doc copies)
# 1.2: an alignment end stretches over one changed word followed by matching ones when the
#      last 8 words then differ in that word only (8-word runs with one word substituted)
# 1.3: every 4-word shingle is an anchor (no winnowing): short near-copies across documents
# 1.4: back to anchors winnowed over 3 shingles: 1.3 aligned 2.3x the document pairs and cost
#      `annotate score` about a quarter of its throughput for +0.008 span F1 on the bench
VERSION = "1.4.0"
MODEL_VERSION = f"{DETECTOR}-{VERSION}"

MIN_WORDS = 8  # a repeated passage has at least this many words (on both sides)
SEED_WORDS = 4  # shingle length for seeds: survives one change in five words
MAX_GAP = 3  # longest run of changed/inserted/deleted words bridged by an alignment
EDIT_PENALTY = 2  # score of one edited word (a matched word scores +1)
X_DROP = 8  # stop extending when the score falls this far below its best
MIN_SIMILARITY = 0.8  # matched words / words of the longer occurrence
SEEDS_PER_SHINGLE = 8  # earlier occurrences of one shingle tried as seeds
ANCHOR_WORDS = 4  # anchors (cross-document signatures) are hashes of 4-word shingles...
# ...the minimum of every WINNOW_WINDOW consecutive ones: any 6 verbatim words share one. (1,
# every shingle, finds a few more short near-copies across documents, at 2.3x the pairs.)
WINNOW_WINDOW = 3
COMMON_DF = 50  # an anchor in more documents than this is "common" (boilerplate, phrases)
MAX_PARTNERS = 16  # partner documents aligned per document
MIN_VOTES = 2  # shared anchors needed to propose a partner document
# An anchor shared by at most RARE_DF documents could count twice (recall on short edited
# copies), but at 10,000 documents that multiplies chance partner pairs by 30: off.
RARE_DF = 0

HASH_CHUNK = 1 << 20  # texts (code points) and word sequences are hashed in pieces this long

WORD = re.compile(r"\w+")
_K = np.array(
    [0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93],
    dtype=np.uint64,
)
_SHIFT29, _SHIFT31, _SHIFT32 = np.uint64(29), np.uint64(31), np.uint64(32)
_LOW16 = np.uint64(0xFFFF)
_FEW_SEEDS = 400  # up to this many candidate shingles, seeds are paired in plain Python


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


@dataclass(frozen=True)
class Alignment:
    """Word-index regions [a_start, a_end) of document a and [b_start, b_end) of b."""

    a_start: int
    a_end: int
    b_start: int
    b_end: int
    similarity: float


# ---- words and signatures -----------------------------------------------------------------


_WORD_BMP: np.ndarray | None = None  # is_word of every code point below 0x10000
_LOWER_BMP: np.ndarray | None = None  # every code point below 0x10000 lower-cased
_HASH_P = 0x9E3779B97F4A7C15  # odd: invertible modulo 2**64
_HASH_P_INV = pow(_HASH_P, -1, 1 << 64)
_powers = np.ones(1, dtype=np.uint64)  # _HASH_P ** i modulo 2**64
_inv_powers = np.ones(1, dtype=np.uint64)  # _HASH_P_INV ** i


def _word_table() -> np.ndarray:
    global _WORD_BMP, _LOWER_BMP
    if _WORD_BMP is None:
        bmp = "".join(map(chr, range(0x10000)))
        _LOWER_BMP = np.fromiter(map(_lower_point, range(0x10000)), dtype=np.uint32, count=0x10000)
        _WORD_BMP = np.fromiter(map(bool, map(WORD.fullmatch, bmp)), dtype=bool, count=0x10000)
    return _WORD_BMP


def _lower_point(c: int) -> int:
    """One code point lower-cased to one: str.lower's first character (dotted capital I ->
    i), with final sigma folded to sigma (str.lower picks either by context)."""
    lowered = chr(c).lower()
    return 0x3C3 if lowered == "\u03c2" else ord(lowered[0])


def _hash_powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    global _powers, _inv_powers
    if len(_powers) < n:
        size = max(n, 2 * len(_powers), 1 << 14)
        with np.errstate(over="ignore"):
            _powers = np.cumprod(np.full(size, _HASH_P, dtype=np.uint64)) * np.uint64(_HASH_P_INV)
            _inv_powers = np.cumprod(np.full(size, _HASH_P_INV, dtype=np.uint64)) * np.uint64(
                _HASH_P
            )
    return _powers, _inv_powers


def _code_points(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def _hash_runs(points: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """32-bit hash of every run points[starts[i]:ends[i]] (polynomial modulo 2**64, mixed;
    integer array arithmetic wraps silently). Long texts go in pieces of about HASH_CHUNK
    code points, so the table of powers stays small."""
    n = len(points)
    if n > HASH_CHUNK and len(starts) > 1:
        out = np.empty(len(starts), dtype=np.uint32)
        i = 0
        while i < len(starts):
            base = int(starts[i])
            j = max(i + 1, int(np.searchsorted(ends, base + HASH_CHUNK, "right")))
            piece = points[base : int(ends[j - 1])]
            out[i:j] = _hash_runs(piece, starts[i:j] - base, ends[i:j] - base)
            i = j
        return out
    powers, inv_powers = _hash_powers(n + 1)
    prefix = np.zeros(n + 1, dtype=np.uint64)
    np.cumsum(points * powers[:n], out=prefix[1:])
    h = (prefix[ends] - prefix[starts]) * inv_powers[starts]
    h ^= h >> _SHIFT31
    h *= _K[2]
    return (h >> _SHIFT32).astype(np.uint32)


def _word_bounds(text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Code points of `text`, and character starts and ends of its words."""
    points = _code_points(text)
    if len(points) == 0:
        z = np.zeros(0, dtype=np.int64)
        return points, z, z
    table = _word_table()
    is_word = np.zeros(len(points) + 2, dtype=bool)  # padded with a non-word at both ends
    if int(points.max()) < 0x10000:
        is_word[1:-1] = table[points]
    else:  # astral code points (emoji, rare scripts): looked up one by one
        low = points < 0x10000
        inner = is_word[1:-1]
        inner[low] = table[points[low]]
        high = np.flatnonzero(~low)
        inner[high] = [bool(WORD.fullmatch(chr(c))) for c in points[high].tolist()]
    edges = np.flatnonzero(is_word[1:] != is_word[:-1])
    return points, edges[0::2], edges[1::2]


def tokens(text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Words of `text`: ids (uint32, of the word lower-cased code point by code point, see
    `_lower_point`; the same in every process), character starts and ends (int64), computed
    with numpy over the whole text."""
    points, starts, ends = _word_bounds(text)
    if len(starts) == 0:
        return np.zeros(0, dtype=np.uint32), starts, ends
    if int(points.max()) < 0x10000:
        lowered = _LOWER_BMP[points]
    else:  # astral code points: lower-cased one by one
        high = points >= 0x10000
        lowered = _LOWER_BMP[np.where(high, 0, points)]
        lowered[high] = [_lower_point(c) for c in points[high].tolist()]
    return _hash_runs(lowered, starts, ends), starts, ends


def word_ids(text: str) -> list[int]:
    """Stable 32-bit ids of the lower-cased words (same in every process)."""
    return tokens(text)[0].tolist()


def word_spans(text: str) -> list[tuple[int, int]]:
    """Character [start, end) of every word, in order."""
    _, starts, ends = _word_bounds(text)
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def shingle_hashes(ids: Sequence[int] | np.ndarray, k: int = SEED_WORDS) -> np.ndarray:
    """64-bit hash of every k-word shingle (len(ids) - k + 1 values, uint64)."""
    n = len(ids)
    if n < k:
        return np.zeros(0, dtype=np.uint64)
    w = ids if isinstance(ids, np.ndarray) else np.frombuffer(array("I", ids), dtype=np.uint32)
    if n > HASH_CHUNK:  # in overlapping pieces, so the table of powers stays small
        step = HASH_CHUNK - k + 1
        return np.concatenate(
            [shingle_hashes(w[i : i + HASH_CHUNK], k) for i in range(0, n - k + 1, step)]
        )
    powers, inv_powers = _hash_powers(n + 1)
    prefix = np.zeros(n + 1, dtype=np.uint64)
    np.cumsum(w * powers[:n], out=prefix[1:])  # uint64 arithmetic wraps silently
    h = (prefix[k:] - prefix[:-k]) * inv_powers[: n - k + 1]
    h ^= h >> _SHIFT31
    h *= _K[0]
    h ^= h >> _SHIFT29
    return h


def anchors(ids: Sequence[int], shingles: np.ndarray | None = None) -> np.ndarray:
    """A document's signature: unique winnowed 32-bit shingle hashes (uint32, sorted).

    Winnowing keeps the minimum of every `WINNOW_WINDOW` consecutive shingle hashes, so any
    verbatim run of ANCHOR_WORDS + WINNOW_WINDOW - 1 = 6 words shares at least one anchor.
    """
    if shingles is None or ANCHOR_WORDS != SEED_WORDS:
        shingles = shingle_hashes(ids, ANCHOR_WORDS)
    h = (shingles >> np.uint64(32)).astype(np.uint32)
    if len(h) > WINNOW_WINDOW:
        n = len(h) - WINNOW_WINDOW + 1
        window_min = h[:n].copy()
        for j in range(1, WINNOW_WINDOW):
            np.minimum(window_min, h[j : j + n], out=window_min)
        h = window_min
    h.sort()
    if len(h) > 1:
        h = h[np.concatenate(([True], h[1:] != h[:-1]))]
    return h


# ---- alignment ------------------------------------------------------------------------------


def _extend(a, ai: int, b, bi: int, step: int, a_lim: int, b_lim: int) -> tuple[int, int, int]:
    """Greedy gapped X-drop extension from (ai, bi) in direction `step`.

    Returns (a_pos, b_pos, matches) at the best-scoring point: the positions just past the
    last matched word (in direction `step`).
    """
    score = best = 0
    matches = 0
    best_state = (ai, bi, 0)
    while True:
        while ai != a_lim and bi != b_lim and a[ai] == b[bi]:
            ai += step
            bi += step
            matches += 1
            score += 1
        if score > best:
            best = score
            best_state = (ai, bi, matches)
        if ai == a_lim or bi == b_lim:
            break
        # mismatch: the best nearby restart (substitution, insertion or deletion)
        choice = None
        choice_value = -(10**9)
        for da in range(MAX_GAP + 1):
            x = ai + step * da
            if (x - a_lim) * step >= 0:
                break
            ax = a[x]
            for db in range(MAX_GAP + 1):
                if da == 0 and db == 0:
                    continue
                y = bi + step * db
                if (y - b_lim) * step >= 0:
                    break
                if ax != b[y]:
                    continue
                run = 1
                xx, yy = x + step, y + step
                while run < 6 and xx != a_lim and yy != b_lim and a[xx] == b[yy]:
                    run += 1
                    xx += step
                    yy += step
                cost = max(da, db)
                value = run - EDIT_PENALTY * cost
                if value > choice_value or (value == choice_value and cost < choice[2]):
                    choice_value = value
                    choice = (x, y, cost)
        if choice is None:
            break
        ai, bi, cost = choice
        score -= EDIT_PENALTY * cost
        if best - score > X_DROP:
            break
    return best_state


def _stretch(a, ai: int, b, bi: int, step: int, lims: tuple[int, int], stops: tuple[int, int]):
    """Past the end (ai, bi) of an alignment, in direction `step`: one changed word, when the
    words after it match again and the last MIN_WORDS words then differ in that word only
    (section 10: one word in eight changed; the X-drop extension needs three matching words
    after a change). `lims`: the limits of a and b in direction `step`; `stops`: the
    alignment's other ends (just outside it). Returns (a_pos, b_pos, added matches)."""
    (a_lim, b_lim), (a_stop, b_stop) = lims, stops
    x, y = ai + step, bi + step
    if ai == a_lim or bi == b_lim or x == a_lim or y == b_lim or a[x] != b[y]:
        return ai, bi, 0
    added = 0
    while x != a_lim and y != b_lim and a[x] == b[y] and added < MIN_WORDS - 1:
        added += 1
        x += step
        y += step
    xx, yy = ai - step, bi - step
    for _ in range(MIN_WORDS - 1 - added):  # the words before the change: verbatim
        if xx == a_stop or yy == b_stop or a[xx] != b[yy]:
            return ai, bi, 0
        xx -= step
        yy -= step
    return x, y, added


def _align_seed(a, pa: int, b, pb: int, same: bool = False) -> tuple[int, int, int, int, int]:
    """Extend the seed a[pa..] == b[pb..] both ways: (a_start, a_end, b_start, b_end, matches).

    Within one sequence (`same`, pa < pb) the earlier copy may not run into the later seed
    nor the later copy back into the earlier seed, so tandem repeats cost O(distance)."""
    a_lim = pb if same else len(a)
    a_end, b_end, m1 = _extend(a, pa, b, pb, 1, a_lim, len(b))
    b_floor = min(pa + SEED_WORDS, pb) - 1 if same else -1
    a_first, b_first, m2 = _extend(a, pa - 1, b, pb - 1, -1, -1, b_floor)
    a_end, b_end, m3 = _stretch(a, a_end, b, b_end, 1, (a_lim, len(b)), (a_first, b_first))
    a_first, b_first, m4 = _stretch(a, a_first, b, b_first, -1, (-1, b_floor), (a_end, b_end))
    return a_first + 1, a_end, b_first + 1, b_end, m1 + m2 + m3 + m4


def _seeds(sa: np.ndarray, sb: np.ndarray | None):
    """Seed pairs of equal shingles, with one sort: b positions (ascending), and offsets and
    candidates such that the k-th has a positions cand[offsets[k]:offsets[k+1]] (the earliest
    SEEDS_PER_SHINGLE with its shingle; within one sequence (`sb` None), only earlier ones).
    None if no seed."""
    # first keep only shingles whose low 16 bits occur twice (within) or on both sides
    low_a = (sa & _LOW16).astype(np.uint16)
    if sb is None:
        order = np.argsort(low_a, kind="stable")  # radix sort
        ordered = low_a[order]
        twice = ordered[1:] == ordered[:-1]
        hit = np.zeros(len(low_a), dtype=bool)
        hit[1:] = twice
        hit[:-1] |= twice
        keep = np.sort(order[hit])
        if len(keep) < 2:
            return None
        if len(keep) <= _FEW_SEEDS:
            return _few_seeds(sa[keep].tolist(), keep.tolist(), None, None)
        both, where = sa[keep], keep
    else:
        low_b = (sb & _LOW16).astype(np.uint16)
        in_a = np.zeros(1 << 16, dtype=bool)
        in_a[low_a] = True
        keep_b = np.flatnonzero(in_a[low_b])
        if len(keep_b) == 0:
            return None
        in_b = np.zeros(1 << 16, dtype=bool)
        in_b[low_b[keep_b]] = True
        keep_a = np.flatnonzero(in_b[low_a])
        if len(keep_a) + len(keep_b) <= _FEW_SEEDS:
            return _few_seeds(
                sa[keep_a].tolist(), keep_a.tolist(), sb[keep_b].tolist(), keep_b.tolist()
            )
        both = np.concatenate((sa[keep_a], sb[keep_b]))
        where = np.concatenate((keep_a, keep_b + len(sa)))  # original positions, b after a
    na = len(sa)
    n = len(both)
    bits = n.bit_length()
    keys = (both >> np.uint64(bits)) << np.uint64(bits)
    keys |= np.arange(n, dtype=np.uint64)
    keys.sort()  # by shingle (top bits), then position; a positions come first
    same_group = (keys[1:] >> np.uint64(bits)) == (keys[:-1] >> np.uint64(bits))
    if not same_group.any():
        return None
    pos = where[(keys & np.uint64((1 << bits) - 1)).astype(np.int64)]
    idx = np.arange(n)
    group_first = np.zeros(n, dtype=np.int64)
    group_first[1:] = np.where(same_group, 0, idx[1:])
    np.maximum.accumulate(group_first, out=group_first)
    if sb is None:  # a later position; candidates: the earlier ones of its group
        seed = np.flatnonzero(same_group) + 1
        stop = np.minimum(seed, group_first[seed] + SEEDS_PER_SHINGLE)
        pb = pos[seed]
    else:  # a b position whose group starts with an a position
        is_b = pos >= na
        seed = np.flatnonzero(is_b & (pos[group_first] < na))
        if len(seed) == 0:
            return None
        # in a group the a positions come first: its b positions start at the first b
        b_run_start = is_b.copy()
        b_run_start[1:] &= ~is_b[:-1] | (group_first[1:] == idx[1:])
        first_b = np.where(b_run_start, idx, 0)
        np.maximum.accumulate(first_b, out=first_b)
        stop = np.minimum(first_b[seed], group_first[seed] + SEEDS_PER_SHINGLE)
        pb = pos[seed] - na
    order = np.argsort(pb, kind="stable")
    first, counts = group_first[seed][order], (stop - group_first[seed])[order]
    # candidates of the k-th seed: cand[offsets[k]:offsets[k + 1]]
    offsets = np.zeros(len(order) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    cand = pos[np.repeat(first - offsets[:-1], counts) + np.arange(offsets[-1])]
    return pb[order].tolist(), offsets.tolist(), cand.tolist()


def _few_seeds(a_hashes: list, a_pos: list, b_hashes: list | None, b_pos: list | None):
    """`_seeds` for a few candidate shingles (positions ascending), with a dict."""
    earlier: dict[int, list[int]] = {}
    seed_list: list[int] = []
    offsets = [0]
    cand: list[int] = []
    if b_hashes is None:  # within one sequence: the earlier positions with the same shingle
        for h, p in zip(a_hashes, a_pos, strict=True):
            held = earlier.get(h)
            if held is None:
                earlier[h] = [p]
                continue
            seed_list.append(p)
            cand.extend(held)
            offsets.append(len(cand))
            if len(held) < SEEDS_PER_SHINGLE:
                held.append(p)
    else:
        for h, p in zip(a_hashes, a_pos, strict=True):
            held = earlier.setdefault(h, [])
            if len(held) < SEEDS_PER_SHINGLE:
                held.append(p)
        for h, p in zip(b_hashes, b_pos, strict=True):
            held = earlier.get(h)
            if held:
                seed_list.append(p)
                cand.extend(held)
                offsets.append(len(cand))
    return (seed_list, offsets, cand) if seed_list else None


def align(
    a: Sequence[int],
    b: Sequence[int],
    *,
    a_shingles: np.ndarray | None = None,
    b_shingles: np.ndarray | None = None,
) -> list[Alignment]:
    """Repeated passages between word-id sequences `a` and `b` (or within `a` if `b is a`).

    Within one sequence, the earlier occurrence is on the `a` side and the later on `b`.
    """
    same = b is a
    sa = shingle_hashes(a) if a_shingles is None else a_shingles
    sb = sa if same else (shingle_hashes(b) if b_shingles is None else b_shingles)
    if len(sa) == 0 or len(sb) == 0:
        return []
    seeds = _seeds(sa, None if same else sb)
    if seeds is None:
        return []
    seed_list, offsets, cand = seeds
    if isinstance(a, np.ndarray):
        a = a.tolist()
    if same:
        b = a
    elif isinstance(b, np.ndarray):
        b = b.tolist()

    def candidates(k: int) -> list[int]:
        return cand[offsets[k] : offsets[k + 1]]

    found: list[Alignment] = []
    explored: list[tuple[int, int, int, int]] = []  # (b_start, b_end, diag_lo, diag_hi)
    covered_until = -1  # b positions < this are inside an accepted alignment
    k = 0
    while k < len(seed_list):
        pb = seed_list[k]
        if pb < covered_until:  # jump past the covered stretch
            k = bisect.bisect_left(seed_list, covered_until)
            continue
        k += 1
        if explored:
            explored = [e for e in explored if e[1] > pb]
        for pa in candidates(k - 1):
            diag = pb - pa
            if any(
                e[0] <= pb < e[1] and e[2] - MAX_GAP <= diag <= e[3] + MAX_GAP for e in explored
            ):
                continue
            if a[pa : pa + SEED_WORDS] != b[pb : pb + SEED_WORDS]:
                continue  # hash collision
            a0, a1, b0, b1, matches = _align_seed(a, pa, b, pb, same)
            if same and a1 > b0:  # overlapping (tandem) occurrences: cut the earlier one
                cut = a1 - b0
                a1 -= cut
                b1 = min(b1, b0 + (a1 - a0))
            explored.append((b0, b1, min(diag, b0 - a0), max(diag, b1 - a1)))
            la, lb = a1 - a0, b1 - b0
            if la < MIN_WORDS or lb < MIN_WORDS:
                continue
            similarity = min(1.0, matches / max(la, lb))
            if similarity < MIN_SIMILARITY:
                continue
            found.append(Alignment(a0, a1, b0, b1, round(similarity, 4)))
            covered_until = max(covered_until, b1)
            break
    return found


# ---- occurrences ------------------------------------------------------------------------------


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


def occurrences_across(
    ids: Sequence[int], partner_ids: Sequence[int], partner_index: int, shingles=None
) -> list[Occurrence]:
    """Passages of a document (`ids`) that also occur in a partner document."""
    out = []
    for al in align(partner_ids, ids, b_shingles=shingles):
        out.append(
            Occurrence(al.b_start, al.b_end, partner_index, al.a_start, al.a_end, al.similarity)
        )
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
        bounds = _bounds(text)
        if doc_index is not None:
            cache[doc_index] = bounds
    starts, ends = bounds
    out = []
    for o in occs:
        of_id, of_text = texts_by_index[o.of_doc]
        of_bounds = cache.get(o.of_doc)
        if of_bounds is None:
            of_bounds = cache[o.of_doc] = _bounds(of_text)
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


def _bounds(text: str) -> tuple[np.ndarray, np.ndarray]:
    _, starts, ends = _word_bounds(text)
    return starts, ends


def repeats_within(text: str, doc_id: str = "") -> list[Repeat]:
    """Every occurrence of every passage repeated inside one document, by start."""
    ids, starts, ends = tokens(text)
    occs = merge_occurrences(occurrences_within(ids))
    return to_repeats(doc_id, text, occs, {0: (doc_id, text)}, {0: (starts, ends)}, 0)


# ---- across documents -------------------------------------------------------------------------


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
    votes = (doc << np.uint64(32)) | doc[partner_idx]
    if RARE_DF <= 0:
        return votes
    # an anchor only 2-3 documents share is strong evidence: it counts twice
    return np.concatenate([votes, votes[size <= RARE_DF]])


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


def repeated_passages(docs: Iterable[Document]) -> dict[str, list[Repeat]]:
    """Repeated passages within and across `docs`: doc id -> its occurrences, by start."""
    docs = list(docs)
    words = [tokens(d.text) for d in docs]
    ids = [w[0] for w in words]
    index = CrossIndex()
    for i, w in enumerate(ids):
        index.add(i, anchors(w))
    partners = index.partners() if len(docs) > 1 else {}
    texts = {i: (d.id, d.text) for i, d in enumerate(docs)}
    cache = {i: (w[1], w[2]) for i, w in enumerate(words)}
    shingles: dict[int, np.ndarray] = {}
    out = {}
    for i, d in enumerate(docs):
        occs = doc_occurrences(i, ids[i], {p: ids[p] for p in partners.get(i, [])}, shingles)
        out[d.id] = to_repeats(d.id, d.text, occs, texts, cache, i)
    return out
