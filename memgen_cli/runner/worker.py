"""What runs inside a worker process, whatever the executor: the thread cap and the task call that turns an
exception into a one-line failure. Imported by the executors (local, serial, Dask) and by nothing they import."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

_THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                    "NUMEXPR_NUM_THREADS")
_thread_limiter: Any = None  # keeps threadpoolctl's limit alive for the life of a worker process


def limit_threads(threads: int) -> None:
    """Cap BLAS/OpenMP (and torch, when loaded) threads in this process, so workers x threads <= cores."""
    global _thread_limiter
    for var in _THREAD_ENV_VARS:
        os.environ[var] = str(threads)
    os.environ["MEMGEN_THREADS"] = str(threads)
    from threadpoolctl import threadpool_limits

    _thread_limiter = threadpool_limits(limits=threads)
    if "torch" in sys.modules:  # never import torch here: the linear path must stay light
        sys.modules["torch"].set_num_threads(threads)


def init_local_worker(threads: int, parent_pid: int) -> None:
    """Initializer of a local worker process: the thread cap, and exit when the driver dies.

    A worker waits for tasks on a pipe whose writing end it holds itself, so a driver killed with -9
    never wakes it: without this watch it lingers (and the resource tracker with it) for good.
    """
    limit_threads(threads)
    # Ctrl-C reaches every process of the terminal's group: the driver reports it in one line and keeps
    # finished work; a worker just stops, without a traceback of its own.
    signal.signal(signal.SIGINT, lambda signum, frame: os._exit(130))
    if hasattr(signal, "pthread_sigmask"):  # started with SIGINT blocked (executors._submit_quietly): a Ctrl-C
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # that came meanwhile arrives now
    threading.Thread(target=_exit_when_orphaned, args=(parent_pid,), name="memgen-parent-watch",
                     daemon=True).start()


def _exit_when_orphaned(parent_pid: int, interval: float = 0.5) -> None:
    # getppid() changes (to 1 or a subreaper) once the parent is gone; polling works on every POSIX.
    while os.getppid() == parent_pid:
        time.sleep(interval)
    os._exit(1)  # no cleanup to run: the driver alone writes results


def available_cpus() -> int:
    """The CPUs this process may run on: its affinity mask (taskset, a SLURM allocation, a cgroup's cpuset)
    where the platform has one, else the machine's count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS and Windows have no affinity call
        return os.cpu_count() or 1


def threads_per_worker(workers: int) -> int:
    return max(1, available_cpus() // max(1, workers))


@dataclass
class TaskFailure:
    """What a task that raised hands back instead of a result: a one-line summary for the screen and
    failed.json, and the whole traceback for the task's log file."""

    error: str  # "ExceptionType: first line of the message"
    traceback: str = field(default="", compare=False)

    @classmethod
    def from_exception(cls, exc: BaseException) -> "TaskFailure":
        first_line = (str(exc).strip().splitlines() or [""])[0]
        return cls(f"{type(exc).__name__}: {first_line}", "".join(traceback.format_exception(exc)))


def call_task(fn: Callable[[Any], Any], task: Any) -> Any:
    """Run ``fn(task)``; an exception becomes a one-line TaskFailure so the other tasks go on."""
    try:
        return fn(task)
    except Exception as exc:  # reported per task by the driver
        return TaskFailure.from_exception(exc)
