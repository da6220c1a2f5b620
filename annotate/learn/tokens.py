"""Tokens and sentences of a batch of documents, as arrays (`tokenize`): the one tokenizer of
the span models."""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from annotate.metrics import sentence_spans as split_sentences

TOKEN_RE = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")
WORD_RE = re.compile(r"\w+")
# Every character that is not whitespace starts a token, so a text is whitespace runs and
# tokens in turn: each match of this pattern is the whitespace before a token and the token
# (what TOKEN_RE.finditer finds), and their lengths give the offsets without a Match object.
_SPACED_TOKEN_RE = re.compile(r"\s*(?:" + TOKEN_RE.pattern + ")")


def tokens(text: str) -> list[tuple[int, int]]:
    """[start, end) of every token: words (with inner apostrophes) and single punctuation marks."""
    return [m.span() for m in TOKEN_RE.finditer(text)]


def stable_hash(s: str) -> int:
    """A hash of a string that is the same in every process (unlike `hash`)."""
    return zlib.crc32(s.encode("utf-8", "surrogatepass"))


@dataclass
class Tokenized:
    """Tokens of a batch of documents, as arrays over all their tokens."""

    offsets: list[list[tuple[int, int]]]  # per document
    sentence_spans: list[list[tuple[int, int]]]  # per document
    token_sentence: np.ndarray  # global sentence index of each token
    word: np.ndarray  # index of the token's distinct form in `forms`
    forms: list[str]  # distinct token forms (original case)
    lower: list[str]  # the forms lower-cased
    form_hash: np.ndarray  # stable hash of each lower-cased form
    # what `form_clusters` and `sentence_vectors` derived, so features built from the same
    # tokens and vectors (token rows, dense rows, sentence rows) compute it once
    derived: dict = field(default_factory=dict, repr=False, compare=False)
    # what was derived per distinct form: shared with the `documents` subsets (same forms)
    form_derived: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_sentences(self) -> int:
        return sum(len(s) for s in self.sentence_spans)

    def derive(self, name: str, key: Any, compute, per_form: bool = False):
        """`compute()` once per batch and `key` (the vectors object, or the settings the
        result depends on; the result is shared: read it only). `per_form`: a result per
        distinct form, shared with the `documents` subsets."""
        held_in = self.form_derived if per_form else self.derived
        held = held_in.get(name)
        if held is None or (held[0] is not key and held[0] != key):
            held = held_in[name] = (key, compute())
        return held[1]

    def documents(self, lo: int, hi: int) -> Tokenized:
        """Documents lo..hi-1 alone, their sentences numbered from 0, with this batch's forms
        (the same form numbers, and what was derived per form). What was derived per
        sentence is sliced, not derived again: the subset's features are the rows of the
        batch's, exactly."""
        n_tok = [len(o) for o in self.offsets]
        n_sent = [len(s) for s in self.sentence_spans]
        t0, t1 = sum(n_tok[:lo]), sum(n_tok[:hi])
        s0, s1 = sum(n_sent[:lo]), sum(n_sent[:hi])
        sub = Tokenized(
            offsets=self.offsets[lo:hi],
            sentence_spans=self.sentence_spans[lo:hi],
            token_sentence=self.token_sentence[t0:t1] - s0,
            word=self.word[t0:t1],
            forms=self.forms,
            lower=self.lower,
            form_hash=self.form_hash,
            form_derived=self.form_derived,
        )
        held = self.derived.get("sentence_vectors")
        if held is not None:
            sub.derived["sentence_vectors"] = (held[0], held[1][s0:s1])
        return sub


def tokenize(texts: Sequence[str]) -> Tokenized:
    """Tokens and sentences of a batch of documents."""
    offsets, sentence_spans, words, token_sentence = [], [], [], []
    n_sent = 0
    for text in texts:
        found = TOKEN_RE.findall(text)
        words.extend(found)
        stops = np.cumsum(np.fromiter(map(len, _SPACED_TOKEN_RE.findall(text)), np.int64))
        starts = stops - np.fromiter(map(len, found), np.int64, count=len(found))
        spans = list(zip(starts.tolist(), stops.tolist(), strict=True))
        sents = split_sentences(text) or [(0, len(text))]
        ends = np.fromiter((b for _, b in sents), dtype=np.int64, count=len(sents))
        # a token belongs to the first sentence that ends after its start
        idx = np.minimum(np.searchsorted(ends, starts, side="right"), len(sents) - 1)
        token_sentence.append(idx + n_sent)
        n_sent += len(sents)
        offsets.append(spans)
        sentence_spans.append(sents)
    forms = list(dict.fromkeys(words))
    index = {f: i for i, f in enumerate(forms)}
    lower = [f.lower() for f in forms]
    return Tokenized(
        offsets=offsets,
        sentence_spans=sentence_spans,
        token_sentence=np.concatenate(token_sentence or [[]]).astype(np.int64),
        word=np.fromiter(map(index.__getitem__, words), dtype=np.int64, count=len(words)),
        forms=forms,
        lower=lower,
        form_hash=np.fromiter(map(stable_hash, lower), dtype=np.uint64, count=len(lower)),
    )


def sentence_geometry(token_sentence: np.ndarray):
    """Per token: index of its sentence's first and last token."""
    n = token_sentence.size
    idx = np.arange(n)
    new = np.ones(n, dtype=bool)
    new[1:] = token_sentence[1:] != token_sentence[:-1]
    first = np.maximum.accumulate(np.where(new, idx, 0))
    end = np.ones(n, dtype=bool)
    end[:-1] = new[1:]
    last = np.minimum.accumulate(np.where(end, idx, n - 1)[::-1])[::-1]
    return first, last
