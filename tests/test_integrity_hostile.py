"""Integrity, fourth pass (issue 34): hostile or damaged input, each case as a user meets it (the CLI on real
files), refused in one line naming the file, exit code 2, no traceback, and nothing written."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from cli_helpers import assert_one_line_error, invoke, sweep
from tiny import IMAGES_CONFIG
from memgen_cli.yaml_files import MAX_YAML_VALUES

CONFIG = """model: linear
seed: 3
trials: 20
grid: {n: [3, 20], d: [4], lambda: [0.0183], T: [2.0], N: [200]}
"""

# A "billion laughs": nine levels of nine aliases, 9^9 values once expanded, a few hundred bytes on disk.
LAUGHS = "".join(f"{chr(98 + k)}: &{chr(98 + k)} [{', '.join([f'*{chr(97 + k)}'] * 9)}]\n" for k in range(9))
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + LAUGHS


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("finished")
    config = base / "hostile.yaml"
    config.write_text(CONFIG)
    result = sweep(config, base / "results")
    assert result.exit_code == 0, result.output
    return config, base / "results"


def copy_of(finished, tmp_path) -> tuple[Path, Path]:
    config, reference = finished
    shutil.copytree(reference, tmp_path / "copy")
    return config, tmp_path / "copy"


def contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".lock"}


# -- 1 and 4. a results folder's config.yaml: binary, or aliases that expand without end ------------------------
@pytest.mark.parametrize("command", ("plot", "report"))
@pytest.mark.parametrize("content, problem", [(b"\x00\xa7\xff\xfe binary", "not UTF-8"),
                                              (BOMB.encode(), f"more than {MAX_YAML_VALUES:,} values")])
def test_a_damaged_stored_config_is_one_line_before_anything_is_written(finished, tmp_path, command, content,
                                                                          problem):
    _, out = copy_of(finished, tmp_path)
    (out / "config.yaml").write_bytes(content)
    before = contents(out)
    start = time.perf_counter()
    assert_one_line_error(invoke(command, out), "config.yaml", problem, "restore it, or remove it")
    assert time.perf_counter() - start < 30  # a bomb used to run until the memory ran out
    assert contents(out) == before  # no analysis, figure or page half-written


def test_analyze_does_not_need_the_stored_config(finished, tmp_path):
    _, out = copy_of(finished, tmp_path)
    (out / "config.yaml").write_bytes(b"\x00\xa7\xff\xfe binary")
    result = invoke("analyze", out)
    assert result.exit_code == 0, result.output


def test_a_bomb_in_a_stored_config_is_refused_by_a_sweep_into_the_folder(finished, tmp_path):
    config, out = copy_of(finished, tmp_path)
    (out / "config.yaml").write_text(BOMB)
    assert_one_line_error(sweep(config, out), "config.yaml is damaged", "values", "--force")


def test_load_results_refuses_a_damaged_stored_config(finished, tmp_path):
    import memgen_cli as mg
    from memgen_cli.errors import MemgenError

    _, out = copy_of(finished, tmp_path)
    (out / "config.yaml").write_bytes(b"\xff\xfe")
    with pytest.raises(MemgenError, match="config.yaml: damaged"):
        mg.load_results(out)


# -- 2. unreadable config.yaml or parts/ (as root, chmod denies nothing: a folder stands in, or a patched open) --
@pytest.mark.parametrize("command", ("plot", "report"))
def test_a_stored_config_that_is_a_folder_is_one_line(finished, tmp_path, command):
    _, out = copy_of(finished, tmp_path)
    (out / "config.yaml").unlink()
    (out / "config.yaml").mkdir()
    assert_one_line_error(invoke(command, out), "config.yaml", "is a folder")


def test_a_stored_config_denied_to_the_reader_is_one_line(finished, tmp_path, monkeypatch):
    _, out = copy_of(finished, tmp_path)
    opened = Path.open

    def denied(self, *args, **kwargs):
        if self.name == "config.yaml":
            raise PermissionError(13, "Permission denied", str(self))
        return opened(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", denied)
    assert_one_line_error(invoke("plot", out), "config.yaml", "cannot read (Permission denied)")


@pytest.mark.parametrize("force", [(), ("--force",)])
def test_parts_that_is_a_file_is_one_line_and_nothing_changes(finished, tmp_path, force):
    config, out = copy_of(finished, tmp_path)
    shutil.rmtree(out / "parts")
    (out / "parts").write_text("not a folder")
    before = contents(out)
    assert_one_line_error(sweep(config, out, *force), "parts/ is not a folder", "choose another --out")
    assert contents(out) == before


# -- 5. a config path that is a device, a pipe, or huge: refused before a byte is read ---------------------------
@pytest.mark.parametrize("kind", ["/dev/zero", "fifo", "huge"])
def test_a_config_that_is_not_a_regular_small_file_is_one_line_at_once(tmp_path, kind):
    import os

    if kind == "/dev/zero":
        path, problem = Path("/dev/zero"), "not a regular file"
    elif kind == "fifo":
        path, problem = tmp_path / "pipe.yaml", "not a regular file"
        os.mkfifo(path)  # reading it would wait for a writer forever
    else:
        path, problem = tmp_path / "huge.yaml", "too large for a config file"
        with path.open("wb") as handle:
            handle.truncate(17 * 2**20)  # sparse: no disk used
    start = time.perf_counter()
    assert_one_line_error(invoke("sweep", "linear", path, "--out", tmp_path / "out"), str(path), problem)
    assert time.perf_counter() - start < 10 and not (tmp_path / "out").exists()


@pytest.mark.parametrize("text, problem", [(BOMB + "model: linear\n", "values"),
                                           ("a: &a [1, *a]\nmodel: linear\n", "contains it"),
                                           ("[" * 5000 + "]" * 5000 + "\n", "nested too deeply")])
def test_a_config_whose_aliases_never_end_is_one_line(tmp_path, text, problem):
    path = tmp_path / "laughs.yaml"
    path.write_text(text)
    assert_one_line_error(invoke("sweep", "linear", path, "--dry-run"), "laughs.yaml", problem)
    overrides = "[&a [1, 1, 1, 1, 1, 1, 1, 1, 1]" + "".join(
        f", &{c} [{', '.join([f'*{p}'] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi")) + "]"
    config = tmp_path / "ok.yaml"
    config.write_text(CONFIG)
    assert_one_line_error(invoke("sweep", "linear", config, "--dry-run", "--set", f"seed={overrides}"), "--set seed",
                          "values")


# -- 3. a results folder whose name is not UTF-8 ----------------------------------------------------------------
def test_a_folder_name_that_is_not_utf8_gets_its_report(finished, tmp_path):
    import os

    folder = tmp_path / os.fsdecode(b"results-\xff")  # the byte 0xff, held by Python as a lone surrogate
    try:
        shutil.copytree(finished[1], folder)
    except (UnicodeEncodeError, OSError):
        pytest.skip("this file system refuses names that are not UTF-8")
    result = invoke("report", folder)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    page = (folder / "report.html").read_text(encoding="utf-8")  # valid UTF-8 throughout
    assert "<h2>results-\ufffd</h2>" in page


# -- 6. images whose every pixel is equal: pixel sigma 0, refused with the config --------------------------------


def images_sweep(tmp_path: Path, path: Path, *extra):
    config = tmp_path / "images.yaml"
    config.write_text(IMAGES_CONFIG.format(path=path))
    return sweep(config, tmp_path / "out", *extra, model="closedform")


def png_folder(tmp_path: Path, pixels, mode: str) -> Path:
    from PIL import Image

    folder = tmp_path / "pngs"
    folder.mkdir()
    for k, image in enumerate(pixels):
        Image.fromarray(image, mode=mode).save(folder / f"{k:03d}.png")
    return folder


@pytest.mark.parametrize("kind", ["npy", "rgb npz", "png", "rgba png, alpha varying"])
def test_constant_images_are_refused_before_any_work(tmp_path, kind):
    import numpy as np

    if kind == "npy":
        path = tmp_path / "grey.npy"
        np.save(path, np.full((40, 8, 8), 128, dtype=np.uint8))
    elif kind == "rgb npz":
        path = tmp_path / "red.npz"
        np.savez(path, images=np.broadcast_to(np.array([0.9, 0.1, 0.2]), (40, 8, 8, 3)).copy())
    elif kind == "png":
        path = png_folder(tmp_path, np.full((40, 8, 8), 200, dtype=np.uint8), "L")
    else:
        rgba = np.full((40, 8, 8, 4), 70, dtype=np.uint8)
        rgba[..., 3] = np.arange(40, dtype=np.uint8)[:, None, None]  # alpha is dropped when the images are read
        path = png_folder(tmp_path, rgba, "RGBA")
    result = images_sweep(tmp_path, path)
    assert_one_line_error(result, f"data.path: {path}", "every pixel of every image has the same value", "sigma")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("varying", ["between images", "within an image"])
def test_images_that_vary_pass_the_check(tmp_path, varying):
    import numpy as np

    images = np.full((40, 8, 8), 128, dtype=np.uint8)
    if varying == "between images":
        images += np.arange(40, dtype=np.uint8)[:, None, None]  # each image flat, but not all alike
    else:
        images[-1, -1, -1] = 0  # one pixel of the last image
    np.save(tmp_path / "grey.npy", images)
    result = images_sweep(tmp_path, tmp_path / "grey.npy", "--dry-run")
    assert result.exit_code == 0, result.output


# -- 7. names past the file system's limit (ENAMETOOLONG) ---------------------------------------------------------
LONG = "x" * 300  # NAME_MAX is 255 bytes on the usual file systems


@pytest.mark.parametrize("where", ["--out", "relative output.image_dir", "absolute output.image_dir"])
def test_a_name_too_long_for_the_file_system_is_one_line(tmp_path, where):
    import numpy as np

    np.save(tmp_path / "grey.npy", np.random.default_rng(0).integers(0, 256, (40, 8, 8), dtype=np.uint8))
    if where == "--out":
        config = tmp_path / "ok.yaml"
        config.write_text(CONFIG)
        result, field = sweep(config, tmp_path / LONG), "--out"
        assert not (tmp_path / "out").exists()
    else:
        image_dir = LONG if where.startswith("relative") else tmp_path / LONG / "grids"
        result, field = images_sweep(tmp_path, tmp_path / "grey.npy", "--set", f"output.image_dir={image_dir}"), \
            "output.image_dir"
    assert_one_line_error(result, field, "300 bytes, over the file system's limit")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["plot", "analyze", "report"])
def test_readers_refuse_a_name_too_long_for_the_file_system(finished, tmp_path, command):
    assert_one_line_error(invoke(command, tmp_path / LONG), LONG, "over the file system's limit")
    _, out = copy_of(finished, tmp_path)
    before = contents(out)
    assert_one_line_error(invoke(command, out, "--out", tmp_path / LONG / "x"), "--out", "file system's limit")
    assert contents(out) == before


def test_a_name_too_long_that_no_check_foresaw_is_one_line(tmp_path, monkeypatch):
    import errno

    from memgen_cli.runner import results_folder

    def too_long(path):
        raise OSError(errno.ENAMETOOLONG, "File name too long", str(path))

    monkeypatch.setattr(results_folder, "name_problem", too_long)  # the check misses; the OSError surfaces
    config = tmp_path / "ok.yaml"
    config.write_text(CONFIG)
    assert_one_line_error(sweep(config, tmp_path / "out"), "too long for the file system")


# -- 9. plot, analyze and report of a missing folder refuse before pandas or matplotlib load ----------------------
@pytest.mark.parametrize("command", ["plot", "analyze", "report"])
def test_a_missing_folder_is_refused_before_the_heavy_imports(tmp_path, command):
    import subprocess
    import sys

    code = ("import sys; from memgen_cli.cli import app\n"
            f"try: app([{command!r}, {str(tmp_path / 'absent')!r}], prog_name='memgen')\n"
            "except SystemExit as exit: print(exit.code, sorted({'pandas', 'matplotlib'} & set(sys.modules)))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**__import__("os").environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert "absent: no such folder" in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert result.stdout.strip() == "2 []", result.stdout


# -- 8. Ctrl-C early in a --workers 2 run, and a worker killed: one line each, finished parts kept ----------------
BUSY = """model: linear
seed: 3
trials: 2000
grid: {n: [3, 20, 50, 100], d: [4, 8], lambda: [0.0183], T: [2.0], N: [2000]}
"""


def busy_run(tmp_path: Path):
    import os
    import subprocess
    import sys

    config = tmp_path / "busy.yaml"
    config.write_text(BUSY)
    command = [sys.executable, "-m", "memgen_cli", "sweep", "linear", str(config), "--out", str(tmp_path / "out"),
               "-q", "--workers", "2"]
    return subprocess.Popen(command, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})


def wait_for_workers(process, count: int = 2, timeout: float = 30) -> list[int]:
    import subprocess

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
        workers = [int(c) for c in children if "resource_tracker" not in Path(f"/proc/{c}/cmdline").read_text()]
        if len(workers) >= count:
            return workers
        time.sleep(0.02)
    pytest.fail("the workers never started")


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the workers through /proc")
def test_ctrl_c_while_the_workers_start_is_one_line(tmp_path):
    import os
    import signal

    process = busy_run(tmp_path)
    wait_for_workers(process)  # spawned, still importing: where each printed its own traceback
    os.killpg(process.pid, signal.SIGINT)  # what the terminal sends to the whole group
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 130, output
    assert "Traceback" not in output and len(output.strip().splitlines()) == 1, output
    assert "interrupted" in output and "resume" in output


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the workers through /proc")
def test_a_killed_worker_is_one_line(tmp_path):
    import os
    import signal

    process = busy_run(tmp_path)
    os.kill(wait_for_workers(process)[-1], signal.SIGKILL)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 2, output
    assert "Traceback" not in output and len(output.strip().splitlines()) == 1, output
    assert "a worker process died" in output and "finished parts are kept" in output
