"""Growing a sweep in place: which differences between a folder's config and a new one only add work.

A folder accepts a config that differs from its own only by values added to grid axes (new cells) and by more
trials (simulations) per cell, when the experiment says that changes no existing number
(``Experiment.growth_problem``). Every stored part keeps its identity (its cell, trials, seeds and inputs), so
its rows are reused as they are and only the new tasks run. Anything else is a different config. Before the
run is planned, the experiment records in the config what the new trials need to know of the stored ones
(``Experiment.grown_config``: the linear model's earlier trial plans), so config.yaml reproduces the grown folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from memgen_cli.config import config_to_dict
from memgen_cli.results_format import read_stored_config
from memgen_cli.yaml_files import YamlFileError


@dataclass
class ConfigChanges:
    growth: list[str] = field(default_factory=list)  # e.g. "grid.n: + [128]", "trials: 60 -> 100"
    other: list[str] = field(default_factory=list)  # e.g. "seed was 0, now 1"

    @property
    def only_growth(self) -> bool:
        return bool(self.growth) and not self.other


def _leaves(data: object, where: str = "") -> dict[str, object]:
    if isinstance(data, dict) and data:
        found: dict[str, object] = {}
        for key, value in data.items():
            found.update(_leaves(value, f"{where}.{key}" if where else str(key)))
        return found
    return {where or "config": data}


def _plan_change(path: str, before: object, after: object) -> str:
    """A trial plan field's change in a few words: what a list gained, else both values."""
    before, after = [] if before is None else before, [] if after is None else after
    if isinstance(before, list) and isinstance(after, list) and after[:len(before)] == before:
        return f"{path}: + {after[len(before):]}"
    return f"{path}: {before} -> {after}"


def config_changes(old: dict, new: dict, config_class: type | None) -> ConfigChanges:
    """Every difference between two resolved configs of ``config_class`` (None: unknown), sorted into growth
    (grid values added, more repeats, a changed trial plan, all judged by the experiment) and the rest."""
    repeats_field = getattr(config_class, "repeats_field", None)
    plan_fields = getattr(config_class, "trial_plan_fields", ())
    changes = ConfigChanges()
    before, after = _leaves(old), _leaves(new)
    for path in list(before) + [p for p in after if p not in before]:
        a, b = before.get(path), after.get(path)
        if a == b:
            continue
        if path.startswith("grid.") and isinstance(a, list) and isinstance(b, list) and \
                all(value in b for value in a) and len(b) > len(a):
            changes.growth.append(f"{path}: + {[value for value in b if value not in a]}")
        elif path == repeats_field and isinstance(a, int) and isinstance(b, int) and b > a:
            changes.growth.append(f"{path}: {a} -> {b}")
        elif path.split(".")[0] in plan_fields:
            changes.growth.append(_plan_change(path, a, b))
        else:
            changes.other.append(f"{path} was {a!r}, now {b!r}")
    return changes


def config_for_folder(experiment, config, folder: Path):
    """The config a run of ``config`` into ``folder`` runs: ``Experiment.grown_config`` of the folder's stored
    one where that only grows it; else ``config`` as given (a new folder, or one the run will refuse, whose
    refusal then names the user's own change)."""
    try:
        stored = read_stored_config(Path(folder)) if Path(folder).is_dir() else None
        if stored is None or stored.get("model") != config.model:
            return config
        stored = experiment.config_class.model_validate(experiment.read_stored_config(stored)[0])
    except (YamlFileError, ValueError, OSError):
        return config  # the folder's own checks name what is wrong with it
    grown = experiment.grown_config(stored, config)
    if grown is config:
        return config
    changes = config_changes(config_to_dict(stored), config_to_dict(grown), experiment.config_class)
    if changes.other or experiment.growth_problem(stored, grown) is not None:
        return config
    return grown
