"""Image reproducibility on constructed paired sets."""

import numpy as np
import pytest
from scipy.stats import chi2

from memgen_cli.imaging.reproducibility import SAME_IMAGE_RATIO, paired_relative_distances, reproducibility, \
    typical_distance


def pixel_data(rng, count, shape=(8, 8), mean=0.45):
    """Images in [0, 1]-like units with unequal pixel variances (the reference must sum them, not assume one)."""
    std = np.linspace(0.05, 0.25, np.prod(shape)).reshape(shape)
    return mean + std * rng.standard_normal((count, *shape))


def test_typical_distance_is_the_rms_distance_of_independent_draws():
    rng = np.random.default_rng(0)
    data = pixel_data(rng, 20_000)
    ref = typical_distance(data)
    want = np.sqrt(2 * np.sum(np.linspace(0.05, 0.25, 64) ** 2))
    assert ref == pytest.approx(want, rel=0.01)
    a, b = pixel_data(rng, 5000), pixel_data(rng, 5000)
    assert np.mean(paired_relative_distances(a, b, ref) ** 2) == pytest.approx(1.0, abs=0.01)
    with pytest.raises(ValueError, match="at least 2"):
        typical_distance(data[:1])


def test_identical_sets_are_all_the_same_image():
    rng = np.random.default_rng(1)
    images = pixel_data(rng, 50)
    row = reproducibility(images, images.copy(), typical_distance(pixel_data(rng, 500)))
    assert row == {"same_fraction": 1.0, "median_relative_distance": 0.0, "mean_sq_relative_distance": 0.0,
                   "pairs": 50}


def test_independent_draws_are_almost_never_the_same_image():
    rng = np.random.default_rng(2)
    ref = typical_distance(pixel_data(rng, 2000))
    row = reproducibility(pixel_data(rng, 400), pixel_data(rng, 400), ref, rng=rng)
    assert row["same_fraction"] == 0.0
    assert row["same_lo"] == row["same_hi"] == 0.0
    assert row["median_relative_distance"] == pytest.approx(1.0, abs=0.1)
    # yet their raw cosine similarity is high: why a raw cosine threshold was not the criterion
    a, b = pixel_data(rng, 400), pixel_data(rng, 400)
    a, b = a.reshape(400, -1), b.reshape(400, -1)
    cosine = np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    mean_var = np.mean(np.linspace(0.05, 0.25, 64) ** 2)
    assert np.median(cosine) == pytest.approx(0.45**2 / (0.45**2 + mean_var), abs=0.01)  # the docstring's μ²/(μ²+v)
    assert np.median(cosine) > 0.85


def test_threshold_on_constructed_perturbations():
    """Pairs moved by exactly 0.2 and 0.5 reference distances: same below 1/3, different above."""
    rng = np.random.default_rng(3)
    ref = 2.0
    first = pixel_data(rng, 40)
    direction = rng.standard_normal(first.shape)
    direction /= np.linalg.norm(direction.reshape(40, -1), axis=1)[:, None, None]
    scale = np.where(np.arange(40) < 30, 0.2, 0.5) * ref  # 30 near pairs, 10 far pairs
    second = first + scale[:, None, None] * direction
    rel = paired_relative_distances(first, second, ref)
    assert np.allclose(rel, scale / ref)
    row = reproducibility(first, second, ref)
    assert row["same_fraction"] == 0.75
    assert row["mean_sq_relative_distance"] == pytest.approx(0.75 * 0.04 + 0.25 * 0.25)
    assert reproducibility(first, second, ref, threshold=0.6)["same_fraction"] == 1.0


def test_few_dimensions_make_a_weak_test():
    """For Gaussian pixels the squared relative distance of unrelated images is χ²_d / d; the docstring's
    numbers: P(same) ≈ 0.105 at d = 2, negligible at d = 64."""
    rng = np.random.default_rng(4)
    for d, want in [(2, chi2.cdf(2 * SAME_IMAGE_RATIO**2, 2)), (64, chi2.cdf(64 * SAME_IMAGE_RATIO**2, 64))]:
        a, b = rng.standard_normal((20_000, d)), rng.standard_normal((20_000, d))
        row = reproducibility(a, b, np.sqrt(2 * d))
        assert row["same_fraction"] == pytest.approx(want, abs=0.01)
    assert chi2.cdf(2 / 9, 2) == pytest.approx(1 - np.exp(-1 / 9))
    assert chi2.cdf(64 / 9, 64) < 1e-15


def test_shapes_and_reference_are_checked():
    with pytest.raises(ValueError, match="shape"):
        paired_relative_distances(np.zeros((3, 4)), np.zeros((3, 5)), 1.0)
    with pytest.raises(ValueError, match="positive"):
        paired_relative_distances(np.zeros((3, 4)), np.zeros((3, 4)), 0.0)
