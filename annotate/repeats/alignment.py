"""Alignment of two word-id sequences (or of one with itself): seeds, then gapped extension."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from annotate.repeats.words import SEED_WORDS, shingle_hashes

MIN_WORDS = 8  # a repeated passage has at least this many words (on both sides)
MAX_GAP = 3  # longest run of changed/inserted/deleted words bridged by an alignment
EDIT_PENALTY = 2  # score of one edited word (a matched word scores +1)
X_DROP = 8  # stop extending when the score falls this far below its best
MIN_SIMILARITY = 0.8  # matched words / words of the longer occurrence
SEEDS_PER_SHINGLE = 8  # earlier occurrences of one shingle tried as seeds
FEW_SEEDS = 400  # up to this many candidate shingles, seeds are paired in plain Python

_LOW16 = np.uint64(0xFFFF)


@dataclass(frozen=True)
class Alignment:
    """Word-index regions [a_start, a_end) of document a and [b_start, b_end) of b."""

    a_start: int
    a_end: int
    b_start: int
    b_end: int
    similarity: float


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
        if len(keep) <= FEW_SEEDS:
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
        if len(keep_a) + len(keep_b) <= FEW_SEEDS:
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
    Every `SEED_WORDS`-word shingle is a seed (equal shingles found with one sort). Equal
    shingles are extended in both directions with a greedy gapped X-drop extension (exact
    runs, then the best of a few substitutions/insertions/deletions of up to `MAX_GAP` words),
    so near-copies with a change every five or six words still align; the alignment's ends
    then stretch over one more changed word when the words after it match again and the last
    8 words differ in that word only (`_stretch`: one word in eight changed). An alignment is
    kept when both sides have >= `MIN_WORDS` words and similarity (matched words / longer
    side) >= `MIN_SIMILARITY`. Seeds inside regions already explored are skipped, so the pass
    is linear in practice.
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
