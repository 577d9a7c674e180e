"""Integrity, fifth pass (issue 34's leftovers): memgen touches only what it wrote, and reads nothing it did not
check. Each case as a user meets it (the CLI), with what happened before in its comment."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cli_helpers import assert_one_line_error, invoke, sweep
from tiny import IMAGES_CONFIG
from memgen_cli import ledger
from memgen_cli.linear.experiment import LinearExperiment

ROOT = Path(__file__).resolve().parents[1]
CONFIG = """model: linear
seed: 3
trials: 10
grid: {n: [3, 20], d: [4], lambda: [0.0183], T: [2.0], N: [200]}
"""


def words(text: str) -> str:
    """Console output with rich's line wrapping undone."""
    return " ".join(text.split())


def kept(folder: Path) -> dict[str, bytes]:
    """Every file of a results folder but its run history, lock and ledgers."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name not in ("manifest.json", ".lock", ledger.LEDGER_FILE)}


# -- 1. a --force run whose every task fails ----------------------------------------------------------------------
def test_a_force_run_whose_every_task_fails_is_named_as_such_everywhere(tmp_path, monkeypatch):
    """It used to say its failures were 'listed in failed.json' (which held the old run's), leave its manifest entry
    without an end (so analyze called it killed, and the next run marked it so), and offer --retry-failed."""
    config = tmp_path / "forced.yaml"
    config.write_text(CONFIG)
    out = tmp_path / "out"
    real = LinearExperiment.run_task

    def fails_at_n_3(self, cfg, cell, trials, batched=True):
        if cell["n"] == 3:
            raise RuntimeError("the old run's failure")
        return real(self, cfg, cell, trials, batched)

    def fails(self, cfg, cell, trials, batched=True):
        raise RuntimeError("every task of the new config fails")

    monkeypatch.setattr(LinearExperiment, "run_task", fails_at_n_3)
    assert sweep(config, out).exit_code == 1  # the results to replace: one cell failed (failed.json, logs/)
    before = kept(out)
    assert "failed.json" in before and any(name.startswith("logs/") for name in before)

    monkeypatch.setattr(LinearExperiment, "run_task", fails)
    result = sweep(config, out, "--set", "seed=4", "--force")  # another seed: a new sweep, not a growth
    said = words(result.output)
    assert result.exit_code == 1, result.output
    assert "none finished, so this --force run wrote nothing (no failed.json, no logs)" in said
    assert "keeps the results it was to replace" in said and "rerun the same command" in said
    assert "listed in" not in said and "--retry-failed" not in said
    assert kept(out) == before and not list(out.glob(".re*"))  # the old failed.json and logs too
    last = json.loads((out / "manifest.json").read_text())["runs"][-1]
    assert last["status"] == "failed" and last["end"] and last["replaced_nothing"] is True
    assert last["failed_tasks"] == last["tasks_to_run"] > 0

    monkeypatch.setattr(LinearExperiment, "run_task", real)
    analyzed = invoke("analyze", out)
    notes = words(analyzed.output)
    assert analyzed.exit_code == 0, analyzed.output
    assert "replaced nothing: the tables, config.yaml and failed.json are those of the run before it" in notes
    assert "failed in the run before" in notes and "killed" not in notes and "did not finish" not in notes
    assert invoke("report", out).exit_code == 0
    page = words((out / "report.html").read_text(encoding="utf-8"))
    assert "so it replaced nothing" in page and "task(s) failed in the run before;" in page

    assert sweep(config, out).exit_code == 0  # the old config resumed: its failed cell runs again
    runs = json.loads((out / "manifest.json").read_text())["runs"]
    assert runs[-2]["status"] == "failed" and runs[-1]["status"] == "finished"  # not marked "killed"


# -- 2. the ledger is on the disk before the file it announces -----------------------------------------------------
def test_every_ledger_entry_is_synced_before_the_file_it_announces(tmp_path, monkeypatch):
    """Ledger writes were not fsynced: a power cut could keep a file of memgen's and lose the line listing it."""
    import memgen_cli.results_format as results_format

    opened: dict[int, str] = {}
    durable: dict[str, set[str]] = {}  # folder -> the names its ledger listed when last synced
    synced_folders: set[str] = set()
    written, unlisted = [], []
    real_open, real_fsync, real_write = os.open, os.fsync, results_format._write_file

    def spy_open(path, flags, *args, **kwargs):
        fd = real_open(path, flags, *args, **kwargs)
        opened[fd] = os.fspath(path)
        return fd

    def spy_fsync(fd):
        real_fsync(fd)
        path = opened.get(fd)
        if path is not None and Path(path).name == ledger.LEDGER_FILE:
            durable[str(Path(path).parent)] = ledger.entries(Path(path).parent)
        elif path is not None and Path(path).is_dir():
            synced_folders.add(str(Path(path)))

    def spy_write(tmp: Path, data: bytes) -> None:
        name = tmp.name[1:].rsplit(".tmp-", 1)[0]  # .<name>.tmp-<pid>
        written.append(tmp)
        if not {tmp.name, name} <= durable.get(str(tmp.parent), set()):
            unlisted.append(tmp.parent / name)
        real_write(tmp, data)

    monkeypatch.setattr(os, "open", spy_open)
    monkeypatch.setattr(os, "fsync", spy_fsync)
    monkeypatch.setattr(results_format, "_write_file", spy_write)
    config = tmp_path / "durable.yaml"
    config.write_text(CONFIG)
    result = sweep(config, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert len(written) > 4 and unlisted == []
    assert {str(tmp_path / "out"), str(tmp_path / "out" / "parts")} <= synced_folders  # each new ledger's folder


# -- 3. Ctrl-C while the command line loads ------------------------------------------------------------------------
SLOW_TYPER = """
import sys, time
class SlowTyper:
    def find_spec(self, name, path=None, target=None):
        if name == "typer":
            print("importing typer", flush=True)
            time.sleep(60)
        return None
sys.meta_path.insert(0, SlowTyper())
sys.argv = ["memgen", "--help"]
"""


def console_script() -> str:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]["memgen"]


@pytest.mark.slow  # starts processes
@pytest.mark.parametrize("start", ["the memgen console script", "python -m memgen_cli"])
def test_ctrl_c_while_the_command_line_loads_is_one_line(start):
    """A Ctrl-C in the first tenths of a second (typer and rich loading) printed a traceback and exited -2."""
    if start == "the memgen console script":
        module, _, name = console_script().partition(":")
        launch = f"import importlib; importlib.import_module({module!r}).{name}()"
    else:
        launch = "import runpy; runpy.run_module('memgen_cli', run_name='__main__', alter_sys=True)"
    process = subprocess.Popen([sys.executable, "-c", SLOW_TYPER + launch], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert process.stdout.readline().strip() == "importing typer"
        process.send_signal(signal.SIGINT)  # what Ctrl-C sends
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines() == ["memgen: interrupted"]


def test_ctrl_c_while_a_command_loads_its_libraries_is_one_line(tmp_path, monkeypatch):
    """A Ctrl-C inside a command before its own handling (its lazy imports) was click's 'Aborted!', exit code 1."""

    class Interrupting:
        def find_spec(self, name, path=None, target=None):
            if name == "memgen_cli.report.analysis.outputs":
                raise KeyboardInterrupt
            return None

    monkeypatch.delitem(sys.modules, "memgen_cli.report.analysis.outputs", raising=False)
    monkeypatch.setattr(sys, "meta_path", [Interrupting(), *sys.meta_path])
    result = invoke("analyze", tmp_path)
    assert result.exit_code == 130, result.output
    assert result.output.strip().splitlines() == ["memgen: interrupted"]


# -- 4. images the images family cannot read: refused with the config, before any folder ---------------------------


def images_sweep(tmp_path: Path, path: Path):
    config = tmp_path / "images.yaml"
    config.write_text(IMAGES_CONFIG.format(path=path))
    return sweep(config, tmp_path / "out", model="closedform")


def pngs(folder: Path, images: np.ndarray) -> Path:
    from PIL import Image

    folder.mkdir()
    for k, image in enumerate(images):
        Image.fromarray(image).save(folder / f"{k:03d}.png")
    return folder


def _good(dtype=np.float64) -> np.ndarray:
    return np.random.default_rng(4).random((40, 8, 8)).astype(dtype)


def _with(value, image: int = 5) -> np.ndarray:
    array = _good()
    array[image, 3, 2] = value
    return array


def _truncated(tmp_path: Path) -> Path:
    folder = pngs(tmp_path / "truncated", (_good() * 255).astype(np.uint8))
    data = (folder / "007.png").read_bytes()
    (folder / "007.png").write_bytes(data[: len(data) // 2])
    return folder


def _not_an_image(tmp_path: Path) -> Path:
    folder = pngs(tmp_path / "mixed", (_good() * 255).astype(np.uint8))
    (folder / "notes.png").write_text("not an image")
    return folder


ARRAYS = {  # name -> (the array, what the line says); before, the first eight failed every task after the folder
    "complex pixels": (_good(np.complex64), "pixels of type complex64"),
    "boolean pixels": (_good() > 0.5, "pixels of type bool"),
    "text pixels": (np.full((40, 8, 8), "abc"), "pixels of type <U3"),  # was "every pixel has the same value"
    "a NaN": (_with(np.nan), "image 5 holds NaN or infinite values"),
    "an infinity": (_with(np.inf), "image 5 holds NaN or infinite values"),
    "a float above 1": (_with(1.5), "image 5 holds values"),
    "a negative float": (_with(-0.25), "float pixels must lie in [0, 1]"),
    "integers above 255": ((_good() * 1000).astype(np.int32), "integer pixels must lie in 0..255"),
    "images with no pixel": (np.zeros((40, 0, 0)), "images of 0 x 0 pixels hold nothing"),  # was a traceback
    "no image": (np.zeros((0, 8, 8)), "holds 0 images"),
    "a flat array": (_good().reshape(40, 64), "expected N x H x W"),
    "two channels": (np.stack([_good(), _good()], axis=-1), "array of shape (40, 8, 8, 2)"),
}


@pytest.mark.parametrize("case", ARRAYS)
def test_an_array_the_images_family_cannot_read_is_one_line_before_any_folder(tmp_path, case):
    array, says = ARRAYS[case]
    path = tmp_path / "images.npy"
    np.save(path, array)
    assert_one_line_error(images_sweep(tmp_path, path), f"data.path: {path}", says)
    assert not (tmp_path / "out").exists()


FILES = {  # name -> (what makes the path, what the line says)
    "a damaged .npy": (lambda tmp: _bytes(tmp / "damaged.npy", b"\x93NUMPY not an array"),
                       "cannot be read as an array (ValueError"),  # the line did not name data.path
    "a damaged .npz": (lambda tmp: _bytes(tmp / "damaged.npz", b"PK\x03\x04 not a zip"),
                       "cannot be read as an array (BadZipFile"),
    "a folder with a file that is not an image": (_not_an_image, "notes.png cannot be read as an image"),
    "a folder with a truncated PNG": (_truncated, "007.png cannot be read as an image"),  # was a failed task
    "an empty folder": (lambda tmp: _folder(tmp / "empty"), "the folder holds no PNG/JPG/JPEG files"),
    "no such path": (lambda tmp: tmp / "missing.npz", "no such file or folder"),
}


def _bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


@pytest.mark.parametrize("case", FILES)
def test_a_file_the_images_family_cannot_read_is_one_line_before_any_folder(tmp_path, case):
    make, says = FILES[case]
    path = make(tmp_path)
    assert_one_line_error(images_sweep(tmp_path, path), f"data.path: {path}", says)
    assert not (tmp_path / "out").exists()


# -- 5. a folder of 16-bit PNGs through the command line ------------------------------------------------------------
def test_a_folder_of_sixteen_bit_pngs_is_read_at_sixteen_bits_by_a_sweep(tmp_path):
    values = np.random.default_rng(6).integers(0, 65536, size=(40, 8, 8)).astype(np.uint16)
    folder = pngs(tmp_path / "png16", values)
    result = images_sweep(tmp_path, folder)
    assert result.exit_code == 0, result.output
    trials = pd.read_csv(tmp_path / "out" / "trials.csv")
    assert set(trials["pixel_scale"]) == {"16-bit files / 65535"}
    # The pixel sigma is the std of every pixel of every image: at 16 bits, not clipped by an 8-bit conversion.
    unit = values / 65535.0
    assert np.allclose(trials["pixel_sigma"], unit.std(), rtol=1e-12)
    assert not np.isclose(unit.std(), np.clip(values / 255.0, 0, 1).std(), rtol=0.1)


# -- 6. a results folder memgen may not write into --------------------------------------------------------------
def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under the folder (and the folder) with its modification time and size."""
    paths = [folder, *sorted(folder.rglob("*"))]
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.stat().st_size) for p in paths}


def read_only(folder: Path, read_only: bool) -> None:
    for path in [folder, *folder.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode & ~0o222 if read_only else mode | 0o200)


@pytest.fixture
def ledger_writes(monkeypatch) -> list[Path]:
    """The folders whose ledger memgen appends to."""
    folders: list[Path] = []
    real = ledger._append

    def spy(folder, lines):
        folders.append(Path(folder).resolve())
        real(folder, lines)

    monkeypatch.setattr(ledger, "_append", spy)
    return folders


def test_analyze_plot_and_report_elsewhere_leave_a_read_only_folder_untouched(tmp_path, ledger_writes):
    """`memgen plot RO --out ELSEWHERE` wrote the analysis (transitions.csv, analysis.json, ...) into RO, and so did
    `memgen report RO --out page.html` where RO had no current analysis."""
    config = tmp_path / "ro.yaml"
    config.write_text(CONFIG)
    results = tmp_path / "results"
    assert sweep(config, results).exit_code == 0
    before, ledger_writes[:] = snapshot(results), []
    read_only(results, True)  # root ignores it: the snapshot and the ledger spy are the checks there
    try:
        for command, out in (("plot", tmp_path / "figures"), ("report", tmp_path / "page" / "page.html"),
                             ("analyze", tmp_path / "tables")):
            result = invoke(command, results, "--out", out)
            assert result.exit_code == 0, (command, result.output)
            assert out.exists() and snapshot(results) == before, command
    finally:
        read_only(results, False)
    assert not [f for f in ledger_writes if f.is_relative_to(results.resolve())]
    assert (tmp_path / "tables" / "transitions.csv").is_file() and (tmp_path / "page" / "page.html").is_file()


def test_the_phase_diagram_elsewhere_leaves_a_locate_folder_untouched(tmp_path, ledger_writes):
    """`memgen plot LOCATE --out ELSEWHERE` wrote nstar_fits.csv into LOCATE whatever --out said."""
    folder = tmp_path / "located"
    folder.mkdir()
    d = np.array([4, 8, 16, 32])
    pd.DataFrame({"d": d, "n_star": 1.6 * d ** 1.1, "n_star_lo": 1.5 * d ** 1.1, "n_star_hi": 1.7 * d ** 1.1,
                  "status": "converged"}).to_csv(folder / "nstar.csv", index=False)
    before = snapshot(folder)
    read_only(folder, True)
    try:
        result = invoke("plot", folder, "--out", tmp_path / "figures")
    finally:
        read_only(folder, False)
    assert result.exit_code == 0, result.output
    assert snapshot(folder) == before and not [f for f in ledger_writes if f.is_relative_to(folder.resolve())]
    # the fits are computed, not stored (plot writes no analysis table): the figure's sidecar holds them
    assert not (tmp_path / "figures" / "nstar_fits.csv").exists()
    fits = json.loads((tmp_path / "figures" / "phase_diagram.json").read_text())["fits"]
    assert fits[0]["b"] == pytest.approx(1.1, abs=1e-9)
