"""memgen: measure the memorization-to-generalization transition of diffusion models.

The Python API, for notebooks (the CLI is a thin layer over the same functions):

- ``fit_denoiser``, ``sampling_distribution``, ``generated_distribution``: the linear one-step model;
- ``kde_bandwidth``, ``kde_l2_distances``, ``isotropic_kde_distances``: exact KDE L² distances in log space;
- ``hellinger_squared``: H² between the generated Gaussian and the data distribution;
- ``run_linear_trial``: one trial, as one row of trials.csv;
- ``load_sweep_config``, ``run_sweep``, ``sweep_dataframe``: whole sweeps, as pandas DataFrames.

Nothing here imports torch, diffusers or dask.
"""

from memgen_cli.version import __version__

from memgen_cli.kde import isotropic_kde_distances, kde_bandwidth, kde_l2_distances  # noqa: E402
from memgen_cli.linear.model import (fit_denoiser, generated_distribution, hellinger_squared, run_linear_trial,  # noqa: E402
                           sampling_distribution)
from memgen_cli.runner.sweep import load_sweep_config, run_sweep, sweep_dataframe  # noqa: E402

__all__ = ["fit_denoiser", "sampling_distribution", "generated_distribution", "kde_bandwidth", "kde_l2_distances",
           "isotropic_kde_distances", "hellinger_squared", "run_linear_trial", "load_sweep_config", "run_sweep",
           "sweep_dataframe", "__version__"]
