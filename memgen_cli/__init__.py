"""memgen: measure the memorization-to-generalization transition of diffusion models."""

__version__ = "0.1.0"
