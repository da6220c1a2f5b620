"""Engines run scoring's batches, results in submission order: here (`InProcess`), in a local
process pool (`LocalPool`) or on a Dask cluster (`DaskEngine`), with identical output.

Pass 1 work is stateless (`map_ordered`); pass 2 work runs with its process's `WorkerState`
(`map_with_state`): the model, recently used partner documents and the spool opened by path.
"""

from __future__ import annotations

import collections
import contextlib
import gc
import itertools
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from annotate.errors import BadInput
from annotate.repeats import PartnerCache
from annotate.scoring.spool import Job, Spool

ENGINES = ("local", "dask")


class WorkerState:
    """What one process keeps between pass-2 jobs: the model, recently used partner documents
    (`PartnerCache`, emptied when a new run starts) and the spool opened by path (Dask)."""

    def __init__(self, model: Any = None):
        self.model = model
        self.cache = PartnerCache()
        self.spool: tuple[str, str, int] | None = None  # (path, run, descriptor)
        self.source: Any = None  # the ModelOnDisk `model` was loaded from (Dask)

    def spool_fd(self, job: Job) -> int | None:
        """The spool's descriptor for `job` in this process (None: the bytes come with it)."""
        if job.path is None:
            return job.fd
        if self.spool is not None and self.spool[:2] == (job.path, job.run):
            return self.spool[2]
        if self.spool is not None:
            os.close(self.spool[2])
        fd = os.open(job.path, os.O_RDONLY)
        self.spool = (job.path, job.run, fd)
        return fd


# The one piece of module state: a worker process's own WorkerState, set once when a pool
# worker starts (`_start_pool_worker`) or at a Dask worker's first job. The parent process
# never uses it: its engine holds a WorkerState of its own.
_WORKER: WorkerState | None = None


class InProcess:
    """Everything in this process, one batch at a time."""

    def __init__(self, model: Any = None):
        self.state = WorkerState(model)

    def spool_access(self, spool: Spool) -> dict:
        """How pass 2 jobs reach the spool: its descriptor (here)."""
        return {"fd": spool.fd}

    def map_ordered(self, fn: Callable, args_iter: Iterable[tuple]) -> Iterator:
        for args in args_iter:
            yield fn(*args)

    def map_with_state(self, fn: Callable, args_iter: Iterable[tuple]) -> Iterator:
        for args in args_iter:
            yield fn(*args, self.state)

    def close(self) -> None:
        pass


# A pool worker's garbage collector thresholds (defaults 700, 10, 10): the youngest generation
# collected about 29 times less often (a batch builds many small lists that live until it
# ends), the middle and oldest 5 and 10 times less often per younger collection.
WORKER_GC_THRESHOLD = (20000, 50, 100)


def _start_pool_worker(model: Any) -> None:
    global _WORKER
    _WORKER = WorkerState(model)
    # What the worker inherited (imports, the model) goes to the permanent generation: the
    # collector never walks it again, so it neither spends time there nor writes to those
    # pages (they stay shared with the parent). Output unchanged: cycles are still collected.
    # Measured at 3,000 documents on 2 workers: tree PSS 1,087 -> 962 MB, same docs/s.
    gc.freeze()
    gc.set_threshold(*WORKER_GC_THRESHOLD)
    if sys.platform == "linux":  # die with the parent instead of lingering as an orphan
        import ctypes
        import signal

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PDEATHSIG


def _with_pool_state(fn: Callable, *args: Any) -> Any:
    return fn(*args, _WORKER)


class LocalPool:
    """A process pool; at most 2 x workers batches in flight; results in submission order.
    Forked workers (Linux) inherit the spool's file descriptor and read pass 2 inputs
    themselves; elsewhere the inputs travel with the jobs. The model goes to each worker once,
    when it starts."""

    def __init__(self, workers: int, model: Any = None):
        import multiprocessing

        self.workers = workers
        self.model = model
        self.pool = None
        self.in_flight = 2 * workers
        self.method = "fork" if sys.platform == "linux" else "spawn"
        self.context = multiprocessing.get_context(self.method)
        self.state = WorkerState(model)  # for a single batch: not worth a trip to a worker

    def spool_access(self, spool: Spool) -> dict:
        """Forked workers inherit the spool's descriptor; spawned ones get bytes (empty)."""
        return {"fd": spool.fd} if self.method == "fork" else {}

    def map_ordered(self, fn: Callable, args_iter: Iterable[tuple]) -> Iterator:
        return self._map(
            args_iter, lambda args: fn(*args), lambda args: self._pool().submit(fn, *args)
        )

    def map_with_state(self, fn: Callable, args_iter: Iterable[tuple]) -> Iterator:
        return self._map(
            args_iter,
            lambda args: fn(*args, self.state),
            lambda args: self._pool().submit(_with_pool_state, fn, *args),
        )

    def _pool(self):
        if self.pool is None:
            from concurrent.futures import ProcessPoolExecutor

            self.pool = ProcessPoolExecutor(
                self.workers,
                mp_context=self.context,
                initializer=_start_pool_worker,
                initargs=(self.model,),
            )
        return self.pool

    def _map(self, args_iter: Iterable[tuple], here: Callable, submit: Callable) -> Iterator:
        args_iter = iter(args_iter)
        first = next(args_iter, None)
        second = next(args_iter, None)
        if second is None:  # a single batch (or none): here
            if first is not None:
                yield here(first)
            return
        pending: collections.deque = collections.deque()
        for args in itertools.chain([first, second], args_iter):
            pending.append(submit(args))
            if len(pending) >= self.in_flight:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


@dataclass(frozen=True)
class ModelOnDisk:
    """A model directory every worker can read: each worker loads it once (its large arrays
    memory-mapped, so the workers share their pages) instead of receiving a copy."""

    path: str
    model_version: str

    def load(self) -> Any:
        from annotate.learn.model import Model

        model = Model.load(self.path)
        if model.model_version != self.model_version:
            raise BadInput(
                f"the model changed while scoring ({model.model_version}, expected "
                f"{self.model_version})",
                self.path,
            )
        return model


def _with_dask_state(fn: Callable, *args_and_model: Any) -> Any:
    global _WORKER
    *args, model = args_and_model
    if _WORKER is None:
        _WORKER = WorkerState()
    if isinstance(model, ModelOnDisk):
        if _WORKER.source != model:  # once per worker (and per model)
            _WORKER.model, _WORKER.source = model.load(), model
    else:
        _WORKER.model = model  # the broadcast model, resolved on this worker
    return fn(*args, _WORKER)


class DaskEngine:
    """`distributed`: each worker loads the model's directory once when it can read it,
    else the model is broadcast to workers once; results gathered in order.
    Workers may be on other machines: pass 2 inputs travel with the jobs, as bytes, unless
    the cluster is our own LocalCluster (the spool is then read through /proc)."""

    def __init__(self, workers: int, model: Any = None, scheduler: str | None = None):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise BadInput(
                "--engine dask needs the dask extra: pip install 'annotate[dask]'"
            ) from None
        self.cluster = None
        if scheduler:
            self.client = Client(scheduler)
        else:
            import dask

            # our own cluster, quiet: no statistical profiler (samples every 10 ms), no GIL
            # monitor, slower ticks: idle, the defaults cost 13% of a core, these 2%
            quiet = {
                "distributed.worker.profile.enabled": False,
                "distributed.admin.system-monitor.gil.enabled": False,
                "distributed.admin.tick.interval": "1s",
                "distributed.admin.system-monitor.interval": "2s",
                "distributed.worker.memory.monitor-interval": "1s",
            }
            with dask.config.set(quiet):
                self.cluster = LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",  # a free port: never clash with another cluster
                    silence_logs=40,
                )
                self.client = Client(self.cluster)
        self.model = self._share(model)
        self.in_flight = 2 * max(1, len(self.client.scheduler_info().get("workers", {})) or workers)

    def _share(self, model: Any) -> Any:
        """What jobs carry to reach the model: its directory, when every worker can read it
        (each loads it once), else the model broadcast to every worker once."""
        if model is None:
            return None
        path = getattr(model, "path", None)
        version = getattr(model, "model_version", None)
        if path is not None and version is not None:
            try:
                path = os.path.abspath(path)  # workers may run elsewhere than here
                seen = self.client.run(os.path.isfile, os.path.join(path, "model.json"))
            except Exception:  # a worker that cannot answer: broadcast
                seen = {}
            if seen and all(seen.values()):
                return ModelOnDisk(path, version)
        return self.client.scatter(model, broadcast=True)

    def spool_access(self, spool: Spool) -> dict:
        """Workers of our own LocalCluster open the spool through /proc (same machine);
        a cluster elsewhere gets the bytes with each job (empty)."""
        path = f"/proc/{os.getpid()}/fd/{spool.fd}"
        if self.cluster is None or not os.path.exists(path):
            return {}
        try:
            seen = self.client.run(os.path.exists, path)
        except Exception:  # a worker that cannot answer: send bytes
            return {}
        return {"path": path} if seen and all(seen.values()) else {}

    def map_ordered(self, fn: Callable, args_iter: Iterable[tuple]) -> Iterator:
        return self._gather(self.client.submit(fn, *args, pure=False) for args in args_iter)

    def map_with_state(self, fn: Callable, args_iter: Iterable[tuple]) -> Iterator:
        return self._gather(
            self.client.submit(_with_dask_state, fn, *args, self.model, pure=False)
            for args in args_iter
        )

    def _gather(self, futures: Iterable) -> Iterator:
        pending: collections.deque = collections.deque()
        for future in futures:
            pending.append(future)
            if len(pending) >= self.in_flight:
                f = pending.popleft()
                yield f.result()
                f.release()
        while pending:
            f = pending.popleft()
            yield f.result()
            f.release()

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def make_engine(
    engine: str, workers: int, model: Any = None, scheduler: str | None = None
) -> InProcess | LocalPool | DaskEngine:
    """`local` with one worker: this process; `local` with more: a process pool; `dask`."""
    if engine == "dask":
        return DaskEngine(workers, model, scheduler)
    if workers > 1:
        return LocalPool(workers, model)
    return InProcess(model)
