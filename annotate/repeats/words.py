"""Words (maximal `\\w+` runs, compared case-insensitively) as stable 32-bit ids, and hashes of
their shingles: the repeated-passage detector's numpy kernels."""

from __future__ import annotations

import re
from array import array
from collections.abc import Sequence

import numpy as np

SEED_WORDS = 4  # shingle length for seeds: survives one change in five words
ANCHOR_WORDS = 4  # anchors (cross-document signatures) are hashes of 4-word shingles...
# ...the minimum of every WINNOW_WINDOW consecutive ones: any 6 verbatim words share one. (1,
# every shingle, finds a few more short near-copies across documents, at 2.3x the pairs.)
WINNOW_WINDOW = 3

HASH_CHUNK = 1 << 20  # texts (code points) and word sequences are hashed in pieces this long

WORD = re.compile(r"\w+")
_K = np.array(
    [0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93],
    dtype=np.uint64,
)
_SHIFT29, _SHIFT31, _SHIFT32 = np.uint64(29), np.uint64(31), np.uint64(32)

# Tables built once per process on first use (pure functions of Unicode and the hash base).
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


def word_bounds(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Character starts and ends (int64) of the words of `text`, in order."""
    _, starts, ends = _word_bounds(text)
    return starts, ends


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
