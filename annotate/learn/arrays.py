"""A model's large arrays (coefficients, word vectors) kept beside its skops files as `.npy`
and memory-mapped when it is loaded: every process that loads the model (pool workers, Dask
workers) reads the same pages of the page cache instead of holding a copy of its own.

`large_arrays(component)` finds them (through estimator attributes, lists, tuples and
dicts), `detached(component)` takes them out while the skops file is written, and
`attach(component, path, array)` puts an array back where it was found.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

MIN_BYTES = 1 << 20  # smaller arrays stay inside the skops file
Path_ = list[list]  # steps: ["a", attribute], ["i", list index], ["k", dict key]


def large_arrays(component: Any) -> list[tuple[Path_, np.ndarray]]:
    """(path, array) of every numeric ndarray of at least MIN_BYTES held by `component`."""
    out: list[tuple[Path_, np.ndarray]] = []
    seen: set[int] = set()

    def walk(obj: Any, path: Path_) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(obj, dict):
            children = [("k", k, v) for k, v in obj.items() if isinstance(k, str)]
        elif isinstance(obj, list):
            children = [("i", i, v) for i, v in enumerate(obj)]
        elif isinstance(obj, tuple):
            children = [("t", i, v) for i, v in enumerate(obj)]  # walked, never written
        elif isinstance(obj, BaseEstimator):
            children = [("a", k, v) for k, v in vars(obj).items()]
        else:
            return
        for kind, key, value in children:
            if type(value) is np.ndarray or isinstance(value, np.memmap):
                if kind != "t" and value.dtype.kind in "biuf" and value.nbytes >= MIN_BYTES:
                    out.append(([*path, [kind, key]], value))
            else:
                walk(value, [*path, [kind, key]])

    walk(component, [])
    return out


def _holder(component: Any, path: Path_) -> Any:
    obj = component
    for kind, key in path[:-1]:
        obj = vars(obj)[key] if kind == "a" else obj[key]
    return obj


def get(component: Any, path: Path_) -> Any:
    kind, key = path[-1]
    holder = _holder(component, path)
    return vars(holder).get(key) if kind == "a" else holder[key]


def attach(component: Any, path: Path_, value: Any) -> None:
    """Put `value` at `path` in `component` (an attribute, a list item or a dict value)."""
    kind, key = path[-1]
    holder = _holder(component, path)
    if kind == "a":
        vars(holder)[key] = value
    else:
        holder[key] = value


@contextlib.contextmanager
def detached(component: Any) -> Iterator[list[tuple[Path_, np.ndarray]]]:
    """The component without its large arrays (None in their place) while the block runs;
    yields them, and puts them back afterwards whatever happens."""
    found = large_arrays(component)
    for path, _ in found:
        attach(component, path, None)
    try:
        yield found
    finally:
        for path, array in found:
            attach(component, path, array)


def content_key(array: np.ndarray) -> tuple:
    """What makes two arrays the same file: dtype, shape and bytes."""
    import hashlib

    digest = hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()
    return (array.dtype.str, array.shape, digest)
