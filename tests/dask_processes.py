"""Real `dask scheduler` and `dask worker` processes on 127.0.0.1, for the Dask tests.

Every process started here is ended by its process id in ``stop()``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from distributed import Client

ROOT = Path(__file__).resolve().parents[1]


class DaskProcesses:
    """A scheduler (scheduler file, port 0) and N single-threaded workers, all on 127.0.0.1."""

    def __init__(self, tmp: Path, workers: int = 2, worker_env: dict[str, str] | None = None,
                 scheduler_env: dict[str, str] | None = None, worker_args: list[list[str]] | None = None):
        self.tmp = tmp
        tmp.mkdir(parents=True, exist_ok=True)
        self.scheduler_file = tmp / "scheduler.json"
        self.procs: list[subprocess.Popen] = []
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]))
        self._log = log = open(tmp / "dask.log", "ab")  # noqa: SIM115  (closed in stop())
        try:  # a cluster that fails to come up is still ended, process by process
            self._start([sys.executable, "-m", "distributed.cli.dask_scheduler", "--scheduler-file",
                         str(self.scheduler_file), "--host", "127.0.0.1", "--port", "0", "--no-dashboard"],
                        dict(env, **(scheduler_env or {})), log)
            deadline = time.monotonic() + 60
            while not self.scheduler_file.exists():
                assert time.monotonic() < deadline, "dask scheduler did not start"
                time.sleep(0.05)
            for i in range(workers):
                # --no-nanny: the pid we start is the worker itself, so killing it really kills a worker.
                # --death-timeout: a worker outliving a crashed test still exits once the scheduler is gone.
                self._start([sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file",
                             str(self.scheduler_file), "--nthreads", "1", "--no-nanny", "--no-dashboard",
                             "--host", "127.0.0.1", "--death-timeout", "20",
                             "--local-directory", str(tmp / f"worker{i}"),
                             *(worker_args[i] if worker_args else [])],
                            dict(env, **(worker_env or {})), log)
            with Client(scheduler_file=str(self.scheduler_file), timeout="30s") as client:
                client.wait_for_workers(workers, timeout=60)
        except BaseException:
            self.stop()
            raise

    def _start(self, cmd, env, log):
        self.procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT))

    def worker_pids(self, client: Client) -> dict[str, int]:
        return client.run(os.getpid)  # {worker address: pid}

    def stop(self):
        # Workers first, one at a time, then the scheduler: a worker told to stop while the scheduler
        # is closing too can hang in its own shutdown (seen with distributed 2026.8).
        for p in reversed(self.procs):
            if p.poll() is None:
                os.kill(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
        self._log.close()
