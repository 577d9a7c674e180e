"""A PNG grid of generated images beside their nearest training images."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def nearest_training_images(generated: np.ndarray, train: np.ndarray) -> np.ndarray:
    """For each generated image, its nearest training image (Euclidean); shapes (m, s, s) and (n, s, s)."""
    g, t = generated.reshape(len(generated), -1), train.reshape(len(train), -1)
    sq = (g * g).sum(1)[:, None] + (t * t).sum(1)[None, :] - 2.0 * g @ t.T
    return train[np.argmin(sq, axis=1)]


def image_grid(generated: np.ndarray, train: np.ndarray, scale: int | None = None, gap: int = 1) -> np.ndarray:
    """uint8 (H, W) (RGB: (H, W, 3)): top row the generated images, bottom row their nearest training images;
    [0, 1] -> 0..255.

    scale: integer upscaling (default: tiles of about 64 pixels, so 8 x 8 images stay readable).
    """
    scale = scale or max(1, 64 // generated.shape[1])
    pairs = np.stack([generated, nearest_training_images(generated, train)])  # (2, m, s, s[, 3])
    pairs = np.clip(pairs, 0.0, 1.0)
    pairs = pairs.repeat(scale, axis=2).repeat(scale, axis=3)  # nearest-neighbour upscaling
    rows, m, h, w = pairs.shape[:4]
    canvas = np.ones((rows * (h + gap) + gap, m * (w + gap) + gap, *pairs.shape[4:]))
    for r in range(rows):  # 2 rows x m tiles: a handful of copies, not a loop over pixels
        for c in range(m):
            canvas[gap + r * (h + gap):gap + r * (h + gap) + h, gap + c * (w + gap):gap + c * (w + gap) + w] = \
                pairs[r, c]
    return np.round(canvas * 255).astype(np.uint8)


def write_png_gray(path: Path, pixels: np.ndarray) -> None:
    """Write an 8-bit grayscale PNG (uint8 array (H, W); RGB: (H, W, 3)) atomically, with matplotlib's writer."""
    from matplotlib.image import imsave

    from memgen_cli.results_format import atomic_write

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    options = dict(cmap="gray", vmin=0, vmax=255) if pixels.ndim == 2 else {}
    atomic_write(path, lambda tmp: imsave(tmp, pixels, format="png", **options))
