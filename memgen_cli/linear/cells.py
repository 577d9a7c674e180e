"""A linear-model cell: one point of the sweep's grid with the settings every trial of it shares.

The runner treats cells generically, as flat dicts of scalars (trials.csv's parameter columns, hashed into cell
ids and seeds); the experiment turns them into this frozen type where it uses them, as the image models do
(imaging/cells.py). ``to_cell`` gives back exactly the dict, keys and order, that cell ids and CSVs were made from.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar


@dataclass(frozen=True)
class LinearCell:
    n: int  # training-set size
    d: int  # dimension
    lam: float  # noise scale λ (the column ``lambda``)
    T: float  # diffusion time
    N: int  # original-set size
    mu: float  # data mean of every coordinate
    sigma: float  # data std of every coordinate
    bandwidth: str  # the KDE width rule
    covariance: str  # the generated covariance convention (BBt | BtB)
    ridge: float  # the fit's ridge (0: minimum-norm least squares)
    original: str  # fixed | redraw

    COLUMN_NAMES: ClassVar[dict[str, str]] = {"lam": "lambda"}  # field -> trials.csv column, where they differ

    @classmethod
    def from_cell(cls, cell: dict) -> "LinearCell":
        return cls(**{f.name: cell[cls.COLUMN_NAMES.get(f.name, f.name)] for f in fields(cls)})

    def to_cell(self) -> dict:
        """The flat cell: trials.csv's parameter columns in their order (n, d, lambda, T, N, mu, sigma, ...)."""
        return {self.COLUMN_NAMES.get(f.name, f.name): getattr(self, f.name) for f in fields(self)}

    @property
    def original_drawn_from(self) -> tuple:
        """What a fixed original set is drawn from (and its KDE built with): shared by cells that differ only in
        n, λ, T, the covariance convention or the ridge."""
        return (self.d, self.N, self.mu, self.sigma, self.bandwidth)

    def fit_options(self) -> dict:
        """The keyword settings a trial's fit and KDEs take (model.run_linear_trial, batch.run_linear_trials)."""
        return dict(sigma=self.sigma, bandwidth=self.bandwidth, covariance=self.covariance, ridge=self.ridge)
