"""Real images from files for the ``images`` data family: a ``.npz``/``.npy`` array or a folder of PNG/JPEG files.

Every image ends up in [0, 1] pixel units (float64), resized to side x side (bilinear, with Pillow's
antialiasing when shrinking) and with 1 channel (gray: ITU-R 601 luma of RGB) or 3 (RGB; gray repeated):
shape (count, side, side) for one channel, (count, side, side, 3) for three. Pixel scale:

- uint8 (or integers in 0..255): value / 255;
- float: used as stored, and must lie in [0, 1];
- PNG/JPEG files: 8-bit values / 255, 16-bit gray values / 65535 (never through an 8-bit conversion).

A problem with the file is one line naming ``data.path`` (a ValueError, as the config's validation reports it).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R 601, as Pillow's convert("L")


@dataclass(frozen=True)
class LoadedImages:
    pixels: np.ndarray  # (count, side, side) or (count, side, side, 3), [0, 1], read-only
    sigma: float  # std over every pixel of every image: the metric's sigma (a property of the data set)
    scale: str  # how the stored values became [0, 1] pixel units (recorded in trials.csv: pixel_scale)


class ImageFileProblem(ValueError):
    """A problem with data.path's images, already one line naming it (any other error of a reader is wrapped)."""


def _problem(path: str, what: str) -> ImageFileProblem:
    return ImageFileProblem(f"data.path: {path}: {what}")


def image_files_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _read_array(path: str) -> np.ndarray:
    file = Path(path)
    if file.suffix == ".npy":
        return np.load(file, mmap_mode="r", allow_pickle=False)
    with np.load(file, allow_pickle=False) as archive:
        names = list(archive.files)
        if "images" in names:
            return archive["images"]
        if len(names) == 1:
            return archive[names[0]]
    raise _problem(path, f"holds {len(names)} arrays ({', '.join(names[:4])}); name the images 'images'")


@lru_cache(maxsize=8)
def image_count(path: str) -> int:
    """How many images ``path`` holds (checked before any training); a ValueError naming data.path if none."""
    file = Path(path)
    if not file.exists():
        raise _problem(path, "no such file or folder")
    if file.is_dir():
        count = len(image_files_in(file))
        if count == 0:
            raise _problem(path, f"the folder holds no {'/'.join(s[1:].upper() for s in IMAGE_SUFFIXES)} files")
        return count
    if file.suffix not in (".npz", ".npy"):
        raise _problem(path, "give a .npz or .npy array, or a folder of PNG/JPEG files")
    try:
        shape = _read_array(path).shape
    except ImageFileProblem:
        raise
    except Exception as error:  # zip, pickle, header and format errors of a damaged file
        raise _problem(path, f"cannot be read as an array ({type(error).__name__}: {error})") from None
    if len(shape) not in (3, 4) or (len(shape) == 4 and shape[3] not in (1, 3, 4)):
        raise _problem(path, f"array of shape {shape}; expected N x H x W or N x H x W x C (C = 1, 3 or 4)")
    if 0 in shape[1:3]:
        raise _problem(path, f"array of shape {shape}: images of {shape[1]} x {shape[2]} pixels hold nothing")
    return int(shape[0])


def _values_problem(chunk: np.ndarray, first: int = 0) -> str | None:
    """Why stored pixel values break the scale rule (module docstring), naming the first image that does (``first``:
    the index of the chunk's first image); None when they follow it."""
    kind = chunk.dtype.kind
    if chunk.dtype == np.uint8:
        return None
    if kind not in "uif":  # booleans, complex numbers, strings, dates: no pixel scale to read them on
        return f"pixels of type {chunk.dtype}; give uint8, integers in 0..255 or float in [0, 1]"
    values = np.asarray(chunk, dtype=np.float64).reshape(len(chunk), -1)
    if kind == "f" and not np.isfinite(values).all():
        image = first + int(np.flatnonzero(~np.isfinite(values).all(axis=1))[0])
        return f"image {image} holds NaN or infinite values; float pixels must be finite and lie in [0, 1]"
    high = 255 if kind in "ui" else 1
    outside = (values < 0).any(axis=1) | (values > high).any(axis=1)
    if outside.any():
        image = first + int(np.flatnonzero(outside)[0])
        span = f"{values[image - first].min():g}..{values[image - first].max():g}"
        rule = ("integer pixels must lie in 0..255" if kind in "ui" else
                "float pixels must lie in [0, 1] (divide 0..255 data by 255)")
        return f"image {image} holds values {span}; {rule}"
    return None


def _unit_scale(array: np.ndarray, path: str) -> tuple[np.ndarray, str]:
    if problem := _values_problem(array):
        raise _problem(path, problem)
    if array.dtype == np.uint8:
        return array.astype(np.float64) / 255.0, "uint8 / 255"
    if np.issubdtype(array.dtype, np.integer):
        return array.astype(np.float64) / 255.0, "integers / 255"
    return np.asarray(array, dtype=np.float64), "float, as stored"


def _with_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """(count, H, W) or (count, H, W, C) -> (count, H, W) for 1 channel, (count, H, W, 3) for 3."""
    if images.ndim == 4 and images.shape[3] == 4:
        images = images[..., :3]  # alpha dropped
    if images.ndim == 4 and images.shape[3] == 1:
        images = images[..., 0]
    if channels == 1:
        return images @ LUMA if images.ndim == 4 else images
    return images if images.ndim == 4 else np.repeat(images[..., None], 3, axis=3)


def resize(images: np.ndarray, side: int) -> np.ndarray:
    """Bilinear resize of (count, H, W[, C]) float images to side x side, channel by channel (Pillow, mode F)."""
    from PIL import Image

    if images.shape[1:3] == (side, side):
        return images
    planes = images[..., None] if images.ndim == 3 else images
    out = np.empty((planes.shape[0], side, side, planes.shape[3]))
    for k in range(planes.shape[0]):  # one small Pillow call per image plane
        for c in range(planes.shape[3]):
            plane = Image.fromarray(np.ascontiguousarray(planes[k, :, :, c], dtype=np.float32), mode="F")
            out[k, :, :, c] = np.asarray(plane.resize((side, side), Image.Resampling.BILINEAR))
    return out[..., 0] if images.ndim == 3 else out


SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I")  # how Pillow opens 16-bit gray PNGs


def mode_problem(mode: str) -> str | None:
    """Why a file's Pillow mode has no pixel scale here (None: 8-bit gray or colour, or 16-bit gray)."""
    if mode in SIXTEEN_BIT_MODES:
        return None
    if mode == "F" or mode.startswith("I;16") or mode == "RGB;16":
        return f"image mode {mode}; give 8- or 16-bit gray, or 8-bit RGB"
    return None


def read_image_file(file: Path, channels: int | None = None) -> tuple[np.ndarray, int]:
    """One PNG/JPEG as (H, W) or (H, W, 3) values in [0, 1], and its bits per channel: 16-bit gray files at 16 bits
    (value / 65535; an 8-bit conversion would clip them), 8-bit files through Pillow's L or RGB conversion / 255.
    ``channels`` 1 or 3 converts (None: gray stays gray, the rest becomes RGB). OSError or ValueError when the file
    is not such an image."""
    from PIL import Image

    with Image.open(file) as image:
        image.load()
        if image.mode in SIXTEEN_BIT_MODES:
            values = np.asarray(image, dtype=np.float64)
            if values.size and (values.min() < 0 or values.max() > 65535):
                raise ValueError(f"gray values outside 0..65535 (mode {image.mode})")
            values /= 65535.0
            return (np.repeat(values[..., None], 3, axis=2) if channels == 3 else values), 16
        if problem := mode_problem(image.mode):
            raise ValueError(problem)
        gray = channels == 1 or (channels is None and image.mode in ("L", "LA", "1"))
        return np.asarray(image.convert("L" if gray else "RGB"), dtype=np.float64) / 255.0, 8


def _read_folder(folder: Path, side: int, channels: int) -> tuple[np.ndarray, str]:
    out, bits = [], set()
    for file in image_files_in(folder):
        try:
            pixels, depth = read_image_file(file, channels)
        except (OSError, ValueError) as error:
            raise _problem(str(folder), f"{file.name} cannot be read as an image ({error})") from None
        out.append(resize(pixels[None], side)[0])
        bits.add(depth)
    return np.stack(out), " and ".join(f"{b}-bit files / {2**b - 1}" for b in sorted(bits))


@lru_cache(maxsize=2)
def load_images(path: str, side: int, channels: int) -> LoadedImages:
    """Every image of ``path`` in [0, 1], resized to side x side, with ``channels`` channels (cached per worker)."""
    image_count(path)  # the same one-line problems as the config check
    file = Path(path)
    if file.is_dir():
        pixels, scale = _read_folder(file, side, channels)
    else:
        pixels, scale = _unit_scale(np.asarray(_read_array(path)), path)
        pixels = resize(_with_channels(pixels, channels), side)
    pixels = np.clip(pixels, 0.0, 1.0)  # bilinear resizing stays in range; clip its rounding
    pixels.setflags(write=False)
    return LoadedImages(pixels, float(pixels.std()), scale)


@lru_cache(maxsize=8)
def constant_problem(path: str) -> str | None:
    """Why the images at ``path`` cannot be a data set, checked with the config: every pixel of every image has one
    value, so their pixel sigma (the metrics' unit) would be 0. None when they vary, which the first image that
    varies settles: an array is compared chunk by chunk, a folder file by file (Pillow's extrema, alpha aside)."""
    image_count(path)  # exists, and holds images
    file = Path(path)
    if file.is_dir():
        from PIL import Image

        first = None
        for name in image_files_in(file):
            try:
                with Image.open(name) as image:
                    extrema, mode = image.getextrema(), image.mode
            except OSError as error:
                return f"data.path: {path}: {name.name} cannot be read as an image ({error})"
            bands = extrema if isinstance(extrema[0], tuple) else (extrema,)
            bands = bands[:-1] if mode in ("LA", "PA", "RGBA", "La", "RGBa") else bands
            if any(low != high for low, high in bands) or first not in (None, (mode, bands)):
                return None
            first = (mode, bands)
    else:
        array = _read_array(path)
        array = array[..., :3] if array.ndim == 4 and array.shape[3] == 4 else array  # alpha dropped, as when read
        value = np.asarray(array[0, 0, 0])
        for start in range(0, array.shape[0], 256):  # bounded memory for a large memory-mapped .npy
            if not np.all(array[start:start + 256] == value):
                return None
    return (f"data.path: {path}: every pixel of every image has the same value, so their pixel sigma (the unit of "
            "the image metrics) is 0; give images that vary")


@lru_cache(maxsize=8)
def pixel_problem(path: str) -> str | None:
    """Why the images at ``path`` cannot be put on the pixel scale, checked with the config, before any folder is
    created or any work done: an array's type, or a value outside its scale (image by image, in chunks: bounded
    memory for a large memory-mapped .npy); a folder's file that is not an image, is damaged (Pillow's verify,
    which reads the file without decoding it) or has a mode with no scale. None when every image can be read."""
    image_count(path)  # exists, and holds images of a usable shape
    file = Path(path)
    if file.is_dir():
        from PIL import Image

        for name in image_files_in(file):
            try:
                with Image.open(name) as image:
                    problem = mode_problem(image.mode)
                    image.verify()
            except Exception as error:  # Pillow's readers raise OSError, SyntaxError, struct.error... on bad files
                return f"data.path: {path}: {name.name} cannot be read as an image ({error})"
            if problem:
                return f"data.path: {path}: {name.name}: {problem}"
        return None
    array = _read_array(path)
    if array.dtype == np.uint8:  # every value is a pixel: nothing to scan
        return None
    for start in range(0, array.shape[0], 256):
        if problem := _values_problem(np.asarray(array[start:start + 256]), start):
            return f"data.path: {path}: {problem}"
    return None
