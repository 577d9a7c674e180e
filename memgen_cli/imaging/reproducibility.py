"""Reproducibility of image generators: do two models trained on disjoint sets draw the same images?

Kadkhodaie, Guth, Simoncelli & Mallat (ICLR 2024): two diffusion models trained on disjoint training sets of
the same size n and sampled from the same initial noise generate nearly the same image once they generalize,
and unrelated images (each near its own training set) while they memorize. Here the two generated sets come
paired: image k of set 1 and image k of set 2 started from the same noise. Numpy only; arrays (count, ...)
on one pixel scale, flattened to (count, d).

Reference distance: ``typical_distance(data) = sqrt(2 Σ_i var_i)``, the root mean squared distance between two
independent draws from the data (E‖Y − Y'‖² = 2 tr Σ). Chosen over a nearest-neighbour distance because

- it does not depend on the size of a reference set: the median distance from a held-out image to its nearest
  neighbour among n images shrinks as n grows, so a criterion relative to it would move with n, the very axis
  along which the transition is located;
- its square is exactly the linear model's reference 2 d σ² (linear.reproducibility), so image and linear
  paired distances are on one scale: ``mean_sq_relative_distance`` is the image analogue of the linear
  ``paired_distance`` (1 for unrelated images, 0 for identical ones);
- it costs one pass over the data (the pixel variances), no pairwise search.

"The same image": relative distance ‖x₁ − x₂‖ / typical_distance < 1/3, mirroring the memorization test's 1/3
(a sample is a copy when its nearest training image is 3 times nearer than the second: Gu et al., Bonnaire et
al., imaging.metrics.MEMORIZATION_RATIO). For centred images of typical norm (‖x − mean‖² ≈ tr Σ) it is a
centred cosine similarity above 1 − (1/3)² = 8/9. A raw cosine-similarity threshold (e.g. 0.95) was not
chosen: on [0, 1] pixels, which are all positive, two unrelated images with pixel mean μ and variance v
already have a cosine near μ² / (μ² + v), above 0.9 for a mean of 0.45 and a variance of 0.02, so it would
call unrelated images the same. In d >= 64 dimensions two unrelated images have a relative distance near 1
(squared: ~χ²_d / d for Gaussian pixels), so the fraction below 1/3 is ~0 for unrelated images and 1 for
identical ones; in very few dimensions the test is weak (d = 2: P(χ²₂/2 < 1/9) ≈ 0.1).
"""

from __future__ import annotations

import numpy as np

from memgen_cli.imaging.metrics import MEMORIZATION_RATIO

SAME_IMAGE_RATIO = MEMORIZATION_RATIO  # relative distance below this: the two models drew the same image


def _flat(x) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    return x.reshape(len(x), -1)


def typical_distance(data) -> float:
    """sqrt(2 Σ_i var_i) over the pixels i of a data set (count, ...): the rms distance of two independent draws.

    Unbiased per-pixel variances (ddof = 1), so E[typical_distance²] = E‖Y − Y'‖² for the sampled population.
    """
    flat = _flat(data)
    if len(flat) < 2:
        raise ValueError("the typical distance needs at least 2 data images")
    return float(np.sqrt(2.0 * np.sum(np.var(flat, axis=0, ddof=1))))


def paired_relative_distances(first, second, reference: float) -> np.ndarray:
    """(M,): ‖first_k − second_k‖ / reference, image k of one model against image k of the other."""
    a, b = _flat(first), _flat(second)
    if a.shape != b.shape:
        raise ValueError(f"paired sets differ in shape: {a.shape} and {b.shape}")
    if not reference > 0:
        raise ValueError(f"the reference distance must be positive, got {reference}")
    return np.sqrt(np.sum((a - b) ** 2, axis=1)) / reference


def reproducibility(first, second, reference: float, threshold: float = SAME_IMAGE_RATIO,
                    rng: np.random.Generator | None = None, resamples: int = 1000) -> dict:
    """The columns of one pair of simulations: how alike their paired images are.

    ``same_fraction``: pairs with relative distance < threshold; ``median_relative_distance``;
    ``mean_sq_relative_distance`` (the linear paired_distance's analogue); ``pairs``. With rng, a percentile
    interval of the fraction from resampling pairs (``same_lo``, ``same_hi``): like the memorized fraction's,
    it treats the M pairs as independent, which they are given the two networks; across network pairs the
    analysis resamples simulations.
    """
    rel = paired_relative_distances(first, second, reference)
    same = (rel < threshold).astype(float)
    row = {"same_fraction": float(same.mean()), "median_relative_distance": float(np.median(rel)),
           "mean_sq_relative_distance": float(np.mean(rel**2)), "pairs": int(rel.size)}
    if rng is not None:
        boot = same[rng.integers(0, same.size, size=(resamples, same.size))].mean(axis=1)
        lo, hi = np.quantile(boot, [0.025, 0.975])
        row.update(same_lo=float(lo), same_hi=float(hi))
    return row
