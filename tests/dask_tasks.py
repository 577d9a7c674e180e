"""Task functions for the Dask tests: importable by worker processes (PYTHONPATH = tests/)."""

import os
import time

import numpy as np


def cell(task):
    """A deterministic numpy computation standing in for a sweep cell."""
    seed, n = task["seed"], task["n"]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, n))
    return {"seed": seed, "trace": float(np.trace(x @ x.T)), "eig": np.linalg.eigvalsh(x @ x.T).tolist()}


def slow_cell(task):
    time.sleep(task.get("sleep", 0.0))
    return cell(task) | {"pid": os.getpid()}


def sometimes_fails(task):
    if task["seed"] == 3:
        raise ValueError(f"bad cell seed={task['seed']}")
    return cell(task)


def threads_seen(task):
    from threadpoolctl import threadpool_info

    return {"env": os.environ.get("OMP_NUM_THREADS"), "memgen": os.environ.get("MEMGEN_THREADS"),
            "blas": sorted({i["num_threads"] for i in threadpool_info()})}


def resources_held(task):
    """The resources the scheduler restricted this task to, and which worker process ran it."""
    from distributed import get_worker
    from distributed.worker import thread_state

    worker = get_worker()
    return {"resources": worker.state.tasks[thread_state.key].resource_restrictions, "pid": os.getpid()}


def square(x):
    return x * x


def uses_the_worker_map(task):
    """What a task that splits its own work sees on a Dask worker: a map over the cluster and its size."""
    from memgen_cli.experiment import worker_map

    found = worker_map()
    if found is None:
        return None
    map_fn, workers = found
    return {"workers": workers, "squares": list(map_fn(square, range(task["n"])))}
