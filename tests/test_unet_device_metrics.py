"""The evaluation's torch path (unet/device_metrics.py, used on CUDA) against the numpy path (metrics.py),
on CPU in float64: the same numbers up to the 7-sigma cutoff (terms below 2e-11 of a kernel's peak)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # noqa: F841  (make test installs the unet extra; a missing one fails elsewhere)

from memgen_cli.imaging import metrics  # noqa: E402
from memgen_cli.unet import device_metrics  # noqa: E402


def images(rng, m, d, spread=0.2):
    return np.clip(rng.normal(0.5, spread, (m, d)), 0.0, 1.0)


@pytest.mark.parametrize("M,n,N,d", [(30, 2, 300, 4), (50, 10, 2000, 16), (120, 40, 6000, 64)])
def test_exact_pixel_metric_matches_numpy(M, n, N, d):
    rng = np.random.default_rng(M + n + N + d)
    g, t, o = images(rng, M, d), images(rng, n, d), images(rng, N, d)
    t[1] = t[0]  # a repeated training image: zero gaps
    expected = metrics.pixel_kde_distances_exact(g, t, o, 0.2)
    got = device_metrics.pixel_kde_distances_exact(g, t, o, 0.2, "cpu")
    for key in ("E_TG", "E_OG", "Delta"):
        assert got[key] == pytest.approx(expected[key], rel=1e-9, abs=1e-9 * abs(expected["E_TG"]))


def test_pair_sums_against_all_pairs():
    rng = np.random.default_rng(4)
    values = images(rng, 400, 8)
    s = 0.01
    diff = values[:, None, :] - values[None, :, :]
    brute = np.exp(-diff**2 / (2 * s * s)).sum(axis=(0, 1)) - values.shape[0]  # k != l
    got = device_metrics._pair_sums(torch.as_tensor(values, dtype=torch.float64), s).numpy()
    np.testing.assert_allclose(got, brute, rtol=1e-10)


def test_nearest_neighbour_ratios_match_numpy():
    rng = np.random.default_rng(5)
    g, t = images(rng, 300, 64), images(rng, 40, 64)
    g[:5] = t[:5] + 1e-4  # near copies: ratios far below 1/3
    got = device_metrics.nearest_neighbour_ratios(g, t, "cpu")
    np.testing.assert_allclose(got, metrics.nearest_neighbour_ratios(g, t), rtol=1e-12, atol=1e-15)
    assert (got[:5] < metrics.MEMORIZATION_RATIO).all()
