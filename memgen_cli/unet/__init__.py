"""U-Net DDPM experiment. torch and diffusers are imported only inside this package (extra ``memgen[unet]``).

``data`` and ``metrics`` are numpy-only; ``models``, ``diffusion`` and ``simulation`` import torch.
"""
