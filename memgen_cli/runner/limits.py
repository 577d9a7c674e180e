"""Sizes refused before any work: a sweep whose estimated memory per task or total arithmetic is absurd (a typo
of three zeros) is one line naming the field, not an out-of-memory kill or a run of years. Environment variables
raise the limits for work that really is that large."""

from __future__ import annotations

import os

from memgen_cli.config import size_limit
from memgen_cli.errors import MemgenError
from memgen_cli.experiment import Experiment

MEMORY_VARIABLE, WORK_VARIABLE = "MEMGEN_MAX_MEMORY", "MEMGEN_MAX_WORK"
DEFAULT_WORK = 10**17  # floating-point operations: about three CPU-months at 10^10 per second


def physical_memory() -> int:
    """Bytes of RAM (16 GiB where the platform does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return 16 * 2**30


def _human(value: float, unit: str) -> str:
    if unit == "B":
        for scale, name in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB")):
            if value >= scale:
                return f"{value / scale:.3g} {name}"
        return f"{value:.0f} bytes"
    return f"{value:.2g} floating-point operations"


def check_footprint(experiment: Experiment, config, source: str, work: bool = True, workers: int = 1) -> None:
    """Refuse a config whose estimated footprint exceeds the limits, naming the field and the estimate
    (``work=False``: memory only, for `memgen locate`, whose work its trial budget bounds). ``workers``: tasks held
    in memory at once (local worker processes on this machine), each with a task's memory."""
    memory_limit = size_limit(MEMORY_VARIABLE, int(0.8 * physical_memory()))
    work_limit = size_limit(WORK_VARIABLE, DEFAULT_WORK)
    for estimate in experiment.footprint(config):
        if estimate.memory * workers > memory_limit:
            each = f"{workers} workers at once would hold about {_human(estimate.memory * workers, 'B')}" \
                if workers > 1 else f"a task would hold about {_human(estimate.memory, 'B')}"
            raise MemgenError(f"{source}: {estimate.field}: {each} of memory, over the limit of "
                              f"{_human(memory_limit, 'B')} (fewer --workers, or set the environment variable "
                              f"{MEMORY_VARIABLE}, in bytes, to go beyond)")
        if work and estimate.work > work_limit:
            raise MemgenError(f"{source}: {estimate.field}: the sweep would take about {_human(estimate.work, 'W')}, "
                              f"over the limit of {_human(work_limit, 'W')} (years of CPU time; set the environment "
                              f"variable {WORK_VARIABLE} to go beyond)")
