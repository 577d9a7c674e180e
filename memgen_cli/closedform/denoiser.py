"""The closed-form denoiser of the empirical training distribution, and its σ-CFDM smoothing (numpy only).

Exact model. For training images y_1..y_n (model scale, flattened to d pixels) the forward process gives
x_t = sqrt(abar) y + sqrt(1 - abar) eps, and the optimal denoiser is the posterior mean

    D(x_t) = E[x0 | x_t] = sum_k softmax_k(-|x_t - sqrt(abar) y_k|² / 2(1 - abar)) y_k.

Sampling with it returns training images: it memorizes at every n.

Smoothed model: σ-CFDM of Scarvelis, Borde & Solomon, "Closed-form diffusion models" (arXiv 2310.12395, TMLR
2025). They write the process as z_t = t y + (1 - t) eps (t = 1: data) with the closed-form score
s(z, t) = (sum_k softmax_k(-|z - t y_k|² / 2(1 - t)²) t y_k - z) / (1 - t)², and smooth it by a Gaussian average
over its argument, s_σ(z, t) = E_{e ~ N(0, I)} s(z + σ e, t), estimated with M draws of e that stay fixed along
each generated sample's trajectory. Source: the paper's abstract and a public σ-CFDM implementation (scores.py,
class SmoothedScore; its script's plain_smoothed redraws the M perturbations for each sample, M = 2); the full
text was not at hand, so no equation number is cited. Translated here: x_t = c z_t with
c = sqrt(abar) + sqrt(1 - abar) and t = sqrt(abar) / c, the softmax weights are the same, and Tweedie's
x0 = (z + (1 - t)² s_σ) / t gives

    D_σ(x_t) = E_e D(x_t + σ c e)          (the -z term averages to itself: E e = 0)

so smoothing the score is averaging the denoiser over perturbations of its input, of std σ c in x_t units (σ
fixed in their z units: c runs from 1 at both ends to sqrt(2) at abar = 1/2). σ = 0 is the exact model. Their
sampler is Euler on the probability-flow ODE (sampler "euler" in imaging.schedules); its last step returns
D_σ, as the DDIM and DDPM updates to prev_t = -1 do too, so a sample ends as a mean of M nearly one-hot
posterior means: a barycenter of up to M nearby training images (the paper: smoothing biases samples toward
such barycenters).
Why this smoothing: it is the published training-free model that generalizes. The alternative, the exact
posterior mean of a Gaussian-KDE-smoothed training set, samples that KDE: copies plus Gaussian noise.

Units: ``smoothing`` is given in [0, 1] pixel units, as users think of images; σ is in model scale, 2 · smoothing.

Numerics: weights are formed from squared distances relative to the running minimum, exp(-(D_k - D_min) / 2(1 -
abar)) (a log-sum-exp; no exp of raw distances, finite at any d and any 1 - abar > 0). Distances come from the
Gram expansion (one matrix product against each chunk of the training set), and the few that carry weight
(within WINDOW of the minimum) are recomputed directly, which removes the expansion's cancellation where it
matters: at small 1 - abar, where |x - sqrt(abar) y|² ≪ |x|² and two images can compete. The training set is
walked in chunks with a running (minimum, sum, weighted sum): beside the training set itself (one float64
copy, 3.3 GB at n = 10^5, d = 4096) memory stays ~32 MB per temporary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from memgen_cli.imaging.data import to_model_scale

WINDOW = 40.0  # logits this far below the best carry weight < e^-40 ~ 4e-18 of it: their distances need no care
REFINE_MAX = 64  # per sample and chunk: more weighty images than this means a broad softmax (see _refine)
DEFAULT_DRAWS = 2  # M, the perturbations per generated sample (the σ-CFDM reference script's value)
_CHUNK_ELEMENTS = 1 << 22  # elements per (samples x chunk) temporary, ~32 MB of float64


@dataclass(frozen=True)
class TrainingSet:
    """The training images flattened to (n, d) in model scale, with what every call reuses."""

    images: np.ndarray  # (n, d)
    sq_norms: np.ndarray  # (n,): |images|²

    @property
    def d(self) -> int:
        return self.images.shape[1]


def training_set(images_pm1) -> TrainingSet:
    """(n, ...) training images in model scale -> TrainingSet (float64, flattened)."""
    y = np.asarray(images_pm1, dtype=np.float64)
    if y.ndim < 2 or len(y) == 0:
        raise ValueError("training_set: needs at least one image, as an (n, ...) array")
    y = np.ascontiguousarray(y.reshape(len(y), -1))
    return TrainingSet(y, np.einsum("ij,ij->i", y, y))


def _sq_distances(x: np.ndarray, x_sq: np.ndarray, y: np.ndarray, y_sq: np.ndarray, a: float) -> np.ndarray:
    """(M, c): |x - a y|² by the Gram expansion |x|² - 2a x·y + a²|y|², clipped at 0."""
    sq = x @ y.T
    sq *= -2.0 * a
    sq += x_sq[:, None]
    sq += (a * a) * y_sq[None, :]
    return np.maximum(sq, 0.0, out=sq)


def _refine(sq: np.ndarray, x: np.ndarray, y: np.ndarray, a: float, limit: np.ndarray) -> None:
    """Recompute directly (in place) the entries of sq at or below ``limit`` (per row): the images that carry
    weight. The expansion's error is ~ eps·(|x| + a|y|)², the direct one ~ eps·|x - a y|·(|x| + a|y|).

    Rows with more than REFINE_MAX such images are left as they are: many images within the window means a
    broad softmax, where 1 - abar is large (small logit errors) or the images nearly coincide (a weight error
    moves the mean by little)."""
    mask = sq <= limit[:, None]
    mask &= (mask.sum(axis=1) <= REFINE_MAX)[:, None]
    rows, cols = np.nonzero(mask)
    per = max(1, _CHUNK_ELEMENTS // x.shape[1])
    for start in range(0, len(rows), per):  # bounded temporaries
        r, c = rows[start:start + per], cols[start:start + per]
        diff = x[r] - a * y[c]
        sq[r, c] = np.square(diff, out=diff).sum(axis=1)  # pairwise sum: einsum lost digits here


def _check_alpha_bar(alpha_bar: float) -> None:
    if not 0.0 <= alpha_bar < 1.0:
        raise ValueError(f"alpha_bar must be in [0, 1) (got {alpha_bar}); at 1 there is no noise to remove")


def posterior_mean(x: np.ndarray, train: TrainingSet, alpha_bar: float) -> np.ndarray:
    """E[x0 | x_t = x] under the empirical distribution of ``train``: x is (M, ...) in model scale, with
    prod(...) = d; returns the same shape. Exact in float64 up to rounding (see the module docstring)."""
    _check_alpha_bar(alpha_bar)
    x = np.asarray(x, dtype=np.float64)
    flat = x.reshape(len(x), -1)
    if flat.shape[1] != train.d:
        raise ValueError(f"posterior_mean: samples have {flat.shape[1]} pixels, training images {train.d}")
    a, scale = math.sqrt(alpha_bar), 0.5 / (1.0 - alpha_bar)
    x_sq = np.einsum("ij,ij->i", flat, flat)
    best = np.full(len(flat), np.inf)  # running minimum squared distance
    total = np.zeros(len(flat))  # running sum of exp(-(D - best) · scale)
    acc = np.zeros_like(flat)  # running weighted sum of the images
    rows = max(1, _CHUNK_ELEMENTS // max(1, len(flat)))
    for lo in range(0, len(train.images), rows):
        hi = lo + rows
        y = train.images[lo:hi]
        sq = _sq_distances(flat, x_sq, y, train.sq_norms[lo:hi], a)
        _refine(sq, flat, y, a, np.minimum(best, sq.min(axis=1)) + WINDOW / scale)
        new_best = np.minimum(best, sq.min(axis=1))
        shrink = np.exp(-(best - new_best) * scale)  # 0 on the first chunk (best = inf)
        w = sq  # in place: exp(-(D - D_min) / 2(1 - abar))
        w -= new_best[:, None]
        w *= -scale
        np.exp(w, out=w)
        total = total * shrink + w.sum(axis=1)
        acc = acc * shrink[:, None] + w @ y  # a one-hot weight returns y_k exactly
        best = new_best
    return (acc / total[:, None]).reshape(x.shape)


def perturbation_scale(alpha_bar: float, sigma: float) -> float:
    """Std, in x_t units, of σ-CFDM's perturbation σ·e of z_t = x_t / (sqrt(abar) + sqrt(1 - abar))."""
    return sigma * (math.sqrt(alpha_bar) + math.sqrt(1.0 - alpha_bar))


def smoothed_posterior_mean(x: np.ndarray, train: TrainingSet, alpha_bar: float, sigma: float,
                            perturbations: np.ndarray) -> np.ndarray:
    """σ-CFDM's x0 estimate: the mean over the M draws e_j of posterior_mean(x + σ c e_j) (c: perturbation_scale).

    x: (B, ...) model scale; perturbations: (M, B, ...) standard normals, the same at every step of a trajectory;
    sigma: model scale. sigma = 0 returns posterior_mean(x) itself.
    """
    if sigma < 0:
        raise ValueError(f"smoothing must be >= 0 (got {sigma})")
    if sigma == 0:
        return posterior_mean(x, train, alpha_bar)
    x = np.asarray(x, dtype=np.float64)
    perturbations = np.asarray(perturbations, dtype=np.float64)
    if perturbations.shape[1:] != x.shape:
        raise ValueError(f"perturbations: shape {perturbations.shape} is not (M, *{x.shape})")
    moved = x[None] + perturbation_scale(alpha_bar, sigma) * perturbations
    means = posterior_mean(moved.reshape(-1, *x.shape[1:]), train, alpha_bar)  # one pass for all M draws
    return means.reshape(moved.shape).mean(axis=0)


def model_scale_smoothing(smoothing: float) -> float:
    """[0, 1] pixel units -> model scale (2x - 1 doubles distances)."""
    return 2.0 * smoothing


def make_denoiser(train_images01, smoothing: float = 0.0, *, count: int, rng: np.random.Generator | None = None,
                  draws: int = DEFAULT_DRAWS) -> Callable[[np.ndarray, float], np.ndarray]:
    """The x0 model that imaging.schedules.sample calls, for ``count`` samples at once.

    train_images01: (n, ...) in [0, 1] pixel units; smoothing: σ of σ-CFDM in [0, 1] pixel units (0: the exact
    closed-form model, which needs no rng). With smoothing > 0, the M = ``draws`` perturbations of every sample
    are drawn from ``rng`` here, once, and reused at every step (as the σ-CFDM reference code does).
    """
    if smoothing < 0:
        raise ValueError(f"smoothing must be >= 0 (got {smoothing})")
    train = training_set(to_model_scale(np.asarray(train_images01, dtype=np.float64)))
    sigma = model_scale_smoothing(smoothing)
    if sigma == 0:
        return lambda x, alpha_bar: posterior_mean(x, train, alpha_bar)
    if rng is None or draws < 1:
        raise ValueError("make_denoiser: smoothing > 0 needs an rng and draws >= 1")
    perturbations = rng.standard_normal((draws, count, train.d))

    def denoise(x: np.ndarray, alpha_bar: float) -> np.ndarray:
        if len(x) != count:
            raise ValueError(f"denoiser made for {count} samples, called with {len(x)}")
        flat = np.asarray(x, dtype=np.float64).reshape(count, -1)
        return smoothed_posterior_mean(flat, train, alpha_bar, sigma, perturbations).reshape(np.shape(x))

    return denoise
