"""The linear one-step denoiser on Gaussian data: ``model`` (the math, numpy only) and ``experiment``
(its sweep config, cells and the work of one task)."""

# What `memgen sweep linear --help` shows, here so that the help imports no numerics (LinearExperiment uses them).
DESCRIPTION = "Sweep the exact linear one-step denoiser over n, d, lambda, T, N."
OVERRIDE_EXAMPLES = ("grid.d=[8,32]", "trials=50", "grid.covariance=[BBt,BtB]")
