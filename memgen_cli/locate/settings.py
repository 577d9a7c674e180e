"""`memgen locate`'s settings: the one place of their bounds and defaults (a config's locate: section, --set
locate.X and the command's options are all read through this model)."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from memgen_cli.config import Integer, Real

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
