"""The ledger: memgen touches only what it wrote.

Every folder memgen writes into holds a hidden ``.memgen-ledger``: one line per name memgen created there
(``+name``), written before the file or folder itself, and ``-name`` when memgen moved or deleted it. memgen
deletes or moves a path only when its folder's ledger lists it, and a folder as a whole only when everything in
it is listed (recursively); a user's file in ``figures/`` (or a user's ``.replacing-x/``) is never listed, so it
stays where it is. A folder memgen creates is listed in its parent's ledger only when the parent has a ledger
already: memgen never writes a ledger into a folder it was only asked to create a folder in (``--out``'s parent).

Folders written before the ledger (an older memgen) have none: ``adopt`` lists the names a results folder's
top level may hold (``results_format.MEMGEN_FILES``) and its parts, never what ``figures/``, ``logs/``,
``images/`` or ``evaluate/`` hold (docs/results-format.md, Integrity).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable, Iterable, NamedTuple

from memgen_cli.errors import MemgenError

LEDGER_FILE = ".memgen-ledger"


class LegacyFolder(NamedTuple):
    """What a results folder written before the ledger holds (set by results_format, which owns the names)."""

    recognise: Callable[[Path], bool]  # whether a folder is memgen's
    names: tuple[str, ...]  # the top-level names memgen writes
    patterns: dict[str, tuple[str, ...]]  # inside those folders, the entries that are memgen's


LEGACY_FOLDER: LegacyFolder | None = None


def _ledger(folder: Path) -> Path:
    return Path(folder) / LEDGER_FILE


def has_ledger(folder: Path) -> bool:
    return _ledger(folder).is_file()


def _append(folder: Path, lines: Iterable[str]) -> None:
    """Append to the folder's ledger and make it durable (fsync) before returning: the name reaches the disk before
    the file it announces, so a power cut never leaves a file of memgen's that the ledger does not list."""
    text = "".join(f"{line}\n" for line in lines)
    if not text:
        return
    created = not _ledger(folder).exists()
    fd = os.open(_ledger(folder), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        _sync_folder(folder)


def _sync_folder(folder: Path) -> None:
    """fsync a folder, so that a file just created in it (its ledger) survives a power cut; a no-op where folders
    cannot be opened (Windows) or synced (some network file systems)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_CACHE: dict[str, tuple[tuple[int, int], set[str]]] = {}


def entries(folder: Path) -> set[str]:
    """The names the folder's ledger lists now (created and not since moved or deleted by memgen)."""
    ledger = _ledger(folder)
    try:
        stat = ledger.stat()
        key = (stat.st_mtime_ns, stat.st_size)
        cached = _CACHE.get(str(ledger))
        if cached is not None and cached[0] == key:
            return set(cached[1])
        lines = ledger.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return set()
    names: set[str] = set()
    for line in lines:
        if line.startswith("+"):
            names.add(line[1:])
        elif line.startswith("-"):
            names.discard(line[1:])
    _CACHE[str(ledger)] = (key, set(names))
    return names


def record(path: Path) -> None:
    """List ``path`` in its folder's ledger: call it before creating the file."""
    path = Path(path)
    _append(path.parent, [f"+{path.name}"])


def record_names(folder: Path, names: Iterable[str]) -> None:
    # Appended even when listed already: reading the ledger before each write would cost a sweep of k tasks
    # O(k^2) (parts/ lists every part), for the few files a run rewrites.
    _append(folder, [f"+{name}" for name in names])


def forget(path: Path) -> None:
    """memgen moved or deleted ``path``: its folder's ledger no longer lists it."""
    path = Path(path)
    if has_ledger(path.parent):
        _append(path.parent, [f"-{path.name}"])


def owned(path: Path) -> bool:
    """memgen wrote ``path`` (its folder's ledger lists it)."""
    path = Path(path)
    return path.name != LEDGER_FILE and path.name in entries(path.parent)


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def _is_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def wholly_owned(path: Path) -> bool:
    """``path`` and, for a folder, everything in it (recursively) are memgen's."""
    if not owned(path):
        return False
    if not _is_dir(path):
        return True
    return all(child.name == LEDGER_FILE or wholly_owned(child) for child in path.iterdir())


def make_dirs(path: Path) -> Path:
    """``mkdir -p``, listing each folder it creates in its parent's ledger when the parent has one (or was
    created here)."""
    path = Path(path)
    missing = []
    for candidate in (path, *path.parents):
        if _exists(candidate):
            break
        missing.append(candidate)
    listed = False
    for folder in reversed(missing):
        if listed or has_ledger(folder.parent):
            record(folder)
            listed = True
        folder.mkdir(exist_ok=True)
    return path


def move_owned(source: Path, target: Path) -> None:
    """Move what memgen wrote at ``source`` to ``target``: a file or a wholly owned folder by one rename; a
    folder that also holds a user's files by moving only its listed entries, leaving the folder and the user's
    files in place. Into an existing folder (putting results back) the entries are merged."""
    if not _exists(source) or not owned(source):
        return
    if _is_dir(source) and (_is_dir(target) or not wholly_owned(source)):
        if not _exists(target):
            record(target)
            target.mkdir()
        for child in sorted(source.iterdir()):
            if child.name != LEDGER_FILE:
                move_owned(child, target / child.name)
        if not any(child.name != LEDGER_FILE for child in source.iterdir()):
            remove_owned(source)
        return
    record(target)
    source.rename(target)
    forget(source)


def remove_owned(path: Path) -> None:
    """Delete what memgen wrote at ``path``: a file it listed, or the listed entries of a folder (the folder too
    once nothing but its ledger is left). A user's files, and the folders holding them, stay."""
    if not _exists(path) or not owned(path):
        return
    if _is_dir(path):
        if wholly_owned(path):
            shutil.rmtree(path)
        else:
            for child in sorted(path.iterdir()):
                if child.name != LEDGER_FILE:
                    remove_owned(child)
            if any(child.name != LEDGER_FILE for child in path.iterdir()):
                return  # a user's files remain: the folder stays, with its ledger
            shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
    forget(path)


def adopt(folder: Path, names: Iterable[str], patterns: dict[str, tuple[str, ...]]) -> list[str]:
    """A folder memgen wrote before the ledger: list the given top-level names it holds, and inside the folders
    named in ``patterns`` the entries matching their glob patterns. Returns the names listed."""
    folder = Path(folder)
    found = [name for name in names if _exists(folder / name)]
    record_names(folder, found)
    for sub, globs in patterns.items():
        if sub in found and _is_dir(folder / sub) and not has_ledger(folder / sub):
            children = sorted({p.name for pattern in globs for p in (folder / sub).glob(pattern)})
            record_names(folder / sub, children)
    return found


def claim(folder: Path, names, legacy_ok: bool = False) -> None:
    """Before memgen writes ``names`` into ``folder``, refuse in one line when one of them exists and memgen did
    not write it (the folder's ledger does not list it). ``legacy_ok``: a folder an older memgen wrote (no ledger
    yet), whose files of these names are memgen's."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    if legacy_ok and not has_ledger(folder):
        # The first write into an older memgen's results folder starts its ledger: list all that folder's own
        # names first (as a sweep's reopening does), or the next reader would take its report.html for a user's.
        if LEGACY_FOLDER is not None and LEGACY_FOLDER.recognise(folder):
            adopt(folder, LEGACY_FOLDER.names, LEGACY_FOLDER.patterns)
    listed, ledgered = entries(folder), has_ledger(folder)
    for name in names:
        path = folder / name
        if (path.exists() or path.is_symlink()) and name not in listed and (ledgered or not legacy_ok):
            raise MemgenError(f"{path}: exists and memgen did not write it (not in {folder / LEDGER_FILE}); "
                              "memgen replaces only its own files: move it away or choose another --out")


def legacy_subfolder(folder: Path, sub: Path) -> bool:
    """``sub``, memgen's default output folder inside the results folder ``folder`` (its figures/), counts as
    memgen's where no ledger says otherwise: the results folder has none (an older memgen's), or lists it."""
    return Path(sub) == Path(folder) / Path(sub).name and (not has_ledger(folder) or owned(Path(sub)))
