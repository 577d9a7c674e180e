"""Sweep configs: YAML in, validated pydantic models out, with --set overrides and grid ranges.

Each experiment (linear, unet) defines its own pydantic model; its field defaults are the one source of
defaults. This module holds what they share: grid value parsing, loading and one-line error messages.
"""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from memgen_cli.errors import MemgenError


class GridRange(BaseModel):
    """A range of grid values: ``{start, stop, num, spacing: log|linear}`` (stop included)."""

    model_config = ConfigDict(extra="forbid")
    start: float
    stop: float
    num: int = Field(ge=1)
    spacing: Literal["log", "linear"] = "log"


def _as_number(value: Any) -> Any:
    # PyYAML reads "1e4" as a string (YAML 1.1); researchers write it anyway.
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def expand_grid_values(value: Any, integer: bool) -> Any:
    """A scalar, a list, or a GridRange mapping -> a list of values (integers rounded and de-duplicated)."""
    if isinstance(value, dict):
        try:
            rng = GridRange.model_validate(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValueError(f"range {where}: {first['msg']}") from None
        if rng.spacing == "log":
            if rng.start <= 0 or rng.stop <= 0:
                raise ValueError("a log-spaced range needs start > 0 and stop > 0")
            values = np.geomspace(rng.start, rng.stop, rng.num)
        else:
            values = np.linspace(rng.start, rng.stop, rng.num)
        values = [float(v) for v in values]
        if integer:  # a range of sizes: round, and drop the repeats rounding makes at the small end
            values = list(dict.fromkeys(int(round(v)) for v in values))
        return values
    if not isinstance(value, list):
        value = [value]
    value = [_as_number(v) for v in value]
    if integer:  # 1e4 is fine for N; 4.5 is left for validation to reject
        value = [int(v) if isinstance(v, float) and v.is_integer() else v for v in value]
    return value


def IntGrid(minimum: int) -> Any:
    """Type of an integer grid axis whose values must be >= minimum."""
    return Annotated[list[Annotated[int, Field(ge=minimum)]],
                     BeforeValidator(partial(expand_grid_values, integer=True)), Field(min_length=1)]


def PositiveGrid() -> Any:
    """Type of a real grid axis whose values must be > 0."""
    return Annotated[list[Annotated[float, Field(gt=0, allow_inf_nan=False)]],
                     BeforeValidator(partial(expand_grid_values, integer=False)), Field(min_length=1)]


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


def format_validation_error(exc: ValidationError, source: str) -> str:
    """One line naming the field and the problem, e.g. ``config.yaml: grid.n[0]: must be >= 2 (got 1)``."""
    errors = exc.errors()
    first = errors[0]
    where = ""
    for part in first["loc"]:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    if first["type"] == "extra_forbidden":
        msg = "unknown field"
    elif first["type"] == "missing":
        msg = "required field is missing"
    else:
        msg = _plain_message(first["msg"])
        if "input" in first and not isinstance(first["input"], (dict, list)):
            msg += f" (got {first['input']!r})"
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    return f"{source}: {where + ': ' if where else ''}{msg}{more}"


def read_yaml_mapping(path: Path) -> dict:
    """Read a YAML file that must hold a mapping; every failure is one MemgenError line."""
    if not path.exists():
        raise MemgenError(f"{path}: no such config file")
    if path.is_dir():
        raise MemgenError(f"{path}: is a folder, not a config file")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise MemgenError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise MemgenError(f"{path}: not valid YAML{where} ({getattr(exc, 'problem', None) or exc})") from None
    if not isinstance(data, dict):
        raise MemgenError(f"{path}: must be a YAML mapping of config fields, got {type(data).__name__}")
    return data


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply ``--set key.sub=value`` overrides; values are parsed as YAML (``[8, 32]``, ``50``, ``log``)."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise MemgenError(f"--set: expected key=value, got {item!r}")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
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
    return data


def validate_config(model_class: type[BaseModel], data: dict, source: str) -> BaseModel:
    try:
        return model_class.model_validate(data)
    except ValidationError as exc:
        raise MemgenError(format_validation_error(exc, source)) from None


def config_to_dict(config: BaseModel) -> dict:
    """The resolved config as plain data (grid ranges expanded), as written to config.yaml."""
    return config.model_dump(mode="json", by_alias=True)


def dump_yaml(data: dict) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None)
