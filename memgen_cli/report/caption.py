"""What identifies the run a figure shows: a short caption line naming only what varies or differs from the
model's defaults, and the full record (every parameter, its default, what varies) for the figure's sidecar .json.

The defaults are the model's own: the first cell of its experiment's default config (the config class is the one
source of them, ``Experiment.config_class``), and the config's repeats field (trials, simulations). A parameter the
model does not know (a folder from another memgen, an unknown model) is shown as it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from memgen_cli.errors import MemgenError
from memgen_cli.report.reader import format_value, sort_key, symbol
from memgen_cli.results_format import COUNT_COLUMN, read_stored_config
from memgen_cli.runner.registry import EXPERIMENTS, experiment_class
from memgen_cli.yaml_files import YamlFileError

CAPTION_ITEMS = 5  # parameters that differ from the defaults named in the caption; the rest: "+k more"
DATA_COLUMN = "data"  # the image experiments' data family (digits, gaussian ...)
ORIGINAL_COUNT = "n_original"  # trials.csv: the original set's size as drawn (for digits: the digits not trained on)


# Config sections that say how and where a run went, not what it computed: never named in a caption.
RUN_SECTIONS = ("device", "threads", "compute", "output")


@dataclass(frozen=True)
class ModelDefaults:
    cell: dict  # parameter column -> default value (the first cell of the default config)
    config: dict  # the default config, nested as config.yaml holds it
    repeats_field: str | None = None  # trials, simulations
    repeats: int | None = None


def model_defaults(model: str) -> ModelDefaults:
    """A model's defaults, from its experiment's config class; empty for an unknown model."""
    if model not in EXPERIMENTS:
        return ModelDefaults({}, {})
    try:
        cls = experiment_class(model)
        config = cls.config_class()
        cell = cls().cells(config)[0]
        repeats = getattr(config, "repeats_field", None)
        return ModelDefaults(dict(cell), config.model_dump(by_alias=True, mode="json"), repeats,
                             int(getattr(config, repeats)) if repeats else None)
    except (MemgenError, ImportError, ValueError, TypeError, IndexError, AttributeError):
        return ModelDefaults({}, {})  # a model whose defaults cannot be built here: every parameter is shown


def flatten(nested: dict, prefix: str = "") -> dict[str, object]:
    """{'options': {'ridge': 0}} -> {'options.ridge': 0}."""
    flat = {}
    for key, value in nested.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def config_differences(config: dict | None, defaults: dict, columns: Sequence[str]) -> dict[str, tuple]:
    """Settings of config.yaml outside the grid that differ from the model's defaults and are not a parameter
    column already (seed, options.original_sets, evaluation.every ...); sections the default config lacks
    (a locate folder's locate:) and RUN_SECTIONS are left out."""
    if not config or not defaults:
        return {}
    default_flat = flatten(defaults)
    found = {}
    for name, value in flatten(config).items():
        section, leaf = name.split(".")[0], name.split(".")[-1]
        # a section named like a column stands for that setting (the U-Net's data.family is its column "data")
        if section in ("grid", "model", *RUN_SECTIONS) or section not in defaults or leaf in columns \
                or section in columns:
            continue
        default = default_flat.get(name)
        if not (isinstance(value, (list, tuple)) or isinstance(default, (list, tuple))) and same_value(value, default):
            continue
        if isinstance(value, (list, tuple)) and isinstance(default, (list, tuple)) and list(value) == list(default):
            continue
        found[name] = (value, default)
    return found


def same_value(value: object, default: object) -> bool:
    """Equal as parameters: 16 == 16.0, NaN (an unset option in a CSV) == None."""
    def canonical(v):
        if v is None or (isinstance(v, (float, np.floating)) and math.isnan(v)):
            return None
        if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)):
            return float(v)
        return str(v) if isinstance(v, np.str_) else v
    a, b = canonical(value), canonical(default)
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0)
    return a == b


def plain(value: object) -> object:
    """A JSON-safe scalar: numpy numbers as Python numbers, NaN as None."""
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    return value if value is None or isinstance(value, (int, str)) else str(value)


def values_of(column: pd.Series) -> list:
    """A column's distinct values, sorted (numbers before text, NaN last)."""
    return sorted({plain(v) for v in column.tolist()}, key=lambda v: sort_key(np.nan if v is None else v))


@dataclass(frozen=True)
class RunDescription:
    """The parameters of the run a figure shows, and which of them vary or differ from the model's defaults."""

    model: str
    swept: dict[str, list]  # parameter -> its values, x included
    fixed: dict[str, object]  # every other parameter -> its value
    defaults: dict[str, object]  # the model's default for each parameter it knows
    repeats: tuple[str, list] | None = None  # ("trials" or "simulations", the counts per cell)
    repeats_default: int | None = None
    original_set: list = field(default_factory=list)  # n_original values when they are not the N column's
    ignored: tuple[str, ...] = ()  # parameters the run did not use (N, when the original set is n_original)
    settings: dict[str, tuple] = field(default_factory=dict)  # config.yaml settings off their defaults
    config: dict | None = None  # config.yaml as the folder holds it

    def differences(self) -> dict[str, tuple[object, object]]:
        """Fixed parameters and settings whose value is not the model's default: name -> (value, default)."""
        fixed = {name: (value, self.defaults.get(name)) for name, value in self.fixed.items()
                 if name not in self.ignored and not (name in self.defaults and same_value(value, self.defaults[name]))}
        return {**fixed, **self.settings}

    def caption(self, at_most: int = CAPTION_ITEMS, say_defaults: bool = True) -> str:
        """One short line: the model, what differs from its defaults (``at_most`` of those, then "+k more"), what
        is swept."""
        items = [f"{symbol(name.split('.')[-1])} = {format_value(value)}"
                 for name, (value, _) in self.differences().items()]
        if self.original_set:  # beside the data it was drawn from (data = digits), else first
            low, high = min(self.original_set), max(self.original_set)
            after = [k for k, name in enumerate(self.differences()) if name == DATA_COLUMN]
            items.insert(after[0] + 1 if after else 0, f"original set {format_value(low)}"
                         + (f"–{format_value(high)}" if high != low else "") + " images")
        if self.repeats is not None and not (len(self.repeats[1]) == 1
                                             and same_value(self.repeats[1][0], self.repeats_default)):
            counts = self.repeats[1]
            count = format_value(counts[0]) if len(counts) == 1 else f"{format_value(min(counts))}–" \
                                                                     f"{format_value(max(counts))}"
            items.append(f"{count} {self.repeats[0]} per cell")
        shown = items[:at_most] + ([f"+{len(items) - at_most} more"] if len(items) > at_most else [])
        model = (experiment_class(self.model).title if self.model in EXPERIMENTS else "") or f"model {self.model}"
        swept = ", ".join(symbol(name) for name in self.swept)
        if not shown:
            return f"{model} at its default parameters" + (f"; swept: {swept}" if swept else "")
        known = " (the rest at defaults)" if self.defaults and say_defaults else ""
        return f"{model}: {', '.join(shown)}{known}" + (f"; swept: {swept}" if swept else "")

    def captions(self, suffix: str = "") -> list[str]:
        """The caption shortened step by step, longest first, each followed by ``suffix``: a figure draws the first
        that fits its lines (report.figures.canvas.caption_lines); the sidecar keeps every parameter."""
        found = [self.caption() + suffix]
        for at_most in range(CAPTION_ITEMS, -1, -1):
            found.append(self.caption(at_most, say_defaults=False) + suffix)
        return list(dict.fromkeys(found))

    def record(self) -> dict:
        """Everything, JSON-safe: for the figure's sidecar and the report page."""
        return {
            "model": self.model,
            "caption": self.caption(),
            "swept": {name: [plain(v) for v in values] for name, values in self.swept.items()},
            "fixed": {name: plain(value) for name, value in self.fixed.items()},
            "differs_from_defaults": {name: {"value": plain(value), "default": plain(default)}
                                      for name, (value, default) in self.differences().items()},
            "defaults": {name: plain(value) for name, value in self.defaults.items() if name in self.fixed},
            "repeats": ({"name": self.repeats[0], "per_cell": [plain(v) for v in self.repeats[1]],
                         "default": self.repeats_default} if self.repeats else None),
            "original_set_sizes": [plain(v) for v in self.original_set],
            "ignored": list(self.ignored),
            "config": self.config,
        }


def read_config(folder: Path) -> dict | None:
    """config.yaml of a results folder, as written; None when absent (the figure does without). A damaged one
    (binary, unreadable, huge, aliases that expand without end) is one line: the figures would silently lose the
    run's parameters."""
    try:
        return read_stored_config(folder)
    except YamlFileError as exc:
        raise MemgenError(f"{exc.path}: damaged ({exc.problem}); the figures and report take the run's parameters "
                          "from it: restore it, or remove it to go without them") from None


def describe(model: str, table: pd.DataFrame, parameters: Sequence[str], trials: pd.DataFrame | None = None,
             config: dict | None = None, repeats_column: str | None = COUNT_COLUMN) -> RunDescription:
    """The description of a table of cells (summary.csv, or a locate folder's nstar.csv) and its parameters, with
    the folder's config.yaml when there is one; ``repeats_column``: the table's count of trials per cell (None:
    it has none, e.g. nstar.csv, whose trials are a whole search's)."""
    defaults = model_defaults(model)
    swept = {name: values_of(table[name]) for name in parameters if table[name].nunique(dropna=False) > 1}
    fixed = {name: table[name].iloc[0] for name in parameters if name not in swept}
    repeats = None
    if repeats_column in table.columns and defaults.repeats_field:
        repeats = (defaults.repeats_field, values_of(table[repeats_column].dropna()))
    original_set, ignored = original_set_sizes(table, trials)
    columns = [*parameters, *table.columns, *([defaults.repeats_field] if repeats else [])]
    settings = config_differences(config, defaults.config, columns)
    return RunDescription(model, swept, fixed, defaults.cell, repeats, defaults.repeats, original_set, ignored,
                          settings, config)


def original_set_sizes(table: pd.DataFrame, trials: pd.DataFrame | None) -> tuple[list, tuple[str, ...]]:
    """The original sets' sizes as the trials drew them, when they are not the N column's (the digits: every digit
    not used for training, whatever N says); then N was not used."""
    if trials is None or ORIGINAL_COUNT not in trials.columns:
        return [], ()
    drawn = values_of(trials[ORIGINAL_COUNT].dropna())
    if "N" in table.columns and set(drawn) <= {plain(v) for v in table["N"]}:
        return [], ()
    return drawn, (("N",) if "N" in table.columns else ())
