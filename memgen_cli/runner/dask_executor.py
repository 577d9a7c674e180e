"""Dask executor: send sweep tasks to a Dask cluster (an existing one, or a LocalCluster).

Only this module imports dask/distributed, and only when ``--executor dask`` is chosen, so the
rest of memgen runs without the ``dask`` extra. Workers compute and return results; the driver
alone writes the results folder, so workers need no shared filesystem (but the scheduler and the
workers need memgen installed: task functions are sent by reference to their module).

Failure semantics:

* A task that raises comes back as a ``TaskFailure`` (the wrapper catches it on the worker), so
  Dask never retries it: ``retries=0``, and an error is reported, not hidden.
* A task whose worker dies (killed, out of memory, node lost) is rescheduled on another worker by
  the scheduler itself. After ``distributed.scheduler.allowed-failures`` (default 3) such deaths the
  scheduler gives up with ``KilledWorker``, which comes back here as a ``TaskFailure``.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import distributed
from distributed import Client, LocalCluster

from memgen_cli.errors import MemgenError
from memgen_cli.experiment import set_worker_map
from memgen_cli.runner.worker import TaskFailure, available_cpus, call_task, limit_threads, threads_per_worker

_limited_to: int | None = None  # threads this worker process is already capped at
# The worker's own setting, read before limit_threads (which sets MEMGEN_THREADS) runs in this process.
_WORKER_THREADS = os.environ.get("MEMGEN_THREADS")


def _run_task(fn: Callable[[Any], Any], task: Any, threads: int | None) -> Any:
    """Runs on a worker: cap BLAS/torch threads (once per worker process), then call like ``call_task``.

    ``threads=None``: the worker's own MEMGEN_THREADS (set in its environment or job script), else 1.
    """
    global _limited_to
    threads = threads or int(_WORKER_THREADS or 1)
    if _limited_to != threads:
        limit_threads(threads)
        _limited_to = threads
    set_worker_map((_cluster_map, _worker_count()))
    try:
        return call_task(fn, task)
    finally:
        set_worker_map(None)


def _worker_count() -> int:
    try:
        return max(1, len(distributed.get_client().scheduler_info().get("workers", {})))
    except Exception:  # noqa: BLE001  no client to ask: the task does its work itself
        return 1


def _cluster_map(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    """From inside a task: ``fn`` over ``items`` on the cluster's workers (this task secedes while it waits, so a
    worker's one thread is not held), results in order."""
    with distributed.worker_client() as client:
        return client.gather(client.map(fn, list(items), pure=False))


class DaskExecutor:
    """Runs tasks on a Dask cluster; yields ``(index, result_or_TaskFailure)`` in completion order.

    With neither ``scheduler`` (``tcp://host:port``, ``tls://...``) nor ``scheduler_file``, starts a
    LocalCluster of ``workers`` single-threaded worker processes on 127.0.0.1 when first used. An existing
    cluster is connected to at once, so a sweep fails on an unreachable one before it creates anything.

    ``threads``: BLAS/torch threads per task. Default: ``cores // workers`` on a LocalCluster; on an
    existing cluster, each worker's own ``MEMGEN_THREADS`` environment variable, else 1 (Dask's own
    worker default, ``OMP_NUM_THREADS=1``): this process cannot know how many worker processes share
    each remote machine, the one who starts the workers does.
    """

    name = "dask"

    def __init__(self, workers: int | None = None, scheduler: str | None = None,
                 scheduler_file: str | os.PathLike | None = None, threads: int | None = None):
        if scheduler and scheduler_file:
            raise MemgenError("--scheduler: give either --scheduler or --scheduler-file, not both")
        self._cluster: LocalCluster | None = None
        self._client: Client | None = None
        self._checked: set[str] = set()  # modules the cluster is known to import
        if scheduler or scheduler_file:
            self._client = _connect(scheduler, scheduler_file)
            connected = len(self._client.scheduler_info().get("workers", {}))
            self.workers = workers or connected  # informational: the cluster decides its own size
            self.threads = threads  # None: decided on each worker, see _run_task
        else:
            self.workers = workers or available_cpus()
            self.threads = threads or threads_per_worker(self.workers)

    @property
    def client(self) -> Client:
        if self._client is None:  # a LocalCluster, started on first use: a finished sweep needs none
            # One thread per worker process: parallelism comes from processes, BLAS gets `threads`.
            # Port 0 for the scheduler's HTTP server (it runs even without a dashboard): 8787 may be taken.
            self._cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                         host="127.0.0.1", dashboard_address="127.0.0.1:0")
            self._client = Client(self._cluster)
        return self._client

    def run(self, fn: Callable[[Any], Any], tasks: Sequence[Any],
            resources: dict[str, float] | None = None) -> Iterator[tuple[int, Any]]:
        """resources: what each task holds while it runs (e.g. {"GPU": 1}): the scheduler sends it only to
        workers started with that much (``dask worker --resources GPU=1``), one task per GPU at a time."""
        self._check_imports(fn.__module__ or __name__)
        token = uuid.uuid4().hex[:12]  # fresh per run: a rerun never reuses a held or failed key
        name = fn.__name__
        futures = {}
        for i, task in enumerate(tasks):
            fut = self.client.submit(_run_task, fn, task, self.threads, key=f"memgen-{name}-{token}-{i}",
                                      pure=False, retries=0, resources=resources or None)
            futures[fut] = i
        done = distributed.as_completed(futures, loop=self.client.loop)
        try:
            for fut in done:
                i = futures.pop(fut)
                try:
                    result = fut.result()
                except Exception as exc:  # noqa: BLE001  KilledWorker, BaseException escaping call_task, cancel
                    result = TaskFailure.from_exception(exc)
                fut.release()  # let the scheduler drop the result now that we hold it
                yield i, result
        finally:
            # Interrupted driver (Ctrl-C, generator closed): stop the cluster working for nobody.
            if futures:
                self.client.cancel(list(futures))

    def _check_imports(self, module: str) -> None:
        """Fail fast, naming the cause, if the scheduler or a worker cannot import the task's code.

        Both unpickle each task. A scheduler that cannot fails every task with a vague message; a worker
        that cannot drops its connection and dies, and its nanny restarts it to die again.
        """
        if module in self._checked:
            return
        stmt = f"import {__name__}, {module}"  # exec is a builtin: sending it needs nothing installed
        try:
            self.client.run_on_scheduler(exec, stmt)
        except Exception as exc:  # noqa: BLE001  reported as the user's problem
            raise MemgenError(f"--executor dask: the Dask scheduler cannot import {module} ({exc}); "
                              "install memgen there, the same version as here") from None
        errors = {w: r for w, r in self.client.run(exec, stmt, on_error="return").items() if r is not None}
        if errors:
            worker, exc = next(iter(errors.items()))
            raise MemgenError(f"--executor dask: {len(errors)} Dask worker(s), e.g. {worker}, cannot import "
                              f"{module} ({exc}); install memgen there, the same version as here")
        self._checked.add(module)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


def _connect(scheduler: str | None, scheduler_file: str | os.PathLike | None) -> Client:
    where = scheduler
    if scheduler_file is not None:
        scheduler = _address_in(scheduler_file)
        where = f"the scheduler in {scheduler_file} ({scheduler})"
    try:  # waits up to distributed.comm.timeouts.connect (30 s by default)
        return Client(scheduler)
    except (OSError, TimeoutError, ValueError) as exc:
        opt = "--scheduler-file" if scheduler_file is not None else "--scheduler"
        raise MemgenError(f"{opt}: cannot connect to {where}: {exc}") from None


def _address_in(scheduler_file: str | os.PathLike, attempts: int = 20) -> str:
    """The address a scheduler file names. Read here, not by Client: it waits forever for a missing file and
    fails a malformed one with a bare AssertionError. Retried briefly: a scheduler may be writing it now."""
    problem = ""
    for attempt in range(attempts):
        if attempt:
            time.sleep(0.05)
        try:
            with open(scheduler_file) as handle:
                info = json.load(handle)
        except FileNotFoundError:
            raise MemgenError(f"--scheduler-file: {scheduler_file}: no such file "
                              "(is `dask scheduler` running?)") from None
        except OSError as exc:
            raise MemgenError(f"--scheduler-file: {scheduler_file}: cannot read ({exc.strerror})") from None
        except (ValueError, UnicodeDecodeError):  # empty or half written, or not JSON at all
            problem = "not JSON"
            continue
        address = info.get("address") if isinstance(info, dict) else None
        if isinstance(address, str) and address:
            return address
        problem = "names no scheduler address"
    raise MemgenError(f"--scheduler-file: {scheduler_file}: not a Dask scheduler file ({problem}; "
                      "`dask scheduler --scheduler-file` writes one)")
