"""How quickly the command line answers: `memgen --help`, a U-Net dry run and a refused U-Net config, against the
bare Python start-up in the same run (the floor no command goes below).

Run with `make bench` (or `python benchmarks/bench_cli.py [--repeats K]`). Each figure is the median of K runs
in fresh processes; machines here are shared, so compare the numbers printed in one run.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MEMGEN = [sys.executable, "-m", "memgen_cli"]


def seconds(command: list[str], repeats: int, expect: int = 0) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if done.returncode != expect:
            raise SystemExit(f"{' '.join(command)}: exit {done.returncode}\n{done.stderr}")
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    repeats = parser.parse_args().repeats
    with tempfile.TemporaryDirectory() as tmp:
        bad = Path(tmp) / "bad.yaml"
        bad.write_text("model: unet\ngrid: {n: [1]}\n")
        rows = [("python -c pass (the floor)", seconds([sys.executable, "-c", "pass"], repeats)),
                ("memgen --help", seconds([*MEMGEN, "--help"], repeats)),
                ("memgen sweep unet configs/unet/quick.yaml --dry-run",
                 seconds([*MEMGEN, "sweep", "unet", "configs/unet/quick.yaml", "--dry-run"], repeats)),
                ("memgen sweep unet <bad config> (refused)", seconds([*MEMGEN, "sweep", "unet", str(bad)], repeats, 2)),
                ("memgen sweep linear configs/linear/quick.yaml --dry-run",
                 seconds([*MEMGEN, "sweep", "linear", "configs/linear/quick.yaml", "--dry-run"], repeats))]
    floor = rows[0][1]
    print(f"median of {repeats} fresh processes each")
    for name, value in rows:
        print(f"  {name}: {value:.2f} s ({value / floor:.1f}x the floor)")


if __name__ == "__main__":
    main()
