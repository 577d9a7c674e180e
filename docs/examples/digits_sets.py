"""Sets to try `memgen evaluate` on: scikit-learn's 8 x 8 digits, and samples of a diffusion model trained on n of
them, as a researcher would bring from a model of their own.

The model is memgen's closed-form σ-CFDM (smoothing 0.2, 10 DDPM steps): training-free, so this takes seconds on a
CPU, and it copies at small n and less at large n. Writes into OUT (default examples/digits):

    heldout.npy           digits never used for training (the ideal generalizer, the original set of Δ)
    train-n<n>.npy        the training set of the model at n (nested: each starts with the previous one)
    samples-n<n>.npy      200 samples of that model, floats in [0, 1]
    evaluate.yaml         the config of `memgen sweep evaluate` over every n

Usage: python docs/examples/digits_sets.py [OUT]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import yaml
from sklearn.datasets import load_digits

from memgen_cli.closedform.denoiser import make_denoiser
from memgen_cli.imaging.data import from_model_scale
from memgen_cli.imaging.schedules import sample

SIZES = (16, 64, 256, 1024)
SAMPLES, SMOOTHING, STEPS = 200, 0.2, 10


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    digits = load_digits().images / 16.0  # 1797 images, values 0..16 -> [0, 1]
    order = np.random.default_rng(0).permutation(len(digits))
    pool, heldout = digits[order[:max(SIZES)]], digits[order[max(SIZES):]]
    np.save(out / "heldout.npy", heldout)
    pairs = []
    for n in SIZES:
        train = pool[:n]
        rng = np.random.default_rng(n)
        denoise = make_denoiser(train, SMOOTHING, count=SAMPLES, rng=rng)
        generated = from_model_scale(sample(denoise, SAMPLES, train.shape[1:], "logsnr_linear", STEPS, "ddpm", None,
                                            rng))
        np.save(out / f"train-n{n}.npy", train)
        np.save(out / f"samples-n{n}.npy", np.clip(generated, 0.0, 1.0))
        pairs.append({"samples": str(out / f"samples-n{n}.npy"), "train": str(out / f"train-n{n}.npy"), "n": n})
    (out / "evaluate.yaml").write_text(yaml.safe_dump({"model": "evaluate", "seed": 0,
                                                       "heldout": str(out / "heldout.npy"), "pairs": pairs},
                                                      sort_keys=False))
    print(f"wrote {out}: heldout.npy, train-n<n>.npy and samples-n<n>.npy for n = {', '.join(map(str, SIZES))}, "
          "evaluate.yaml")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("examples/digits"))
