"""memgen: measure the memorization-to-generalization transition of diffusion models.

The Python API, for notebooks (the CLI is a thin layer over the same functions):

- ``fit_denoiser``, ``sampling_distribution``, ``generated_distribution``: the linear one-step model;
- ``kde_bandwidth``, ``kde_l2_distances``, ``isotropic_kde_distances``: exact KDE L² distances in log space;
- ``hellinger_squared``: H² between the generated Gaussian and the data distribution;
- ``run_linear_trial``: one trial, as one row of trials.csv;
- ``load_sweep_config``, ``run_sweep``, ``sweep_dataframe``: whole sweeps, as pandas DataFrames;
- ``load_results``: a results folder's config, model and tables (trials, summary, transitions, memorization,
  curves) as pandas DataFrames.

Names load on first use (``import memgen_cli`` alone imports nothing heavy, so `memgen --help` stays quick);
nothing here imports torch, diffusers or dask.
"""

from __future__ import annotations

import importlib

from memgen_cli.version import __version__

_API = {
    "fit_denoiser": "memgen_cli.linear.model", "sampling_distribution": "memgen_cli.linear.model",
    "generated_distribution": "memgen_cli.linear.model", "hellinger_squared": "memgen_cli.linear.model",
    "run_linear_trial": "memgen_cli.linear.model",
    "kde_bandwidth": "memgen_cli.kde", "kde_l2_distances": "memgen_cli.kde",
    "isotropic_kde_distances": "memgen_cli.kde",
    "load_sweep_config": "memgen_cli.runner.configs", "run_sweep": "memgen_cli.runner.sweep",
    "sweep_dataframe": "memgen_cli.runner.sweep", "load_results": "memgen_cli.report.analysis.load",
}

__all__ = [*_API, "__version__"]


def __getattr__(name: str):
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'memgen_cli' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
