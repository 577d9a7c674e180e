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

from pydantic import BaseModel, ValidationError

from memgen_cli.errors import MemgenError
from memgen_cli.locate.search import scan_sizes
from memgen_cli.locate.settings import SECTION, STOPPING, LocateSettings
from memgen_cli.config import (config_to_dict, format_validation_error, read_model_config,
                                      validate_config)
from memgen_cli.runner.limits import check_footprint
from memgen_cli.runner.registry import EXPERIMENTS, experiment_class

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
        experiment = experiment_class(self.model)
        data = config_to_dict(self.config)
        data[experiment.config_class.repeats_field] = self.settings.batch
        return experiment.config_class.model_validate(data)


def load_locate_config(path: Path, overrides: list[str] = (), model: str | None = None) -> LocateSetup:
    path = Path(path)
    data = read_model_config(path, overrides, model, "locate", tuple(EXPERIMENTS))
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
    experiment = experiment_class(found)()
    config = validate_config(experiment.config_class, data, str(path), overrides)
    for name in experiment.config_class.trial_plan_fields:  # a sweep's per-cell trials (linear more_trials)
        if getattr(config, name):
            given = "--set" if any(item.startswith(name) for item in overrides) else path
            raise MemgenError(f"{given}: {name}: a sweep's setting; memgen locate gives every point its trials "
                              "in batches (locate.batch), as its search needs them")
    experiment.check(config)
    check_footprint(experiment, config, str(path), work=False)
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
