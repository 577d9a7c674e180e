"""`memgen evaluate`: a researcher's own samples scored with references, checked against known answers, against a
peer's rule written out, against memgen's own sweeps, and refused in one line when the input is bad."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from memgen_cli.evaluate import neighbours as nb
from memgen_cli.evaluate import scores
from memgen_cli.evaluate.cell import score_cell
from memgen_cli.evaluate.params import EvaluateSettings
from tests.tiny import CLOSEDFORM_SWEEP

MEMGEN = [sys.executable, "-m", "memgen_cli"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*MEMGEN, *map(str, args)], capture_output=True, text=True, cwd=cwd)


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> dict[str, Path]:
    """scikit-learn's digits in [0, 1]: a training set, held-out digits, and three sets of samples whose copy
    fraction is known (fresh digits: 0; noisy training copies: 1; 30 copies in 100: 0.3)."""
    from sklearn.datasets import load_digits

    x = load_digits().images / 16.0
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(x))
    train, held, fresh = x[perm[:300]], x[perm[300:1100]], x[perm[1100:]]
    copies = np.clip(train[rng.integers(0, 300, 300)] + 0.02 * rng.standard_normal((300, 8, 8)), 0, 1)
    folder = tmp_path_factory.mktemp("digits")
    sets = {"train": train, "heldout": held, "fresh": fresh[:300], "copies": copies,
            "mix": np.concatenate([copies[:90], fresh[300:510]])}
    for name, values in sets.items():
        np.save(folder / f"{name}.npy", values)
    return {name: folder / f"{name}.npy" for name in sets}


def trials_of(out: Path) -> dict:
    return pd.read_csv(out / "trials.csv").iloc[0].to_dict()


# -- the search and the rule ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("distance", ["l2", "cosine"])
def test_nearest_equals_brute_force(distance):
    rng = np.random.default_rng(1)
    base, queries = rng.standard_normal((700, 24)), rng.standard_normal((90, 24))
    queries[:20] = base[:20] + 1e-6 * rng.standard_normal((20, 24))  # near-copies: float32 alone would misrank
    idx, dist = nb.nearest(queries, base, 6, distance, budget_bytes=40_000)  # many small chunks
    q, b = nb.prepared(queries, distance), nb.prepared(base, distance)
    full = ((q[:, None, :] - b[None]) ** 2).sum(-1)
    full = full / 2 if distance == "cosine" else np.sqrt(full)
    order = np.argsort(full, axis=1)[:, :6]
    assert (idx == order).all()
    np.testing.assert_allclose(dist, np.take_along_axis(full, order, 1), rtol=1e-12, atol=1e-15)


def test_fraction_equals_the_diffmemorize_rule_written_out(digits):
    """sail-sg/DiffMemorize's mem_ratio rule: L2 distances of flattened images to every training image, the two
    smallest, memorized when d1 / d2 < 1/3."""
    mix, train = np.load(digits["mix"]), np.load(digits["train"])
    g, t = mix.reshape(len(mix), -1), train.reshape(len(train), -1)
    d = np.sqrt(((g[:, None, :] - t[None]) ** 2).sum(-1))
    top2 = np.sort(d, axis=1)[:, :2]
    theirs = float(np.mean(top2[:, 0] / top2[:, 1] < 1 / 3))
    found = score_cell(g, t, None, EvaluateSettings(drop_duplicates=False, references=False), "l2", 0)
    assert found.row["memorized_fraction"] == theirs


def test_near_duplicates_in_training_are_dropped():
    rng = np.random.default_rng(2)
    train = rng.random((40, 16))
    train[30] = train[3] + 1e-4  # a near-duplicate pair (3, 30)
    found = score_cell(train[[3]] + 1e-3, train, None, EvaluateSettings(references=False), "l2", 0)
    assert found.duplicate_pairs.tolist() == [[3, 30]]
    assert found.row["train_duplicates"] == 1 and found.row["n_train_used"] == 39
    assert found.row["memorized_fraction"] == 1.0  # with both copies kept, the copy's ratio would be ~1
    kept = score_cell(train[[3]] + 1e-3, train, None, EvaluateSettings(references=False, drop_duplicates=False),
                      "l2", 0)
    assert kept.row["memorized_fraction"] == 0.0


def test_kde_delta_matches_a_direct_computation():
    """Δ's terms with one width against direct float64 sums of Gaussian overlaps in low d."""
    rng = np.random.default_rng(3)
    g, t, o = rng.standard_normal((30, 3)), rng.standard_normal((25, 3)), rng.standard_normal((40, 3))
    eps = 0.7

    def overlap(a, b):
        sq = ((a[:, None, :] - b[None]) ** 2).sum(-1)
        return np.mean(np.exp(-sq / (4 * eps**2))) * (4 * np.pi * eps**2) ** (-1.5)

    e_tg = overlap(g, g) + overlap(t, t) - 2 * overlap(g, t)
    e_og = overlap(g, g) + overlap(o, o) - 2 * overlap(g, o)
    found = scores.kde_delta(g, t, o, eps, scores.bootstrap_rows(rng, 30, 50))
    np.testing.assert_allclose(np.exp(found["log_E_TG"]), e_tg, rtol=1e-9)
    np.testing.assert_allclose(np.exp(found["log_E_OG"]), e_og, rtol=1e-9)
    assert found["delta_positive"] == int(e_tg > e_og)
    assert 0.0 <= found["delta_positive_resampled"] <= 1.0


# -- the command on digits -------------------------------------------------------------------------------------------

@pytest.mark.slow  # memgen evaluate on scikit-learn's digits, in a process each
@pytest.mark.parametrize("name, low, high", [("fresh", 0.0, 0.05), ("copies", 0.95, 1.0), ("mix", 0.25, 0.35)])
def test_known_fractions_on_digits(digits, tmp_path, name, low, high):
    out = tmp_path / name
    done = run("evaluate", "--samples", digits[name], "--train", digits["train"], "--heldout", digits["heldout"],
               "--out", out)
    assert done.returncode == 0, done.stderr
    row = trials_of(out)
    assert low <= row["memorized_fraction"] <= high
    if name == "mix":  # the truth, 0.3, inside the interval
        assert row["memorized_lo"] <= 0.3 <= row["memorized_hi"]
    assert row["generalizer_memorized_hi"] < 0.05 and row["memorizer_memorized_lo"] > 0.95
    assert row["memorizer_delta_positive"] == 0
    verdict = {"fresh": "generalizes", "copies": "copies", "mix": "generalizes, with copies"}[name]
    assert f"] {verdict}:" in done.stdout
    assert max(map(len, done.stdout.splitlines())) <= 80
    (cell,) = [p for p in (out / "evaluate").iterdir() if p.is_dir()]
    table = pd.read_csv(cell / "neighbours.csv")
    assert set(table["set"]) == {"samples", "generalizer", "memorizer"}
    assert {"nn1", "d5", "ratio", "calibrated_distance"} <= set(table.columns)
    curve = pd.read_csv(cell / "threshold.csv")
    assert len(curve) == 3 * 19 and curve["fraction"].is_monotonic_increasing is not None
    assert (cell / "gallery.png").stat().st_size > 0 and (cell / "ratios.png").stat().st_size > 0


@pytest.mark.slow
def test_config_of_several_models_then_analyze_plot_report(digits, tmp_path):
    """Models at several n: the fraction falls with n, analyze finds n_mem, report shows the evaluation."""
    train = np.load(digits["train"])
    copies, fresh = np.load(digits["copies"]), np.load(digits["fresh"])
    pairs = []
    for n, share in ((20, 1.0), (60, 0.8), (150, 0.2), (300, 0.0)):
        k = int(round(share * 100))
        path = tmp_path / f"samples-n{n}.npy"
        np.save(path, np.concatenate([copies[:k], fresh[:100 - k]]))
        pairs.append({"samples": str(path), "train": str(digits["train"]), "n": n})
    assert len(train) == 300
    config = tmp_path / "evaluate.yaml"
    config.write_text(yaml.safe_dump({"model": "evaluate", "heldout": str(digits["heldout"]), "pairs": pairs,
                                      "evaluation": {"bootstrap": 200}}))
    out = tmp_path / "folder"
    assert run("sweep", "evaluate", config, "--out", out, "--quiet").returncode == 0
    first = (out / "trials.csv").read_bytes()
    again = run("sweep", "evaluate", config, "--out", out, "--quiet")  # resumes: every part reused
    assert again.returncode == 0 and (out / "trials.csv").read_bytes() == first
    summary = pd.read_csv(out / "summary.csv")
    assert summary["mean_memorized_fraction"].is_monotonic_decreasing
    assert run("analyze", out).returncode == 0
    memorization = pd.read_csv(out / "memorization.csv")
    assert 60 < memorization["n_mem"].iloc[0] < 150
    assert run("report", out).returncode == 0
    page = (out / "report.html").read_text()
    assert page.count("<img class=wide alt='gallery'") == 4 and "Your samples, cell by cell" in page


def test_features_with_cosine_distance(tmp_path):
    rng = np.random.default_rng(4)
    train = rng.standard_normal((200, 32))
    samples = np.concatenate([train[:40] * 3.0, rng.standard_normal((60, 32))])  # scaled copies: cosine 0
    for name, values in (("train", train), ("samples", samples)):
        np.save(tmp_path / f"{name}.npy", values)
    done = run("evaluate", "--features", "--distance", "cosine", "--samples", tmp_path / "samples.npy",
               "--train", tmp_path / "train.npy", "--out", tmp_path / "out", "--quiet")
    assert done.returncode == 0, done.stderr
    assert trials_of(tmp_path / "out")["memorized_fraction"] == pytest.approx(0.4)


def test_reproducibility_pairs_by_index(digits, tmp_path):
    fresh = np.load(digits["fresh"])
    np.save(tmp_path / "b.npy", np.concatenate([fresh[:50], fresh[::-1][:50]]))  # first 50 the same images
    np.save(tmp_path / "a.npy", fresh[:100])
    done = run("evaluate", "--samples", tmp_path / "a.npy", "--samples-b", tmp_path / "b.npy", "--train",
               digits["train"], "--out", tmp_path / "out", "--quiet")
    assert done.returncode == 0, done.stderr
    assert trials_of(tmp_path / "out")["reproduced_fraction"] == pytest.approx(0.5, abs=0.02)


@pytest.mark.slow
def test_the_closedform_sweep_is_reproduced_exactly(tmp_path):
    """A closed-form sweep writes its samples (output.samples); evaluate on them gives the sweep's own fraction."""
    config = tmp_path / "cf.yaml"
    config.write_text(CLOSEDFORM_SWEEP + "output: {image_dir: images, samples: true}\n")
    out = tmp_path / "cf"
    done = run("sweep", "closedform", config, "--out", out, "--quiet")
    assert done.returncode == 0, done.stderr
    trials = pd.read_csv(out / "trials.csv")
    for row in trials[trials["trial"] == 0].to_dict("records"):
        npz = out / "images" / f"cell-{row['cell_id']}.npz"
        mine = run("evaluate", "--features", "--samples", f"{npz}:samples", "--train", f"{npz}:train",
                   "--keep-duplicates", "--out", tmp_path / f"ev-{row['cell_id']}", "--quiet")
        assert mine.returncode == 0, mine.stderr
        assert trials_of(tmp_path / f"ev-{row['cell_id']}")["memorized_fraction"] == row["memorized_fraction"]


# -- bad input: one line, exit 2, nothing written ------------------------------------------------------------------

def _bad_cases(tmp_path: Path, digits) -> list[tuple[list, str]]:
    nan = np.load(digits["fresh"]).copy()
    nan[3, 2, 2] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    np.save(tmp_path / "wide.npy", np.load(digits["fresh"]) * 3.0)
    np.save(tmp_path / "other.npy", np.zeros((10, 4, 4)))
    np.save(tmp_path / "empty.npy", np.zeros((0, 8, 8)))
    np.save(tmp_path / "bools.npy", np.zeros((10, 8, 8), dtype=bool))
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    folder = tmp_path / "pngs"
    folder.mkdir()
    from PIL import Image

    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(folder / "a.png")
    Image.fromarray(np.zeros((9, 9), dtype=np.uint8)).save(folder / "b.png")
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(corrupt / "a.png")
    (corrupt / "b.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    train = ["--train", digits["train"]]
    return [
        (["--samples", tmp_path / "nan.npy", *train], "NaN or infinite"),
        (["--samples", tmp_path / "wide.npy", *train], "outside [0, 1] and [-1, 1]"),
        (["--samples", tmp_path / "other.npy", *train], "differ from"),
        (["--samples", tmp_path / "empty.npy", *train], "empty"),
        (["--samples", tmp_path / "bools.npy", *train], "bool"),
        (["--samples", tmp_path / "broken.npz", *train], "cannot be read as an array"),
        (["--samples", folder, *train], "a.png is (8, 8), b.png is (9, 9)"),
        (["--samples", corrupt, *train], "b.png cannot be read as an image"),
        (["--samples", digits["fresh"], *train, "--heldout", digits["train"]], "exact copies of training items"),
        (["--samples", digits["fresh"], *train, "--distance", "cosine"], "distance: cosine is for features"),
    ]


def test_bad_input_is_one_line_and_leaves_nothing(digits, tmp_path):
    for number, (args, expected) in enumerate(_bad_cases(tmp_path, digits)):
        out = tmp_path / f"out{number}"
        done = run("evaluate", *args, "--out", out)
        assert done.returncode == 2, (args, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0] and "Traceback" not in done.stderr, (args, done.stderr)
        assert not out.exists()


def test_sixteen_bit_pngs_read_at_sixteen_bits(tmp_path):
    from PIL import Image

    from memgen_cli.evaluate.inputs import load_set

    folder = tmp_path / "png16"
    folder.mkdir()
    values = np.random.default_rng(5).integers(0, 65536, size=(3, 8, 8)).astype(np.uint16)
    for k, image in enumerate(values):
        Image.fromarray(image).save(folder / f"{k}.png")
    loaded = load_set("samples", str(folder), False)
    np.testing.assert_allclose(loaded.values, values / 65535.0)
    assert loaded.scale == "16-bit files / 65535"


@pytest.mark.slow
def test_readme_bring_your_own_samples_runs_as_written(tmp_path):
    """The README's commands, in a copy of the clone's docs/: the example sets, one cell, a config, analyze, report."""
    import re
    import shutil

    root = Path(__file__).resolve().parents[1]
    text = (root / "README.md").read_text()
    section = text[text.index("## Bring your own samples"):]
    block = re.search(r"```\n(.*?)```", section, flags=re.S).group(1).replace("\\\n", " ")
    shutil.copytree(root / "docs" / "examples", tmp_path / "docs" / "examples")
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert commands[0].startswith("python docs/examples/digits_sets.py")
    for command in commands:
        for part in command.split("&&"):
            words = part.split()
            program = [sys.executable] if words[0] == "python" else MEMGEN
            done = subprocess.run([*program, *words[1:]], capture_output=True, text=True, cwd=tmp_path)
            assert done.returncode == 0, (part, done.stderr)
    memorization = pd.read_csv(tmp_path / "results" / "evaluate-digits" / "memorization.csv")
    assert 64 <= memorization["n_mem"].iloc[0] <= 256  # the README's n_mem = 103 [64, 256]
    assert (tmp_path / "results" / "evaluate-digits" / "report.html").is_file()


def test_sets_too_large_for_memory_are_refused_before_any_work(digits, tmp_path):
    import os

    out = tmp_path / "out"
    done = subprocess.run([*MEMGEN, "evaluate", "--samples", str(digits["fresh"]), "--train", str(digits["train"]),
                           "--out", str(out)], capture_output=True, text=True,
                          env={**os.environ, "MEMGEN_MAX_MEMORY": "100000"})
    assert done.returncode == 2 and "pairs[0].train" in done.stderr and "MEMGEN_MAX_MEMORY" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not out.exists()


def test_the_images_family_reads_sixteen_bit_pngs_at_sixteen_bits(tmp_path):
    """Issue 34, case 6: a folder of 16-bit PNGs went through an 8-bit conversion that clipped 99% of pixels."""
    from PIL import Image

    from memgen_cli.imaging.image_files import load_images

    values = np.random.default_rng(6).integers(0, 65536, size=(4, 8, 8)).astype(np.uint16)
    for k, image in enumerate(values):
        Image.fromarray(image).save(tmp_path / f"{k}.png")
    loaded = load_images(str(tmp_path), 8, 1)
    np.testing.assert_allclose(loaded.pixels, values / 65535.0)
    assert loaded.scale == "16-bit files / 65535" and (loaded.pixels < 1.0).mean() > 0.99


@pytest.mark.parametrize("distance", ["l2", "cosine"])
def test_a_sharded_search_equals_one_search_to_the_last_bit(distance):
    rng = np.random.default_rng(7)
    base, queries = rng.standard_normal((900, 20)), rng.standard_normal((70, 20))
    queries[:10] = base[:10] + 1e-9
    one = nb.nearest(queries, base, 12, distance)
    for shards in (2, 3, 7):
        split = nb.sharded_nearest(queries, base, 12, distance, shards=shards)
        assert (split[0] == one[0]).all() and (split[1] == one[1]).all()


@pytest.mark.slow
def test_executor_dask_splits_the_training_set_and_equals_the_serial_run(digits, tmp_path):
    """With --executor dask the training set's shards are searched on the workers; trials.csv is the serial one's."""
    config = tmp_path / "evaluate.yaml"
    config.write_text(yaml.safe_dump({"model": "evaluate", "heldout": str(digits["heldout"]),
                                      "pairs": [{"samples": str(digits["mix"]), "train": str(digits["train"])}],
                                      "evaluation": {"bootstrap": 100}}))
    serial = run("sweep", "evaluate", config, "--out", tmp_path / "serial", "--executor", "serial", "--quiet")
    dask = run("sweep", "evaluate", config, "--out", tmp_path / "dask", "--executor", "dask", "--workers", "2",
               "--quiet")
    assert serial.returncode == 0 and dask.returncode == 0, dask.stderr
    a, b = (pd.read_csv(tmp_path / name / "trials.csv").drop(columns="seconds") for name in ("serial", "dask"))
    pd.testing.assert_frame_equal(a, b)
    for name in ("neighbours.csv", "threshold.csv"):
        (cell,) = [p for p in (tmp_path / "serial" / "evaluate").iterdir() if p.is_dir()]
        assert (cell / name).read_bytes() == (tmp_path / "dask" / "evaluate" / cell.name / name).read_bytes()
