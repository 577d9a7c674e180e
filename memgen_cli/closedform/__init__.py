"""Closed-form diffusion: sampling without training, with the denoiser that is optimal for the empirical
distribution of the n training images, E[x0 | x_t] = sum_k softmax_k(-|x_t - sqrt(abar) y_k|² / 2(1 - abar)) y_k,
which can only reproduce training images (memorization at every n), and with the smoothed closed-form model
of Scarvelis, Borde & Solomon (σ-CFDM, arXiv 2310.12395), whose Gaussian-averaged score produces barycenters of
nearby training images instead. ``denoiser`` holds the math (numpy only); the samplers, data, evaluation and
image grids are the U-Net's (``memgen_cli.imaging``); ``params`` (config and cells), ``simulation`` (one
simulation) and ``experiment`` (the sweep's interface) make it the third model of the CLI. No torch anywhere.
"""

# What `memgen sweep closedform --help` shows, here so that the help imports no numerics.
DESCRIPTION = "Sweep the training-free closed-form diffusion model (exact and σ-CFDM-smoothed) on images."
OVERRIDE_EXAMPLES = ("grid.smoothing=[0,0.15]", "simulations=5", "grid.n=[10,100,1000]", "data.family=digits")
