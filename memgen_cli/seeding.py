"""Seeds derived from (root seed, what a piece of work is), never from the order work runs in."""

from __future__ import annotations

import hashlib
import json


def stable_hash(*parts: object) -> str:
    """Hex sha256 of the parts' canonical JSON: the same on every machine and Python version."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def derived_seed(root_seed: int, *parts: object) -> int:
    """A 63-bit seed for numpy.random.default_rng (fits a signed 64-bit CSV column)."""
    return int(stable_hash(root_seed, *parts)[:16], 16) >> 1


def cell_id(model: str, cell: dict) -> str:
    """12 hex digits naming a cell by its parameters."""
    return stable_hash(model, cell)[:12]


def trial_seed(root_seed: int, model: str, cell: dict, trial: int) -> int:
    return derived_seed(root_seed, model, cell, trial)
