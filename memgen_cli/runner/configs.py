"""A sweep config read, overridden, validated and checked for size before any work: what every command does
first, so it loads no numerics it does not need (a refused config is one line, at once)."""

from __future__ import annotations

from pathlib import Path

from memgen_cli.config import read_model_config, validate_config
from memgen_cli.runner.limits import check_footprint
from memgen_cli.runner.registry import EXPERIMENTS, experiment_class


def load_sweep_config(path: Path, overrides: list[str] = (), model: str | None = None):
    """Read, override and validate a sweep config; ``model`` is what the command expects."""
    path = Path(path)
    data = read_model_config(path, overrides, model, "sweep", tuple(EXPERIMENTS))
    experiment = experiment_class(data["model"])()  # its tasks' libraries (torch) are not needed to check
    config = validate_config(experiment.config_class, data, str(path), overrides)
    check_footprint(experiment, config, str(path))  # from sizes alone: before a check that reads input files
    experiment.check(config)
    return config
