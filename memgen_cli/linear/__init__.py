"""The linear one-step denoiser on Gaussian data: ``model`` (the math, numpy only) and ``experiment``
(its sweep config, cells and the work of one task)."""
