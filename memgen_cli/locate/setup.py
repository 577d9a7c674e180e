"""A locate config: an experiment's sweep config plus a ``locate:`` section; its combinations and search range.

The grid is read as a sweep's, except n: two values are the search range (``locate.scan`` sizes geometric
between them are scanned first), more than two are the scan sizes themselves. Every other axis is crossed
as in a sweep; each point of that product is a *combination* whose n* is searched. ``N_per_d`` and
``n_max_per_d`` let N and the top of the search range grow with d (a phase diagram over d).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from memgen_cli.errors import MemgenError
from memgen_cli.locate.search import scan_sizes
from memgen_cli.config import (Integer, Real, config_to_dict, format_validation_error, read_model_config,
                                      validate_config)
from memgen_cli.runner.plan import get_experiment

SECTION = "locate"
# Settings that only say when to stop: a rerun with other values continues the same search (its decisions up
# to the old stopping point are the same), so they are not part of the stored config's identity.
STOPPING = ("rel_width", "max_trials")


class LocateSettings(BaseModel):
    """The search's settings; every one may be given in the config's locate: section or by --set locate.X."""

    model_config = ConfigDict(extra="forbid")
    rel_width: Real = Field(default=0.1, gt=0, le=10, allow_inf_nan=False,
                            description="stop when the 95% interval of n* lies within n* x/÷ (1 + rel_width)")
    batch: Integer = Field(default=20, ge=1, le=100_000, description="trials (simulations) added per point")
    scan: Integer = Field(default=8, ge=2, le=100, description="sizes scanned first, geometric in n")
    per_round: Integer = Field(default=1, ge=1, le=100, description="batches placed per combination per round")
    max_trials: Integer = Field(default=3000, ge=1, le=10_000_000, description="trial budget per combination")
    N_per_d: Optional[Real] = Field(default=None, gt=0, allow_inf_nan=False,
                                    description="N = max(grid N, round(N_per_d * d)) for each combination")
    n_max_per_d: Optional[Real] = Field(default=None, gt=0, allow_inf_nan=False,
                                        description="search up to n = min(grid n_max, round(n_max_per_d * d))")
    target: str = Field(default="delta_positive", min_length=1, description="a 0/1 (or [0, 1]) trial column")
    direction: Literal["up", "down"] = "up"


@dataclass
class LocateSetup:
    model: str
    config: BaseModel  # the experiment's config as validated (grid.n: the search range or scan sizes)
    settings: LocateSettings
    stored: dict  # config.yaml: the experiment config and the locate settings that shape the search
    combinations: list[dict]  # one template cell per combination (n set to 0)
    scans: list[list[int]]  # the scan sizes of each combination

    def task_config(self) -> BaseModel:
        """What tasks see: the config with its trial count set to one batch (trials t of a batch span every
        original set, as a sweep's cell of that many trials would)."""
        experiment = get_experiment(self.model)
        data = config_to_dict(self.config)
        data[experiment.config_class.repeats_field] = self.settings.batch
        return experiment.config_class.model_validate(data)


def load_locate_config(path: Path, overrides: list[str] = (), model: str | None = None) -> LocateSetup:
    path = Path(path)
    data = read_model_config(path, overrides, model, "locate")
    found = data["model"]
    section = data.pop(SECTION, None)
    if section is None:
        section = {}
    if not isinstance(section, dict):
        raise MemgenError(f"{path}: {SECTION}: must be a mapping of search settings")
    try:
        settings = LocateSettings.model_validate(section)
    except ValidationError as exc:
        raise MemgenError(format_validation_error(exc, f"{path}: {SECTION}").replace(f"{SECTION}: ", f"{SECTION}.",
                                                                                     1)) from None
    experiment = get_experiment(found)
    config = validate_config(experiment.config_class, data, str(path))
    experiment.check(config)
    sizes = sorted(config.grid.n)
    if len(sizes) < 2:
        raise MemgenError(f"{path}: grid.n: give the search range [n_min, n_max] (or the sizes to scan), "
                          f"got {sizes}")
    templates, scans = [], []
    for cell in experiment.cells(config.model_copy(update={"grid": config.grid.model_copy(update={"n": [sizes[0]]})})):
        cell = {**cell, "n": 0}
        top = sizes[-1]
        for name, value in (("N_per_d", settings.N_per_d), ("n_max_per_d", settings.n_max_per_d)):
            if value is not None and ("d" not in cell or "N" not in cell):
                raise MemgenError(f"{path}: locate.{name}: only for models whose cells have d and N")
        if settings.N_per_d is not None:
            cell["N"] = max(cell["N"], int(round(settings.N_per_d * cell["d"])))
            _check_combination(experiment, data, cell, str(path))
        if settings.n_max_per_d is not None:
            top = min(top, int(round(settings.n_max_per_d * cell["d"])))
            if top <= sizes[0]:
                raise MemgenError(f"{path}: locate.n_max_per_d: gives n_max = {top} at d = {cell['d']}, not above "
                                  f"n_min = {sizes[0]}")
        if cell not in templates:
            templates.append(cell)
            kept = [n for n in sizes if n <= top]
            scans.append(kept if len(sizes) > 2 and len(kept) >= 2 else scan_sizes(sizes[0], top, settings.scan))
    if settings.target not in (*experiment.binary_metrics, *experiment.mean_metrics):
        raise MemgenError(f"{path}: locate.target: {settings.target!r} is not a trial metric of {found} "
                          f"(e.g. {', '.join(experiment.binary_metrics)})")
    stored = {**config_to_dict(config), SECTION: settings.model_dump(exclude=set(STOPPING))}
    return LocateSetup(found, config, settings, stored, templates, scans)


def _check_combination(experiment, data: dict, cell: dict, source: str) -> None:
    """With N set from d, the combination's own config must validate (float64 range, bandwidths)."""
    grid = {**data.get("grid", {}), "d": [cell["d"]], "N": [cell["N"]]}
    validate_config(experiment.config_class, {**data, "grid": grid}, f"{source} (d = {cell['d']}, N = {cell['N']})")


def describe(setup: LocateSetup) -> str:
    s = setup.settings
    scans = [str(list(scan)) for scan in dict.fromkeys(tuple(scan) for scan in setup.scans)]
    return (f"# {len(setup.combinations)} combination(s); scan n = {' or '.join(scans)}; batches of {s.batch}; "
            f"stop at 95% interval within x/÷{1 + s.rel_width:g} or {s.max_trials} trials per combination "
            f"(at most {math.ceil(s.max_trials / s.batch) * len(setup.combinations)} batches)")
