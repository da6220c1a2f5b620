"""Word-vector features of tokens and sentences: each form's GloVe row and clusters, the
factored dense token rows (`DenseTokens`) and sentence mean vectors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from annotate.learn.tokens import Tokenized, sentence_geometry
from annotate.learn.vectors import WordVectors


def form_clusters(tok: Tokenized, vectors: WordVectors) -> tuple[np.ndarray, np.ndarray]:
    """Per distinct form: its row in `vectors` (-1 unknown), and its cluster at each
    granularity (levels x forms, -1 unknown)."""

    def compute():
        row = vectors.lookup(tok.lower)
        return row, np.where(row >= 0, vectors.clusters_[:, np.maximum(row, 0)], -1)

    return tok.derive("form_clusters", vectors, compute, per_form=True)


@dataclass
class DenseTokens:
    """Dense token features kept factored: row i is `[table[word[i]], table[prev[i]],
    table[nxt[i]], sentence[token_sentence[i]]]` (float32, 4 * dim columns). `D[rows]` keeps
    the rows, `D @ w` scores them without building the rows (memory: a few numbers per
    token instead of 4 * dim), `D.toarray()` builds them (for training)."""

    table: np.ndarray  # (forms + 1) x dim, scaled unit vectors; the last row is zeros
    word: np.ndarray
    prev: np.ndarray
    nxt: np.ndarray
    sentence: np.ndarray  # sentences x dim, scaled
    token_sentence: np.ndarray
    # weights -> (per-form scores, sentence scores), shared by the slices of one batch when
    # given (`SpanTagger.source_scores` scores a batch a chunk at a time): computed once
    products: dict | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return (self.word.size, 4 * self.table.shape[1])

    def __getitem__(self, rows) -> DenseTokens:
        return DenseTokens(
            self.table,
            self.word[rows],
            self.prev[rows],
            self.nxt[rows],
            self.sentence,
            self.token_sentence[rows],
            self.products,
        )

    def __matmul__(self, w: np.ndarray) -> np.ndarray:
        dim = self.table.shape[1]
        w = np.asarray(w, dtype=np.float32).reshape(4, dim)
        key = w.tobytes()
        held = None if self.products is None else self.products.get(key)
        if held is None:
            # (forms + 1) x 3: each form's score in each slot; each sentence's score
            held = (self.table @ w[:3].T, self.sentence @ w[3])
            if self.products is not None:
                self.products[key] = held
        per_form, per_sentence = held
        return (
            per_form[self.word, 0]
            + per_form[self.prev, 1]
            + per_form[self.nxt, 2]
            + per_sentence[self.token_sentence]
        )

    def toarray(self) -> np.ndarray:
        t = self.table
        return np.hstack(
            [t[self.word], t[self.prev], t[self.nxt], self.sentence[self.token_sentence]]
        ).astype(np.float32, copy=False)


def dense_tokens(tok: Tokenized, vectors: WordVectors, scale: float = 0.3) -> DenseTokens:
    """Dense token features: the unit vectors of the word and of its neighbours (zero outside
    the sentence or for unknown words) and of its sentence's content words
    (`sentence_vectors`), each times `scale`."""
    n = tok.word.size
    row, _ = form_clusters(tok, vectors)
    table = np.zeros((len(row) + 1, vectors.dim), dtype=np.float32)  # last row: zeros
    known = row >= 0
    table[:-1][known] = vectors.vectors_[row[known]]
    table *= scale
    first, last = sentence_geometry(tok.token_sentence)
    idx = np.arange(n)
    zero = len(row)
    prev = np.where(idx - 1 >= first, tok.word[np.maximum(idx - 1, 0)], zero)
    nxt = np.where(idx + 1 <= last, tok.word[np.minimum(idx + 1, n - 1)], zero)
    sentence = sentence_vectors(tok, vectors) * np.float32(scale)
    return DenseTokens(table, tok.word, prev, nxt, sentence, tok.token_sentence)


def sentence_vectors(tok: Tokenized, vectors: WordVectors) -> np.ndarray:
    """Unit mean vector of each sentence's content words (no stop words or punctuation)."""
    return tok.derive("sentence_vectors", vectors, lambda: _sentence_vectors(tok, vectors))


def _sentence_vectors(tok: Tokenized, vectors: WordVectors) -> np.ndarray:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    row, _ = form_clusters(tok, vectors)
    content = np.fromiter(
        (w[0].isalnum() and w not in ENGLISH_STOP_WORDS for w in tok.lower),
        dtype=bool,
        count=len(tok.lower),
    ) & (row >= 0)
    use = content[tok.word]
    out = np.zeros((tok.n_sentences, vectors.dim), dtype=np.float32)
    np.add.at(out, tok.token_sentence[use], vectors.vectors_[row[tok.word[use]]].astype(np.float32))
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms == 0, 1.0, norms)
