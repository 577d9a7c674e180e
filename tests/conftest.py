import os
import textwrap
from pathlib import Path

import pytest

if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    # Several test processes share the cores (make test: pytest -n): each uses one BLAS/OpenMP thread, and so
    # do the processes its tests start (environment). OpenBLAS threads that spin while another process holds
    # the core made one 1100 x 1024 SVD 10x slower on a loaded 2-core machine. memgen's own thread caps
    # (--threads, a Dask worker's MEMGEN_THREADS) still set their numbers over this default.
    os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = "1"
    import numpy  # noqa: F401  (loaded first, so that threadpoolctl finds its BLAS)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)

SMALL_LINEAR = """
model: linear
seed: 3
trials: 12
grid: {n: [3, 20], d: [4], lambda: [0.0183], T: [2.0], N: [200]}
data: {mu: 10.0, sigma: 1.0}
options: {bandwidth: paper, covariance: BBt, ridge: 0.0, original: fixed}
"""


@pytest.fixture
def small_config(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(textwrap.dedent(SMALL_LINEAR))
    return path


@pytest.fixture(autouse=True)
def _run_in_tmp(tmp_path, monkeypatch):
    # Default output folders (results/<name>) land in the test's own folder.
    monkeypatch.chdir(tmp_path)
