import textwrap
from pathlib import Path

import pytest

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
