"""U-Net DDPM experiment. torch and diffusers are imported only inside this package (extra ``memgen[unet]``).

``params`` (the config and a cell's parameters), ``data``, ``metrics``, ``models`` and ``simulation`` import no
torch at module level, so configs are checked without it; ``diffusion`` imports torch.
"""

# What `memgen sweep unet --help` shows, here so that the help imports no numerics (UnetExperiment uses them).
DESCRIPTION = "Sweep a small U-Net DDPM trained on synthetic or real images."
OVERRIDE_EXAMPLES = ("grid.n=[8,64]", "simulations=3", "grid.train_steps=[200]", "data.family=digits")
