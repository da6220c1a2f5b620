"""Linear-model pieces the span models share: averaged runs, a constant for one-class data,
and P(class 1) of sparse rows beside factored dense ones."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.special import expit

from annotate.learn.dense import DenseTokens


def hstack_dense(X: sp.csr_matrix, dense: np.ndarray) -> sp.csr_matrix:
    """`[X | dense]` as one float32 CSR matrix, built straight from the arrays: each row's
    entries of X, then its dense columns (sp.hstack would take 6 s on PTC's 400,000 tokens)."""
    n, k = dense.shape
    per_row = np.diff(X.indptr)
    indptr = X.indptr.astype(np.int64) + k * np.arange(n + 1, dtype=np.int64)
    indices = np.empty(int(indptr[-1]), dtype=np.int32)
    data = np.empty(int(indptr[-1]), dtype=np.float32)
    at = np.arange(X.nnz, dtype=np.int64) + k * np.repeat(np.arange(n, dtype=np.int64), per_row)
    indices[at], data[at] = X.indices, X.data
    is_dense = np.ones(indices.size, dtype=bool)
    is_dense[at] = False  # in row order, so the dense values fill in as dense.ravel() runs
    indices[is_dense] = np.tile(np.arange(X.shape[1], X.shape[1] + k, dtype=np.int32), n)
    data[is_dense] = np.ascontiguousarray(dense, dtype=np.float32).ravel()
    return sp.csr_matrix((data, indices, indptr), shape=(n, X.shape[1] + k))


def average_linear(runs: list):
    """One linear model whose weights are the mean of several SGD runs (other shuffles of the
    same data): less variance than any one run, at the prediction cost of one."""
    model = runs[0]
    if len(runs) > 1 and not isinstance(model, float):
        model.coef_ = np.mean([r.coef_ for r in runs], axis=0)
        model.intercept_ = np.mean([r.intercept_ for r in runs], axis=0)
    return model


def fit_or_constant(classifier, X, y, sample_weight=None):
    """Fit, or remember the single class when training data has only one."""
    if y.size and y.min() != y.max():
        return classifier.fit(X, y, sample_weight=sample_weight)
    return float(y[0]) if y.size else 0.0


def positive_proba(classifier, X, dense: DenseTokens | None = None) -> np.ndarray:
    """P(class 1) of each row of [X | dense]; with `dense`, the linear score is summed block by
    block (a binary log-loss model: sigmoid of it), so the two are never stacked into one
    matrix of dense rows at prediction time."""
    if isinstance(classifier, float):
        return np.full(X.shape[0], classifier)
    if X.shape[0] == 0:
        return np.zeros(0)
    if dense is None:
        return classifier.predict_proba(X)[:, 1]
    coef = classifier.coef_.ravel()
    width = X.shape[1]
    z = X @ coef[:width] + dense @ coef[width:].astype(np.float32) + classifier.intercept_[0]
    return expit(np.asarray(z, dtype=float))
