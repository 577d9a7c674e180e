"""Executors: run independent sweep tasks and hand back their results as they finish.

The sweep layer knows only the ``Executor`` interface. An executor never writes the results
folder: the driver (``memgen_cli.sweep``) alone does, so workers need no shared filesystem.
New executors register a constructor in ``EXECUTORS``.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Iterator, Protocol, Sequence

from memgen_cli.errors import MemgenError
from memgen_cli.runner.worker import (available_cpus, call_task, init_local_worker, limit_threads,
                                     threads_per_worker)


class Executor(Protocol):
    """Runs ``fn(task)`` for each task; yields ``(index, result_or_TaskFailure)`` in completion order.

    A task that raises yields a ``TaskFailure`` and the other tasks go on. ``close`` may be called again.
    """

    name: str
    workers: int

    def run(self, fn: Callable[[Any], Any], tasks: Sequence[Any],
            resources: dict[str, float] | None = None) -> Iterator[tuple[int, Any]]:
        """resources: what each task needs (e.g. {"GPU": 1}); only a cluster executor can act on it."""

    def close(self) -> None: ...


class SerialExecutor:
    """Runs tasks one after another in this process (debugging, tests, notebooks)."""

    name = "serial"

    def __init__(self, workers: int = 1, threads: int | None = None):
        self.workers = 1
        self.threads = threads

    def run(self, fn, tasks, resources=None):
        if self.threads:
            limit_threads(self.threads)
        for i, task in enumerate(tasks):
            yield i, call_task(fn, task)

    def close(self) -> None:
        pass


class LocalProcessExecutor:
    """Runs tasks in ``workers`` local processes, each capped at ``cores // workers`` threads."""

    name = "local"

    def __init__(self, workers: int | None = None, threads: int | None = None):
        self.workers = workers or available_cpus()
        self.threads = threads or threads_per_worker(self.workers)
        self._pool: ProcessPoolExecutor | None = None

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn: a fork of a process with a live progress-bar thread can deadlock.
            self._pool = ProcessPoolExecutor(max_workers=self.workers,
                                             mp_context=multiprocessing.get_context("spawn"),
                                             initializer=init_local_worker, initargs=(self.threads, os.getpid()))
        return self._pool

    def run(self, fn, tasks, resources=None):  # one machine: its own processes share what it has
        pool = self._ensure_pool()
        pending: dict[Future, int] = {}
        queue = list(enumerate(tasks))
        queue.reverse()
        # Keep a bounded number of tasks in flight so an interrupt loses little and memory stays small.
        while queue or pending:
            while queue and len(pending) < 2 * self.workers:
                i, task = queue.pop()
                pending[_submit_quietly(pool, call_task, fn, task)] = i
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                try:
                    result = fut.result()
                except BrokenProcessPool:
                    raise _worker_died() from None
                yield pending.pop(fut), result

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


def _submit_quietly(pool: ProcessPoolExecutor, *call: Any) -> Future:
    """pool.submit, with SIGINT blocked while it may start a worker: a spawned worker inherits the block, so a
    Ctrl-C while it still imports waits for its initializer (which stops it quietly) instead of printing a
    traceback per worker; the driver gets a Ctrl-C of this moment once the block is lifted."""
    block = hasattr(signal, "pthread_sigmask")  # not on Windows
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}) if block else None
    try:
        return pool.submit(*call)
    except BrokenProcessPool:  # a worker died since the last result
        raise _worker_died() from None
    finally:
        if block:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _worker_died() -> MemgenError:
    """A local worker killed (kill -9, the out-of-memory killer): one line, not the pool's traceback."""
    return MemgenError("a worker process died (killed, or out of memory?); finished parts are kept: run the same "
                       "command to resume")


def _make_dask_executor(**kw: Any) -> Executor:
    """Import dask only when asked for: it is an optional extra, and slow to import."""
    import importlib.util

    if importlib.util.find_spec("distributed") is None:  # dask itself is a dependency of distributed
        raise MemgenError("--executor dask: needs the dask extra (pip install 'memgen[dask]')")
    from memgen_cli.runner.dask_executor import DaskExecutor

    return DaskExecutor(**kw)


EXECUTORS: dict[str, Callable[..., Executor]] = {
    "local": LocalProcessExecutor,
    "serial": SerialExecutor,
    "dask": _make_dask_executor,
}


def make_executor(name: str, workers: int | None = None, **options: Any) -> Executor:
    """Build a registered executor by name; ``options`` go to its constructor."""
    if name not in EXECUTORS:
        raise MemgenError(f"--executor: unknown executor {name!r} (choose from {', '.join(sorted(EXECUTORS))})")
    return EXECUTORS[name](workers=workers, **options)
