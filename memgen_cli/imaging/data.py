"""Image data families for the U-Net experiment, drawn from a ``numpy.random.Generator``, and their
parameters (the config's data section, ``ImageData``).

One pixel scale everywhere outside the network: [0, 1] pixel units (float64, shape (count, side, side)).
The network sees ``to_model_scale`` (2x - 1, in [-1, 1]); generated images come back via ``from_model_scale``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Literal, Optional

import numpy as np
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from memgen_cli.errors import MemgenError

FAMILIES = ("gaussian", "gmm", "digits", "images")
DIGITS_SIDE = 8  # scikit-learn's handwritten digits are 8x8
DIGITS_SIDES = (8, 16)  # 16: upsampled (bilinear), for presets that need more pixels
CHANNELS = (1, 3)


def _list_from_text(value):
    """A list written as "0.3,0.7" (as flat cells hold it) -> a list; NaN (an empty CSV cell) -> None."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, str):
        return [float(v) for v in value.split(",")]
    return value


def _non_empty(values: tuple) -> tuple:
    if not values:
        raise ValueError("must not be empty")
    return values


def _values(item_type, optional: bool = False):
    """Type of a list-valued data field: a non-empty tuple (frozen), also read from "0.3,0.7"."""
    values = Annotated[tuple[item_type, ...], AfterValidator(_non_empty)]
    return Annotated[Optional[values] if optional else values, BeforeValidator(_list_from_text)]


class ImageData(BaseModel):
    """The config's data section: which images a simulation draws (here, beside the code that draws them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    family: Literal[FAMILIES] = "gaussian"  # type: ignore[valid-type]
    mu: float = Field(default=0.5, allow_inf_nan=False, description="gaussian pixel mean ([0, 1] units)")
    sigma: float = Field(default=0.1, gt=0, allow_inf_nan=False,
                         description="gaussian pixel std; gmm: every component's unless gmm_sigmas is given")
    gmm_means: _values(float) = (0.3, 0.7)
    gmm_sigmas: _values(Annotated[float, Field(gt=0)], optional=True) = None  # default: sigma for each component
    gmm_weights: _values(Annotated[float, Field(ge=0)], optional=True) = None  # default: equal
    path: Optional[str] = Field(default=None, description="images: a .npz/.npy array or a folder of PNG/JPEG files")
    channels: Literal[CHANNELS] = Field(default=1, description="images: 1 (gray) or 3 (RGB)")  # type: ignore


def image_channels(data: ImageData) -> int:
    """Channels of a simulation's images: ``channels`` for the images family, 1 for the others."""
    return data.channels if data.family == "images" else 1


@dataclass(frozen=True)
class DataSplit:
    """A simulation's training set and its disjoint original set, both in [0, 1] pixel units."""

    train: np.ndarray  # (n, side, side), or (n, side, side, 3) for RGB images
    original: np.ndarray  # (N, side, side), or (N, side, side, 3)
    pixel_sigma: float  # the data's pixel standard deviation: the metric's sigma (eps = sigma / m)
    pixel_scale: str = "drawn in [0, 1] units"  # how the data became [0, 1] pixel units (trials.csv)
    # digits and images: the positions of the two sets in the family's array of images (a reproducibility partner
    # draws its training set from the others); None for the drawn families, whose every draw is new
    train_index: np.ndarray | None = None
    original_index: np.ndarray | None = None
    # the original set's size N where only some of its i.i.d. images were drawn (sample_split_evaluated); None: all
    original_count: int | None = None

    @property
    def n_original(self) -> int:
        """N, the original set's size (drawn or not)."""
        return int(self.original.shape[0]) if self.original_count is None else self.original_count


def to_model_scale(images01: np.ndarray) -> np.ndarray:
    return 2.0 * images01 - 1.0


def from_model_scale(images_pm1: np.ndarray) -> np.ndarray:
    return (images_pm1 + 1.0) / 2.0


@lru_cache(maxsize=2)
def digits_images(side: int = DIGITS_SIDE) -> np.ndarray:
    """All 1797 scikit-learn digits as (1797, side, side) in [0, 1] (they ship with scikit-learn: no download);
    side 16 upsamples them bilinearly."""
    from sklearn.datasets import load_digits

    from .image_files import resize

    images = load_digits().images.astype(np.float64) / 16.0
    images = images if side == DIGITS_SIDE else resize(images, side)
    images.setflags(write=False)
    return images


def digits_available() -> int:
    return int(digits_images().shape[0])


def gmm_pixel_sigma(means: list[float], sigmas: list[float], weights: list[float]) -> float:
    """Marginal pixel std of the mixture (law of total variance)."""
    w = np.asarray(weights, float) / np.sum(weights)
    m, s = np.asarray(means, float), np.asarray(sigmas, float)
    mean = np.sum(w * m)
    return float(np.sqrt(np.sum(w * (s**2 + m**2)) - mean**2))


def _gaussian(rng: np.random.Generator, count: int, side: int, mu: float, sigma: float) -> np.ndarray:
    return rng.normal(mu, sigma, size=(count, side, side))


def _gmm(rng: np.random.Generator, count: int, side: int, means, sigmas, weights) -> np.ndarray:
    """Isotropic mixture: each image picks component c with probability weights[c];
    its pixels are then i.i.d. N(means[c], sigmas[c]²)."""
    w = np.asarray(weights, float) / np.sum(weights)
    comp = rng.choice(len(w), size=count, p=w)
    m, s = np.asarray(means, float)[comp], np.asarray(sigmas, float)[comp]
    return m[:, None, None] + s[:, None, None] * rng.standard_normal((count, side, side))


def gmm_components(data: ImageData) -> tuple[list[float], list[float], list[float]]:
    """(means, sigmas, weights) of the mixture; sigmas default to ``sigma`` and weights to equal."""
    means = list(data.gmm_means)
    sigmas = [data.sigma] * len(means) if data.gmm_sigmas is None else list(data.gmm_sigmas)
    weights = [1.0] * len(means) if data.gmm_weights is None else list(data.gmm_weights)
    return means, sigmas, weights


def draw_fresh(data: ImageData, count: int, side: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` new images of a drawn family (gaussian, gmm), as ``sample_split`` draws them: (count, side, side)."""
    if data.family == "gaussian":
        return _gaussian(rng, count, side, data.mu, data.sigma)
    if data.family == "gmm":
        return _gmm(rng, count, side, *gmm_components(data))
    raise ValueError(f"family {data.family!r} is a finite set of images: nothing new can be drawn")


def sample_split(data: ImageData, n: int, N: int, side: int, rng: np.random.Generator) -> DataSplit:
    """Draw n training images and the original set (N images; digits: every digit not used for training)."""
    if data.family == "gaussian":
        train = _gaussian(rng, n, side, data.mu, data.sigma)
        original = _gaussian(rng, N, side, data.mu, data.sigma)
        return DataSplit(train, original, data.sigma)
    if data.family == "gmm":
        means, sigmas, weights = gmm_components(data)
        train = _gmm(rng, n, side, means, sigmas, weights)
        original = _gmm(rng, N, side, means, sigmas, weights)
        return DataSplit(train, original, gmm_pixel_sigma(means, sigmas, weights))
    if data.family == "digits":
        images = digits_images(side)
        order = rng.permutation(images.shape[0])
        # sigma: std over all pixels of all digits, a fixed property of the data set (not of this split).
        return DataSplit(images[order[:n]].copy(), images[order[n:]].copy(), float(images.std()),
                         "scikit-learn digits 0..16 / 16" + (", bilinear to 16x16" if side != DIGITS_SIDE else ""),
                         order[:n], order[n:])
    if data.family == "images":
        from .image_files import load_images

        images = load_images(data.path, side, data.channels)
        order = rng.permutation(images.pixels.shape[0])
        return DataSplit(images.pixels[order[:n]].copy(), images.pixels[order[n:n + N]].copy(), images.sigma,
                         images.scale, order[:n], order[n:n + N])
    raise MemgenError(f"data.family: unknown data family {data.family!r} (choose from {', '.join(FAMILIES)})")


DRAWN_FAMILIES = ("gaussian", "gmm")  # i.i.d. images: an original nobody evaluates need not be drawn


def sample_split_evaluated(data: ImageData, n: int, N: int, side: int, rng: np.random.Generator,
                           originals_rng: np.random.Generator, evaluated: int) -> DataSplit:
    """A drawn family's split with only the originals a simulation evaluates: n training images from ``rng`` (as
    ``sample_split`` draws them), then min(evaluated, N) originals from ``originals_rng``, a stream of their own.

    The original images are i.i.d. and independent of the training set, so a uniform subset of ``evaluated`` of N
    such images (what the evaluation takes) is distributed as ``evaluated`` fresh draws: every metric computed
    from the evaluated subset has the distribution it has with all N drawn, for a fraction of the draws
    (2.8 × 10^7 normals against 2.6 × 10^4 at the Fig. 4 scale). ``n_original`` still reports N."""
    if data.family not in DRAWN_FAMILIES:
        raise ValueError(f"sample_split_evaluated: family {data.family!r} is not drawn i.i.d.")
    train = draw_fresh(data, n, side, rng)
    original = draw_fresh(data, min(evaluated, N), side, originals_rng)
    sigma = data.sigma if data.family == "gaussian" else gmm_pixel_sigma(*gmm_components(data))
    return DataSplit(train, original, sigma, original_count=N)
