"""`memgen analyze`'s settings (and `memgen plot`'s and `memgen report`'s, which draw that analysis), and the
report's own: the one place of their bounds and defaults, from which the commands' options are made."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from memgen_cli.config import Real


class AnalysisSettings(BaseModel):
    """The analysis' options: the one place of their bounds and defaults (the CLI's options are made from it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    align_factor: Real = Field(default=2.0, gt=1, allow_inf_nan=False,
                               description="two estimates of the transition count as aligned when their ratio "
                                           "lies within [1/F, F]")
    # Fewer replicates make the 2.5/97.5 percentiles meaningless; more buy nothing (at 10^4 the 2.5% percentile is
    # the 2.5 ± 0.16% quantile) and cost memory and time in proportion: docs/analysis.md.
    bootstrap: int = Field(default=1000, ge=100, le=10_000,
                           description="bootstrap replicates for the intervals (resampling original sets or "
                                       "simulations, then trials)")
    seed: int = Field(default=0, ge=0, description="seed of the bootstrap: each group's generator derives from it "
                                                    "and the group's parameters, so the same seed gives the same "
                                                    "intervals whatever other groups the folder holds")
    x: str = Field(default="n", min_length=1, description="parameter column on the (log) x axis")


class ReportSettings(BaseModel):
    """`memgen report`'s own options (its analysis options are ``AnalysisSettings``')."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    dpi: int = Field(default=150, ge=72, le=600, description="resolution of the PNG figures embedded in the page "
                                                             "(dots per inch of the figures' printed size)")
    image_format: Literal["png", "svg"] = Field(default="png", description="how figures are embedded: png or svg")
