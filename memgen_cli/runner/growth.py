"""Growing a sweep in place: which differences between a folder's config and a new one only add work.

A folder accepts a config that differs from its own only by values added to grid axes (new cells) and by more
trials (simulations) per cell, when the experiment says that changes no existing number
(``Experiment.growth_problem``). Every stored part keeps its identity (its cell, trials, seeds and inputs), so
its rows are reused as they are and only the new tasks run. Anything else is a different config.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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


def config_changes(old: dict, new: dict, repeats_field: str | None) -> ConfigChanges:
    """Every difference between two resolved configs, sorted into growth and the rest."""
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
        else:
            changes.other.append(f"{path} was {a!r}, now {b!r}")
    return changes
