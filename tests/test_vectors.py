"""GloVe word vectors and clusters, the features built on them, and the span-length weights."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import SGDClassifier

from annotate.learn.features import (
    T_CLUSTER,
    dense_tokens,
    hash_columns,
    sentence_vectors,
    token_matrix,
    tokenize,
)
from annotate.learn.fit_labels import best_threshold
from annotate.learn.linear import hstack_dense, positive_proba
from annotate.learn.tagger import token_weights
from annotate.learn.vectors import DocumentVectors, WordVectors, cluster_labels, load_glove


@pytest.fixture(scope="module")
def vectors() -> WordVectors:
    return WordVectors(n_words=20000, clusters=(16, 128)).fit()


def test_lookup_and_clusters(vectors):
    rows = vectors.lookup(["the", "monday", "tuesday", "zzqxv-not-a-word"])
    assert rows[0] == 0  # GloVe's vocabulary is sorted by frequency
    assert rows[3] == -1 and (rows[:3] >= 0).all()
    assert vectors.clusters_.shape == (2, 20000) and vectors.vectors_.shape == (20000, 50)
    norms = np.linalg.norm(vectors.vectors_[rows[:3]].astype(np.float32), axis=1)
    assert np.allclose(norms, 1, atol=1e-2)
    days = vectors.lookup(["monday", "tuesday", "friday"])
    fine = vectors.clusters_[1]
    assert len(set(fine[days])) == 1  # days of the week share a fine cluster
    assert fine[vectors.lookup(["war"])[0]] != fine[days[0]]


def test_state_drops_the_lookup_index(vectors):
    vectors.lookup(["the"])
    assert "_index" in vectors.__dict__ and "_index" not in vectors.__getstate__()


def test_words_of_one_cluster_share_the_cluster_feature(vectors):
    tok = tokenize(["On Monday we met.", "On Tuesday we met.", "On zzqxv we met."])
    n_features = 2**18
    X = token_matrix(tok, n_features, 2, {}, False, vectors).tocsr()
    level = 1
    col = {
        w: hash_columns(
            T_CLUSTER * 64 + level,
            np.array([vectors.clusters_[level][vectors.lookup([w])[0]]], dtype=np.uint64),
            n_features,
        )[0]
        for w in ("monday", "tuesday")
    }
    assert col["monday"] == col["tuesday"]
    monday, tuesday, unknown = X[1], X[6], X[11]  # the second token of each document
    assert monday[0, col["monday"]] == 1 and tuesday[0, col["monday"]] == 1
    assert unknown[0, col["monday"]] == 0
    # an unknown word gets no cluster feature of its own: fewer features than a known one
    assert unknown.nnz < monday.nnz


def test_dense_token_features(vectors):
    tok = tokenize(["War is peace. Freedom is slavery."])
    D = dense_tokens(tok, vectors, scale=0.3).toarray()
    dim = vectors.dim
    assert D.shape == (tok.word.size, 4 * dim) and D.dtype == np.float32
    war = vectors.vectors_[vectors.lookup(["war"])[0]].astype(np.float32)
    assert np.allclose(D[0, :dim], 0.3 * war, atol=1e-3)  # the word
    assert np.allclose(D[1, dim : 2 * dim], 0.3 * war, atol=1e-3)  # "is": its previous word
    assert not D[0, dim : 2 * dim].any()  # nothing before the first word of a sentence
    assert not D[3, 2 * dim : 3 * dim].any()  # "." ends the sentence: nothing after it
    S = sentence_vectors(tok, vectors)
    assert S.shape == (2, dim) and np.allclose(np.linalg.norm(S, axis=1), 1, atol=1e-5)
    assert np.allclose(D[0, 3 * dim :], 0.3 * S[0]) and np.allclose(D[4, 3 * dim :], 0.3 * S[1])
    # kept factored, the same rows score the same without being built
    factored = dense_tokens(tok, vectors, scale=0.3)
    w = np.random.default_rng(0).normal(size=4 * dim).astype(np.float32)
    assert factored.shape == D.shape
    assert np.allclose(factored @ w, D @ w, atol=1e-4)
    rows = np.array([4, 0, 2])
    assert np.allclose(factored[rows] @ w, D[rows] @ w, atol=1e-4)
    assert np.array_equal(factored[rows].toarray(), D[rows])


def test_block_scores_equal_the_stacked_matrix():
    """`_proba` sums the hashed and dense blocks' scores apart: the same as one matrix."""
    rng = np.random.default_rng(0)
    X = sp.random(200, 300, density=0.05, format="csr", random_state=0)
    D = rng.normal(size=(200, 7)).astype(np.float32)
    signal = np.asarray(X.sum(axis=1)).ravel() + D[:, 0]
    y = (signal > np.median(signal)).astype(int)
    stacked = hstack_dense(X, D)
    expected = sp.hstack([X, sp.csr_matrix(D)], format="csr", dtype=np.float32)
    assert stacked.shape == (200, 307) and stacked.has_sorted_indices
    assert np.array_equal(stacked.toarray(), expected.toarray())
    clf = SGDClassifier(loss="log_loss", random_state=0).fit(stacked, y)
    assert np.allclose(positive_proba(clf, X, D), clf.predict_proba(stacked)[:, 1], atol=1e-5)


def test_token_weights_follow_span_length():
    offsets = [(0, 3), (4, 8), (9, 12), (13, 17), (18, 20), (21, 25)]
    w = token_weights(offsets, [(4, 17), (21, 25), (22, 24)], power=0.5)
    assert w.tolist() == [1.0, 3**-0.5, 3**-0.5, 3**-0.5, 1.0, 1.0]
    assert token_weights(offsets, [(4, 17)], power=0.0).tolist() == [1.0] * 6


def test_best_threshold_is_global_for_micro_f1():
    scores = np.array([[0.9, 0.45], [0.6, 0.2], [0.35, 0.3]])
    truth = np.array([[True, True], [True, False], [False, False]])
    assert best_threshold([0.3, 0.4, 0.5], scores, truth) == 0.4
    assert best_threshold([0.3, 0.4, 0.5], scores[:, 1], truth[:, 1]) == 0.4


def test_document_vectors():
    dv = DocumentVectors(n_words=20000, weight=2.0).fit()
    X = dv.transform(["Soldiers and tanks at war.", "", "zzqxv"]).toarray()
    assert X.shape == (3, 50)
    assert np.isclose(np.linalg.norm(X[0]), 2.0) and not X[1].any() and not X[2].any()


def test_word_clusters_are_cached_and_a_bad_cache_file_is_recomputed(tmp_path, monkeypatch):
    monkeypatch.setenv("ANNOTATE_CACHE_DIR", str(tmp_path / "cache"))
    _, v = load_glove(3000)
    unit = v / np.linalg.norm(v, axis=1, keepdims=True)
    first = cluster_labels(unit, 8)
    (cached,) = (tmp_path / "cache").glob("clusters-8-*.npy")
    assert np.array_equal(np.load(cached), first)
    np.save(cached, np.full(len(first), 7, dtype=np.int16))  # a cache hit is what is on disk
    assert (cluster_labels(unit, 8) == 7).all()
    cached.write_bytes(b"not an array")  # unreadable: recomputed and rewritten
    assert np.array_equal(cluster_labels(unit, 8), first)
    assert np.array_equal(np.load(cached), first)
    assert len(list((tmp_path / "cache").glob("clusters-8-*.npy"))) == 1
    other = cluster_labels(unit[:2000], 8)  # other vectors: another key
    assert len(other) == 2000 and len(list((tmp_path / "cache").glob("clusters-8-*"))) == 2
    monkeypatch.setenv("ANNOTATE_CACHE_DIR", "")  # off: nothing written
    assert np.array_equal(cluster_labels(unit, 8), first)
