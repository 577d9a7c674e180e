"""A researcher's sets for `memgen evaluate`, read from files and put on one scale, or refused in one line.

A set is a ``.npy``/``.npz`` array or a folder of PNG/JPEG files. Pixels: arrays (count, H, W) or (count, H, W, C)
with C = 1 or 3 (a 4th, alpha, channel is dropped); files of 8 or 16 bits, gray or RGB. Features (``features:
true``): arrays (count, D) of any finite values, used as they are (more axes are flattened). ``FILE.npz:NAME``
takes one array of an archive that holds several.

The pixel scale rule (recorded per set in trials.csv, ``<set>_scale``), one for every set:

- uint8 -> value / 255; uint16 -> value / 65535; other integers, when every value lies in 0..255 -> value / 255;
- floats already in [0, 1] -> as stored; floats in [-1, 1] with some value below 0 -> (value + 1) / 2;
- anything else (floats outside [-1, 1], negative or wider integers, booleans, complex) is refused, not guessed;
- PNG/JPEG files: 8-bit values / 255, 16-bit values / 65535.

Every problem is a ``MemgenError`` naming the config field and the file: found when the config is checked, before
any folder is created or any work is done.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from memgen_cli.errors import MemgenError
from memgen_cli.imaging.image_files import image_files_in as image_files
from memgen_cli.imaging.image_files import read_image_file

ARRAY_NAMES = ("images", "samples", "features", "arr_0")  # the array taken from a .npz holding several


@dataclass(frozen=True)
class LoadedSet:
    values: np.ndarray  # (count, ...) float64 on the common scale, read-only
    scale: str  # how stored values became that scale
    sha256: str  # of the file, or of a folder's files (names and bytes, in name order)

    @property
    def flat(self) -> np.ndarray:
        return self.values.reshape(len(self.values), -1)


def _fail(field: str, path: str, what: str) -> MemgenError:
    return MemgenError(f"{field}: {path}: {what}")


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    target = split_path(path)[0]
    files = image_files(target) if target.is_dir() else [target]
    for file in files:
        if target.is_dir():
            digest.update(file.name.encode() + b"\0")
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _read_folder(field: str, folder: Path) -> tuple[np.ndarray, str]:
    files = image_files(folder)
    if not files:
        raise _fail(field, str(folder), "the folder holds no PNG or JPEG files")
    images, first, bits = [], None, set()
    for file in files:
        try:
            values, depth = read_image_file(file)
        except (OSError, ValueError, SyntaxError) as error:
            raise _fail(field, str(folder), f"{file.name} cannot be read as an image ({error})") from None
        if first is None:
            first = (file.name, values.shape)
        elif values.shape != first[1]:
            raise _fail(field, str(folder), f"images differ in size or channels: {first[0]} is {first[1]}, "
                                            f"{file.name} is {values.shape}")
        images.append(values)
        bits.add(depth)
    scale = " and ".join(f"{b}-bit files / {2**b - 1}" for b in sorted(bits))
    return np.stack(images), scale


def split_path(path: str) -> tuple[Path, str | None]:
    """``file.npz:name`` -> (file.npz, name): one array of an archive holding several; else (path, None)."""
    head, sep, name = path.rpartition(":")
    if sep and head.endswith(".npz") and name and "/" not in name:
        return Path(head), name
    return Path(path), None


def _read_array(field: str, path: str) -> np.ndarray:
    file, wanted = split_path(path)
    try:
        if file.suffix == ".npy":
            return np.load(file, allow_pickle=False)
        with np.load(file, allow_pickle=False) as archive:
            names = list(archive.files)
            chosen = wanted or next((n for n in ARRAY_NAMES if n in names), names[0] if len(names) == 1 else None)
            if chosen is None:
                raise _fail(field, path, f"holds {len(names)} arrays ({', '.join(names[:4])}); name one 'images' or "
                                         "choose one as FILE.npz:NAME")
            if chosen not in names:
                raise _fail(field, path, f"holds no array {chosen!r} (it holds {', '.join(names[:6])})")
            return archive[chosen]
    except MemgenError:
        raise
    except Exception as error:  # zip, pickle and format errors of a damaged or foreign file
        raise _fail(field, path, f"cannot be read as an array ({type(error).__name__}: {error})") from None


def unit_scale(field: str, path: str, array: np.ndarray) -> tuple[np.ndarray, str]:
    """Stored pixel values -> [0, 1] by the module's rule, or a MemgenError naming the rule broken."""
    kind = array.dtype.kind
    if kind == "b" or kind == "c" or kind not in "uif":
        raise _fail(field, path, f"pixels of type {array.dtype}; give uint8, uint16 or float pixels")
    if kind == "f" and not np.isfinite(array).all():
        bad = int(np.size(array) - np.isfinite(array).sum())
        raise _fail(field, path, f"{bad} values are NaN or infinite")
    if array.dtype == np.uint8:
        return array.astype(np.float64) / 255.0, "uint8 / 255"
    if array.dtype == np.uint16:
        return array.astype(np.float64) / 65535.0, "uint16 / 65535"
    low, high = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
    if kind in "ui":
        if low < 0 or high > 255:
            raise _fail(field, path, f"integer pixels span {low:g}..{high:g}: give uint8 (0..255), uint16 "
                                     "(0..65535) or floats in [0, 1] or [-1, 1]")
        return array.astype(np.float64) / 255.0, "integers 0..255 / 255"
    if low >= 0 and high <= 1:
        return array.astype(np.float64), "float in [0, 1], as stored"
    if low >= -1 and high <= 1:
        return (array.astype(np.float64) + 1.0) / 2.0, "float in [-1, 1], (value + 1) / 2"
    raise _fail(field, path, f"float pixels span [{low:.4g}, {high:.4g}], outside [0, 1] and [-1, 1]: rescale "
                             "them (memgen does not guess a range)")


def _pixels(field: str, path: str) -> tuple[np.ndarray, str]:
    target = Path(path)
    if target.is_dir():
        return _read_folder(field, target)
    array = np.asarray(_read_array(field, path))
    if array.ndim not in (3, 4) or (array.ndim == 4 and array.shape[3] not in (1, 3, 4)):
        raise _fail(field, path, f"array of shape {array.shape}; expected count x H x W or count x H x W x C "
                                 "(C = 1 or 3)")
    values, scale = unit_scale(field, path, array)
    if values.ndim == 4 and values.shape[3] == 4:
        values, scale = values[..., :3], scale + ", alpha dropped"
    if values.ndim == 4 and values.shape[3] == 1:
        values = values[..., 0]
    return values, scale


def _features(field: str, path: str) -> tuple[np.ndarray, str]:
    if Path(path).is_dir():
        raise _fail(field, path, "features are a .npy/.npz array (count x D), not a folder")
    array = np.asarray(_read_array(field, path))
    if array.ndim < 2:
        raise _fail(field, path, f"features of shape {array.shape}; expected count x D (more axes are flattened)")
    if array.dtype.kind not in "uif":
        raise _fail(field, path, f"features of type {array.dtype}; give real numbers")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise _fail(field, path, f"{int(array.size - np.isfinite(array).sum())} values are NaN or infinite")
    return array.astype(np.float64).reshape(len(array), -1), "features, as stored"


@lru_cache(maxsize=8)
def load_set(field: str, path: str, features: bool) -> LoadedSet:
    """One set, checked and on the common scale (cached per process: a worker reads each file once)."""
    target = split_path(path)[0]
    if not target.exists():
        raise _fail(field, path, "no such file or folder")
    if not target.is_dir() and target.suffix not in (".npy", ".npz"):
        raise _fail(field, path, "give a .npy or .npz array, or a folder of PNG/JPEG files")
    values, scale = (_features if features else _pixels)(field, path)
    if len(values) == 0:
        raise _fail(field, path, "the set is empty")
    values = np.ascontiguousarray(values)
    values.setflags(write=False)
    return LoadedSet(values, scale, sha256_of(path))


def stored_bytes(path: str) -> int:
    """Bytes a set takes once read as float64, estimated from its header (arrays) or files (folders) without
    decoding it: what the memory check multiplies."""
    target = split_path(path)[0]
    if target.is_dir():
        return sum(8 * 4 * f.stat().st_size for f in image_files(target))  # decoded pixels: ~4x a PNG's bytes
    if target.suffix == ".npy" and target.is_file():
        try:
            array = np.load(target, mmap_mode="r", allow_pickle=False)
            return int(8 * array.size)
        except Exception:  # read (and refused) properly by load_set
            return 0
    return 8 * target.stat().st_size if target.is_file() else 0


def same_shape(first: tuple[str, str, LoadedSet], second: tuple[str, str, LoadedSet]) -> None:
    """Two sets whose items differ in shape cannot be compared: one line naming both."""
    (field_a, path_a, a), (field_b, path_b, b) = first, second
    if a.values.shape[1:] != b.values.shape[1:]:
        raise MemgenError(f"{field_b}: {path_b}: items of shape {b.values.shape[1:]} differ from {field_a} "
                          f"({path_a}: {a.values.shape[1:]}); every set must have one size and channel count")


def exact_overlap(a: np.ndarray, b: np.ndarray) -> list[tuple[int, int]]:
    """(row of a, row of b) pairs of identical rows (exact equality of the values). Rows are keyed by a 16-byte
    digest, not by their bytes, so a large set is not held twice; a digest match is confirmed on the values."""
    flat_a, flat_b = (np.ascontiguousarray(x.reshape(len(x), -1)) for x in (a, b))
    seen: dict[bytes, int] = {}
    for i, row in enumerate(flat_a):
        seen.setdefault(hashlib.blake2b(row.tobytes(), digest_size=16).digest(), i)
    found = []
    for j, row in enumerate(flat_b):
        i = seen.get(hashlib.blake2b(row.tobytes(), digest_size=16).digest())
        if i is not None and np.array_equal(flat_a[i], row):
            found.append((i, j))
    return found
