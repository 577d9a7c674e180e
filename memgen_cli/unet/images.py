"""A PNG grid of generated images beside their nearest training images (no plotting library needed)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np


def nearest_training_images(generated: np.ndarray, train: np.ndarray) -> np.ndarray:
    """For each generated image, its nearest training image (Euclidean); shapes (m, s, s) and (n, s, s)."""
    g, t = generated.reshape(len(generated), -1), train.reshape(len(train), -1)
    sq = (g * g).sum(1)[:, None] + (t * t).sum(1)[None, :] - 2.0 * g @ t.T
    return train[np.argmin(sq, axis=1)]


def image_grid(generated: np.ndarray, train: np.ndarray, scale: int = 4, gap: int = 1) -> np.ndarray:
    """uint8 (H, W): top row the generated images, bottom row their nearest training images; [0, 1] -> 0..255."""
    pairs = np.stack([generated, nearest_training_images(generated, train)])  # (2, m, s, s)
    pairs = np.clip(pairs, 0.0, 1.0)
    pairs = np.kron(pairs, np.ones((scale, scale)))  # nearest-neighbour upscaling
    rows, m, h, w = pairs.shape
    canvas = np.ones((rows * (h + gap) + gap, m * (w + gap) + gap))
    for r in range(rows):  # 2 rows x m tiles: a handful of copies, not a loop over pixels
        for c in range(m):
            canvas[gap + r * (h + gap):gap + r * (h + gap) + h, gap + c * (w + gap):gap + c * (w + gap) + w] = \
                pairs[r, c]
    return np.round(canvas * 255).astype(np.uint8)


def write_png_gray(path: Path, pixels: np.ndarray) -> None:
    """Write an 8-bit grayscale PNG (uint8 array (H, W))."""
    h, w = pixels.shape
    raw = b"".join(b"\x00" + pixels[y].tobytes() for y in range(h))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(png)
    tmp.replace(path)
