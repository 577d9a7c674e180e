"""The benchmark scripts run with a small budget (make bench-gpu's on CPU, bench_closedform --quick): their
scripts, not their figures."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_bench_gpu_quick_runs_on_cpu_and_projects_fig4():
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_gpu.py"), "--quick", "--device", "cpu",
                             "--steps", "1", "--together", "2"], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert out.startswith("device: CPU")
    for precision in ("fp32", "bf16"):
        assert f"tiny  {precision}: one simulation, batch 128:" in out and "2 at once" in out
    assert "exact per-pixel metric, N = 2,000 originals, d = 256:" in out
    lines = [line for line in out.splitlines() if line.startswith("  n = ")]
    assert len(lines) == 10  # every cell of configs/paper/fig4-unet.yaml
    assert "total:" in out.splitlines()[-1]


@pytest.mark.slow
def test_bench_closedform_quick_reports_the_floor_and_the_ratio():
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_closedform.py"), "--quick"],
                            capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("GEMM rate, one thread, float64: ") and lines[0].endswith(" GFLOP/s")
    sampling = [line for line in lines if " sampling " in line]
    assert len(sampling) == 2 and all("floor" in line and "ratio" in line for line in sampling)
    assert "10 rows x 0.10 GFLOP" in sampling[0] and "20 rows x 0.20 GFLOP" in sampling[1]  # 4 M n d per step
    assert lines[-1].startswith("  drawing the split (1,000 + 10,000 images of 256 pixels):")


def test_bench_evaluate_small_reports_its_ratios():
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_evaluate.py"), "--samples", "60",
                             "--train", "400", "--side", "4"], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("evaluate search: 60 samples x 400 training images of 4x4x3 (d = 48)")
    assert "ratio" in lines[2] and "target <= 1.5x" in lines[2] and "ratio" in lines[3]
    assert "prepared once" in lines[3] and "k = 5" in lines[4]
    assert lines[6].startswith("  near-duplicate scan at n = 400:")
