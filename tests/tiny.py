"""The tiny configs and cells the tests share, written once: each a few seconds of work on one core."""

from __future__ import annotations

# One U-Net simulation's flat cell: 8 x 8 Gaussian pixels, the tiny preset, a handful of optimizer steps.
UNET_CELL = {"n": 8, "side": 8, "N": 300, "preset": "tiny", "steps": 10, "train_steps": 4, "batch_size": 8,
             "lr": 1e-3, "generated": 4, "eval_original": 50}

# A U-Net sweep of two cells (n = 4, 12) on CPU.
UNET_SWEEP = """model: unet
seed: 5
simulations: {simulations}
device: cpu
grid: {{n: [4, 12], side: [8], N: [300], train_steps: [{train_steps}]}}
training: {{lr: 1.0e-3, batch_size: 8}}
sampling: {{generated: 4}}
evaluation: {{eval_original: 40}}
"""

# A linear sweep of 7 sizes at d = 4 and 8 (enough cells for every figure and a transition).
LINEAR_SWEEP = """model: linear
seed: 0
trials: 30
grid:
  n: {start: 2, stop: 120, num: 7, spacing: log}
  d: [4, 8]
  lambda: [0.01831563888873418]
  T: [2.0]
  N: [300]
data: {mu: 10.0, sigma: 1.0}
options: {bandwidth: paper, covariance: BBt, ridge: 0.0, original: fixed}
"""


def unet_cell(**changes) -> dict:
    return {**UNET_CELL, **changes}


def unet_sweep(simulations: int = 2, train_steps: int = 3) -> str:
    return UNET_SWEEP.format(simulations=simulations, train_steps=train_steps)

# A closed-form sweep of two sizes and two smoothings on tiny Gaussian images (seconds; every table and figure).
CLOSEDFORM_SWEEP = """
model: closedform
seed: 5
simulations: 3
grid: {n: [4, 40], side: [8], N: [300], smoothing: [0, 0.3]}
sampling: {generated: 6}
evaluation: {eval_original: 40}
"""

# Prepended to a subprocess's code: torch and diffusers cannot be imported, as without the unet extra. (Not
# sys.modules["torch"] = None: scipy.stats then fails on its own check for torch arrays.)
WITHOUT_TORCH = """
import sys

class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "diffusers"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, NotInstalled())
"""

# A closed-form sweep of one cell over an image array or folder (format with path=...): the images family.
IMAGES_CONFIG = """model: closedform
seed: 0
simulations: 2
grid: {{n: [4], side: [8], N: [20], steps: [10], smoothing: [0]}}
data: {{family: images, path: {path}}}
sampling: {{generated: 5}}
evaluation: {{eval_train: null, eval_original: 10}}
"""
