"""Sweep configs: YAML in, validated pydantic models out, with --set overrides and grid ranges.

Each experiment (linear, unet) defines its own pydantic model; its field defaults are the one source of
defaults. This module holds what they share: grid value parsing, loading and one-line error messages.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from memgen_cli.errors import MemgenError
from memgen_cli.yaml_files import DuplicateKeyError, ExpansionError, load_yaml, read_yaml_mapping


def _as_number(value: Any) -> Any:
    # PyYAML reads "1e4" as a string (YAML 1.1); researchers write it anyway.
    if isinstance(value, str):
        for parse in (int, float):
            try:
                return parse(value)
            except ValueError:
                pass
    return value


def _integral(value: Any) -> Any:
    """One rule for every integer field: 1000, 1e3 and 1000.0 are 1000; 4.5 and true are refused."""
    if isinstance(value, bool):  # YAML's true is not 1
        raise ValueError("must be an integer, not a boolean")
    value = _as_number(value)
    if isinstance(value, float) and value.is_integer():
        if abs(value) > 2**53:  # 1e30 is not 10^30 in float64: the digits would be silently changed
            raise ValueError(f"write {value:g} out in digits: beyond 2^53 a number in exponent form is not exact")
        return int(value)
    return value  # 4.5 or text: pydantic refuses it as "must be integer"


def _real(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    return _as_number(value)


Integer = Annotated[int, BeforeValidator(_integral)]  # constrain with Field(ge=...) where used
Real = Annotated[float, BeforeValidator(_real)]


def each_value_once(values: list | None) -> list | None:
    """A grid axis lists each value once: a repeat would be one cell with its trials counted twice."""
    for value, count in Counter(values or []).items():
        if count > 1:
            shown = repr(value) if isinstance(value, str) else str(value)
            raise ValueError(f"{shown} appears {count} times; each value once")
    return values


class GridRange(BaseModel):
    """A range of grid values: ``{start, stop, num, spacing: log|linear}`` (stop included)."""

    model_config = ConfigDict(extra="forbid")
    start: Real = Field(allow_inf_nan=False)
    stop: Real = Field(allow_inf_nan=False)
    num: Integer = Field(ge=1)
    spacing: Literal["log", "linear"] = "log"


def expand_grid_values(value: Any, integer: bool) -> Any:
    """A scalar, a list, or a GridRange mapping -> a list of values (a range's integers rounded and de-duplicated)."""
    if isinstance(value, dict):
        try:
            rng = GridRange.model_validate(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValueError(f"range {where}: {_plain_message(first['msg'])}") from None
        import numpy as np  # here, so that the CLI's help (which reads option bounds) does not load numpy

        if rng.spacing == "log":
            if rng.start <= 0 or rng.stop <= 0:
                raise ValueError("a log-spaced range needs start > 0 and stop > 0")
            values = np.geomspace(rng.start, rng.stop, rng.num)
        else:
            values = np.linspace(rng.start, rng.stop, rng.num)
        values = [float(v) for v in values]
        if integer:  # a range of sizes: round, and drop the repeats rounding makes at the small end
            if max(abs(rng.start), abs(rng.stop)) > 2**53:
                raise ValueError("a range of sizes must lie within 2^53 (beyond, float64 cannot hold integers)")
            values = list(dict.fromkeys(int(round(v)) for v in values))
        return values
    # A list the user wrote is taken as written (its values are typed one by one, and each must appear once).
    return value if isinstance(value, list) else [value]


def IntGrid(minimum: int) -> Any:
    """Type of an integer grid axis whose values must be >= minimum, each once."""
    return Annotated[list[Annotated[Integer, Field(ge=minimum)]],
                     BeforeValidator(partial(expand_grid_values, integer=True)), Field(min_length=1),
                     AfterValidator(each_value_once)]


def PositiveGrid(zero: bool = False) -> Any:
    """Type of a real grid axis whose values must be > 0 (``zero``: >= 0), each once."""
    bound = {"ge": 0} if zero else {"gt": 0}
    return Annotated[list[Annotated[Real, Field(allow_inf_nan=False, **bound)]],
                     BeforeValidator(partial(expand_grid_values, integer=False)), Field(min_length=1),
                     AfterValidator(each_value_once)]


_MESSAGE_REWRITES = [  # pydantic's wording -> a researcher's
    (re.compile(r"^Input should be greater than or equal to (.*)$"), r"must be >= \1"),
    (re.compile(r"^Input should be greater than (.*)$"), r"must be > \1"),
    (re.compile(r"^Input should be less than or equal to (.*)$"), r"must be <= \1"),
    (re.compile(r"^Input should be a valid (integer|number).*$"), r"must be \1"),
    (re.compile(r"^Input should be a finite number$"), r"must be a finite number"),
    (re.compile(r"^Input should be (\'.*)$"), r"must be one of \1"),
    (re.compile(r"^(List|Value) should have at least 1 item.*$"), r"must not be empty"),
    (re.compile(r"^Value error, (.*)$"), r"\1"),
]


def _plain_message(msg: str) -> str:
    for pattern, replacement in _MESSAGE_REWRITES:
        if pattern.match(msg):
            return pattern.sub(replacement, msg)
    return msg[0].lower() + msg[1:]


def format_validation_error(exc: ValidationError, source: str, location: bool = True,
                            model_class: type[BaseModel] | None = None, overridden: tuple[str, ...] = ()) -> str:
    """One line naming the field and the problem, e.g. ``config.yaml: grid.n[0]: must be >= 2 (got 1)``
    (``location=False``: the source alone names the field, e.g. ``--workers: must be >= 1 (got 0)``). A field
    given by ``--set`` (one of ``overridden``) is blamed on --set, not on the file; an unknown field gets the
    nearest known name of ``model_class``'s section."""
    errors = exc.errors()
    first = errors[0]
    where = ""
    for part in first["loc"]:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    if first["type"] == "extra_forbidden":
        msg = "unknown field" + _did_you_mean(model_class, first["loc"])
    elif first["type"] == "missing":
        msg = "required field is missing"
    else:
        msg = _plain_message(first["msg"])
        if "input" in first and not isinstance(first["input"], (dict, list)):
            msg += f" (got {first['input']!r})"
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    dotted = ".".join(str(p) for p in first["loc"] if not isinstance(p, int))
    if not first["loc"] and first["type"] == "value_error":  # a check across fields names its field first
        dotted = re.sub(r"\[\d+\]", "", msg.partition(":")[0])
    unknown = first["type"] == "extra_forbidden"  # --set grdi.n=[2]: the unknown section 'grdi' is --set's too
    if any(dotted == key or dotted.startswith(key + ".") or (unknown and key.startswith(dotted + "."))
           for key in overridden):
        source = "--set"  # the value came from the command line, not from the file
    return f"{source}: {where + ': ' if where and location else ''}{msg}{more}"


def _did_you_mean(model_class: type[BaseModel] | None, loc: tuple) -> str:
    """' (did you mean 'trials'?)' for an unknown key close to a known one of its section."""
    import difflib

    section = model_class
    for part in loc[:-1]:
        field = section.model_fields.get(str(part)) if section is not None else None
        annotation = getattr(field, "annotation", None)
        section = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    if section is None:
        return ""
    names = [f.alias or name for name, f in section.model_fields.items()]
    close = difflib.get_close_matches(str(loc[-1]), names, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def validate_options(model_class: type[BaseModel], options: dict, flags: dict[str, str]) -> BaseModel:
    """Command-line options -> model_class, or one MemgenError line naming the option as typed
    (``flags``: field -> ``--option``), e.g. ``--bootstrap: must be >= 100 (got 5)``."""
    try:
        return model_class.model_validate(options)
    except ValidationError as exc:
        loc = exc.errors()[0]["loc"]
        name = str(loc[0]) if loc else ""
        raise MemgenError(format_validation_error(exc, flags.get(name, name), location=False)) from None


def read_model_config(path: Path, overrides: list[str], model: str | None, command: str,
                      known: tuple[str, ...] = ()) -> dict:
    """A config file's mapping with --set overrides applied and its model checked against the command's
    (``memgen <command> <model>``) and the ``known`` models; the mapping names its model."""
    data = apply_overrides(read_yaml_mapping(path), list(overrides))
    found = data.get("model", model)
    if known and found not in known:
        raise MemgenError(f"{path}: model: unknown model {found!r} (choose from {', '.join(known)})")
    if model is not None and found != model:
        raise MemgenError(f"{path}: model: this config is for {found!r}; run it with 'memgen {command} {found}'")
    data["model"] = found
    return data


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply ``--set key.sub=value`` overrides (values are parsed as YAML: ``[8, 32]``, ``50``, ``log``) and
    ``--set ~key.sub`` removals (the field returns to its default)."""
    for item in overrides:
        if item.startswith("~") and "=" not in item:
            _remove_key(data, item[1:].strip(), item)
            continue
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise MemgenError(f"--set: expected key=value or ~key, got {item!r}")
        try:
            value = load_yaml(raw) if raw.strip() else None
        except (DuplicateKeyError, ExpansionError) as exc:
            raise MemgenError(f"--set {key}: {exc}") from None
        except yaml.YAMLError:
            raise MemgenError(f"--set {key}: value {raw!r} is not valid YAML") from None
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise MemgenError(f"--set {key}: {part} is not a section")
            node = child
        node[parts[-1]] = value
        _one_spelling(data, parts)
    return data


def _one_spelling(data: dict, parts: list[str]) -> None:
    """grid.X (sweep X) and options.X (set X) are two spellings of one setting: the one --set gives replaces
    the other, wherever the file had it."""
    if len(parts) == 2 and parts[0] in ("grid", "options"):
        other = data.get("options" if parts[0] == "grid" else "grid")
        if isinstance(other, dict) and parts[1] in other and (parts[0] == "options" or "options" in data):
            del other[parts[1]]


def _remove_key(data: dict, key: str, item: str) -> None:
    node, parts = data, key.split(".")
    for part in parts[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
    if not key or not isinstance(node, dict) or parts[-1] not in node:
        raise MemgenError(f"--set {item}: the config has no {key or 'key'} to remove")
    del node[parts[-1]]


# Sweeps bigger than this are refused before anything is expanded or planned (planning costs about 10 µs
# and 150 bytes per trial, and a typo of three zeros should not fill the memory): environment variables raise them.
SIZE_LIMITS = {"MEMGEN_MAX_CELLS": 100_000, "MEMGEN_MAX_TRIALS": 1_000_000}


def size_limit(name: str, default: int | None = None) -> int:
    """A limit from its environment variable (a positive integer), else its default."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return SIZE_LIMITS[name] if default is None else default
    value = _count(raw)
    if value is None or value != _as_number(raw):
        raise MemgenError(f"{name}: must be a positive integer (got {raw!r})")
    return value


def _count(value: Any) -> int | None:
    """A count as written (50, 1e3, "1e9"); None where validation will refuse it anyway."""
    value = None if isinstance(value, bool) else _as_number(value)
    if isinstance(value, (int, float)) and math.isfinite(value) and value >= 1:
        return int(value)
    return None


def _axis_length(value: Any) -> int:
    """Values of a grid axis as written: a range counts its num, before rounding or de-duplication."""
    if isinstance(value, dict):
        return _count(value.get("num")) or 1
    return (len(value) or 1) if isinstance(value, (list, tuple)) else 1


def _largest_repeats(value: Any, repeats: str) -> int:
    """The largest count of ``repeats`` anywhere in a trial plan field as written (rules, earlier plans)."""
    if isinstance(value, dict):
        return max([_count(value.get(repeats)) or 0] + [_largest_repeats(v, repeats) for v in value.values()])
    if isinstance(value, list):
        return max([0] + [_largest_repeats(v, repeats) for v in value])
    return 0


def check_sweep_size(model_class: type[BaseModel], data: dict, source: str) -> None:
    """Refuse a sweep over the size limits, counted from the raw config: nothing is expanded or allocated.

    A config class opts in with a ``repeats_field`` class variable (trials, simulations) and a ``grid``.
    """
    repeats = getattr(model_class, "repeats_field", None)
    grid = data.get("grid") or {}
    if repeats is None or not isinstance(grid, dict):
        return
    cells = 1
    for name, field in model_class.model_fields["grid"].annotation.model_fields.items():
        key = next((k for k in (field.alias, name) if k in grid), None)
        default = field.get_default()
        cells *= _axis_length(grid[key]) if key else ((len(default) or 1) if isinstance(default, list) else 1)
    per_cell = _count(data.get(repeats, model_class.model_fields[repeats].default)) or 1
    for name in getattr(model_class, "trial_plan_fields", ()):  # cells given more (an upper bound: each the most)
        per_cell = max(per_cell, _largest_repeats(data.get(name), repeats))
    max_cells, max_trials = size_limit("MEMGEN_MAX_CELLS"), size_limit("MEMGEN_MAX_TRIALS")
    if cells > max_cells:
        raise MemgenError(f"{source}: grid: {cells} cells, over the limit of {max_cells} "
                          f"(set the environment variable MEMGEN_MAX_CELLS to raise it)")
    if cells * per_cell > max_trials:
        raise MemgenError(f"{source}: {repeats}: {cells} cells x {per_cell} {repeats} = {cells * per_cell} "
                          f"{repeats}, over the limit of {max_trials} "
                          f"(set the environment variable MEMGEN_MAX_TRIALS to raise it)")


def validate_config(model_class: type[BaseModel], data: dict, source: str,
                    overrides: list[str] | tuple[str, ...] = ()) -> BaseModel:
    """data -> model_class, or one MemgenError line; a sweep config's size is checked first. ``overrides`` (the
    --set items) tell which fields came from the command line."""
    check_sweep_size(model_class, data, source)
    try:
        return model_class.model_validate(data)
    except ValidationError as exc:
        keys = tuple(item.lstrip("~").partition("=")[0].strip() for item in overrides)
        raise MemgenError(format_validation_error(exc, source, model_class=model_class, overridden=keys)) from None


class SweepConfig(BaseModel):
    """The base of every experiment's config class (``Experiment.config_class``). ``repeats_field`` names the field
    that counts repeats per cell (trials, simulations; None: one per cell), which the size limits, a folder's growth,
    captions and ``Experiment.trial_count`` read. Its fields are each model's own."""

    repeats_field: ClassVar[str | None] = None
    # Fields beyond repeats_field that say how many trials each cell runs (the linear model's more_trials): a
    # change there may grow a folder's sweep, as Experiment.growth_problem judges.
    trial_plan_fields: ClassVar[tuple[str, ...]] = ()


def left_out_at_defaults(data: Any, defaults: dict) -> Any:
    """For a ``model_serializer(mode="wrap")``: fields added to a config after folders were written stay out of
    its dump (config.yaml, cells, task identities) while they hold their default, so those folders resume as they
    were. ``data`` is the handler's output; ``defaults`` maps each such field to its default."""
    if isinstance(data, dict):
        for name, default in defaults.items():
            if name in data and data[name] == default and type(data[name]) is type(default):
                data.pop(name)
    return data


def config_to_dict(config: BaseModel) -> dict:
    """The resolved config as plain data (grid ranges expanded), as written to config.yaml."""
    return config.model_dump(mode="json", by_alias=True)


def dump_yaml(data: dict) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None)
