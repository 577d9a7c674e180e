"""U-Net DDPM experiment. torch and diffusers are imported only inside this package (extra ``memgen[unet]``).

``params`` (the config and a cell's parameters), ``data``, ``metrics``, ``models`` and ``simulation`` import no
torch at module level, so configs are checked without it; ``diffusion`` imports torch.
"""
