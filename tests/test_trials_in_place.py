"""More linear trials in a finished folder (issue 35): the added trials run as a round of their own over the same
original sets, for every cell or for the cells a ``more_trials`` rule chooses, and the grown folder equals a
fresh run of its config.yaml (the final plan) byte for byte, whatever the workers; a folder that never grew keeps
its config.yaml and every number."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from cli_helpers import assert_one_line_error, invoke, sweep

from memgen_cli.runner.configs import load_sweep_config
from memgen_cli.runner.registry import get_experiment
from memgen_cli.runner.sweep import run_sweep

BASE = """model: linear
seed: 3
trials: 12
grid: {n: [4, 12, 32], d: [6], lambda: [0.0183], T: [2.0], N: [200]}
"""
SETS = {"K3": "options: {original_sets: 3}\n", "K1": "options: {original_sets: 1}\n",
        "redraw": "options: {original: redraw}\n"}


def write_config(tmp_path: Path, key: str = "K3") -> Path:
    path = tmp_path / f"{key}.yaml"
    path.write_text(BASE + SETS[key])
    return path


def run(config: Path, out: Path, *overrides: str, workers: int | None = None):
    where = ("--executor", "local", "--workers", str(workers)) if workers else ()
    result = sweep(config, out, *(arg for o in overrides for arg in ("--set", o)), *where)
    assert result.exit_code == 0, result.output
    return result


def last_run(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())["runs"][-1]


def tables(folder: Path) -> tuple[bytes, bytes]:
    return (folder / "trials.csv").read_bytes(), (folder / "summary.csv").read_bytes()


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_equals_a_fresh_run(folder: Path, tmp_path: Path) -> None:
    """The grown folder equals a fresh run of its own config.yaml (the final plan), in two worker processes."""
    fresh = tmp_path / f"fresh-{folder.name}"
    run(folder / "config.yaml", fresh, workers=2)
    assert tables(fresh) == tables(folder)
    assert (fresh / "config.yaml").read_bytes() == (folder / "config.yaml").read_bytes()


def stored_rows_kept(before: pd.DataFrame, folder: Path) -> None:
    """The rows of trials 0-11 (every one stored before the growth) are exactly as they were."""
    after = pd.read_csv(folder / "trials.csv")
    old = after[after["trial"] < 12].reset_index(drop=True)
    pd.testing.assert_frame_equal(old, before)


@pytest.mark.parametrize("key", ["K3", "K1", "redraw"])
def test_more_trials_grow_a_finished_folder_as_a_fresh_run_of_the_final_plan(key, tmp_path):
    config, out = write_config(tmp_path, key), tmp_path / f"folder-{key}"
    run(config, out)
    before, first_tasks = pd.read_csv(out / "trials.csv"), last_run(out)["tasks_to_run"]
    run(config, out, "trials=30")
    stored_rows_kept(before, out)
    trials = pd.read_csv(out / "trials.csv")
    assert trials.groupby("cell").size().tolist() == [30, 30, 30]
    if key == "K3":
        # every stored part is reused; the 18 new trials of a cell spread over the same 3 sets, 6 each
        assert last_run(out)["tasks_already_done"] == first_tasks and last_run(out)["grown"][0] == "trials: 12 -> 30"
        new = trials[trials["trial"] >= 12]
        assert new.groupby("cell")["original_set"].apply(list).tolist() == [[0] * 6 + [1] * 6 + [2] * 6] * 3
        summary = pd.read_csv(out / "summary.csv")
        assert summary["original_sets"].tolist() == [3, 3, 3] and summary["count_delta_positive"].tolist() == [30] * 3
        assert "earlier_trials:\n- {trials: 12}\n" in (out / "config.yaml").read_text()
    else:  # the trials' numbers do not depend on their count: nothing to record
        assert "earlier_trials" not in (out / "config.yaml").read_text()
    assert_equals_a_fresh_run(out, tmp_path)
    again = run(config, out, "trials=30")  # the same command again resumes the grown folder
    assert last_run(out)["tasks_to_run"] == 0 and "grow" not in again.output


def test_chosen_cells_get_more_trials_in_place(tmp_path):
    config, out = write_config(tmp_path), tmp_path / "chosen"
    run(config, out)
    before = pd.read_csv(out / "trials.csv")
    rule = "more_trials=[{n: [12], trials: 40}]"
    dry = invoke("sweep", "linear", config, "--out", out, "--set", rule, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "# the folder: grows it (more_trials: + [{'n': [12], 'trials': 40}]" in dry.output
    assert "= 64 trials in" in dry.output and "earlier_trials:\n- {trials: 12}" in dry.output
    run(config, out, rule)
    stored_rows_kept(before, out)
    counts = pd.read_csv(out / "trials.csv").groupby("n").size().to_dict()
    assert counts == {4: 12, 12: 40, 32: 12}
    assert_equals_a_fresh_run(out, tmp_path)
    # then every cell grows: the chosen one keeps its 40 (its rule), the others gain a round to 20
    run(config, out, rule, "trials=20")
    assert pd.read_csv(out / "trials.csv").groupby("n").size().to_dict() == {4: 20, 12: 40, 32: 20}
    assert_equals_a_fresh_run(out, tmp_path)


def test_a_rule_in_a_fresh_config_is_one_round(tmp_path):
    config, out = write_config(tmp_path), tmp_path / "fresh-rule"
    run(config, out, "more_trials=[{n: 32, d: 6, trials: 21}]")
    trials = pd.read_csv(out / "trials.csv")
    chosen = trials[trials["n"] == 32]
    assert chosen["original_set"].tolist() == [t * 3 // 21 for t in range(21)]  # trial t in set t K // T
    assert (trials["n"] != 32).sum() == 24


def test_an_interrupted_growth_resumes_to_a_fresh_run(tmp_path):
    path, out = write_config(tmp_path), tmp_path / "cut"
    run_sweep(load_sweep_config(path), out, executor="serial")
    config_yaml_before = (out / "config.yaml").read_bytes()
    grown = load_sweep_config(path, ["trials=30"])

    def stop_midway(done: int, total: int) -> None:
        if 36 + 9 <= done < total:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(grown, out, executor="serial", progress=stop_midway)
    assert (out / "config.yaml").read_bytes() == config_yaml_before  # it still describes the tables
    resumed = run_sweep(grown, out, executor="serial")
    assert 0 < resumed.tasks_run < 9 and resumed.tasks_skipped > 9
    assert_equals_a_fresh_run(out, tmp_path)


def test_a_growth_that_would_change_stored_numbers_is_refused_leaving_the_folder(tmp_path):
    config, out = write_config(tmp_path), tmp_path / "kept"
    run(config, out, "more_trials=[{n: 12, trials: 24}]")
    held = snapshot(out)
    # a history that is not the folder's would move its stored trials to other sets
    assert_one_line_error(sweep(config, out, "--set", "trials=20", "--set", "more_trials=[{n: 12, trials: 24}]",
                                "--set", "earlier_trials=[{trials: 6}]"),
                          "earlier_trials: does not begin with the folder's trial plans",
                          "move trials between the 3 original sets")
    # dropping the rule would leave the chosen cell with fewer trials than it holds
    assert_one_line_error(sweep(config, out, "--set", "trials=20"), "more_trials: the cell n=12 d=6 would run 20 "
                          "trials, fewer than the 24 stored")
    assert snapshot(out) == held


def test_a_folder_that_never_grew_resumes_with_its_config_yaml_and_identities(tmp_path):
    config, out = write_config(tmp_path), tmp_path / "old"
    run(config, out)
    held = snapshot(out)
    run(config, out)
    assert last_run(out)["tasks_to_run"] == 0
    def results(files: dict) -> dict:  # config.yaml, the tables and the parts (not the run's own records)
        return {k: v for k, v in files.items() if k != "manifest.json" and not k.startswith(".")}

    assert results(snapshot(out)) == results(held) and "config.yaml" in results(held)
    experiment = get_experiment("linear")
    base = load_sweep_config(config)
    inputs = experiment.task_inputs(base)
    assert inputs["trials"] == 12 and not {"more_trials", "earlier_trials"} & set(inputs)  # as memgen always hashed
    grown = experiment.grown_config(base, load_sweep_config(config, ["trials=30", "more_trials=[{n: 4, trials: 50}]"]))
    assert grown.earlier_trials and experiment.task_inputs(grown) == inputs  # round 1's parts keep their identity


@pytest.mark.parametrize(("override", "fragments"), [
    ("more_trials=[{n: 5, trials: 30}]", ["--set: more_trials[0].n: 5 is not a value of the grid's n"]),
    ("more_trials=[{trials: 30}]", ["--set: more_trials[0]: name the cells it chooses"]),
    ("more_trials=[{n: 12, trials: 12}]", ["--set: more_trials[0].trials: 12 is not more than trials (12)"]),
    ("more_trials=[{n: 12}]", ["more_trials[0].trials: required field is missing"]),
    ("more_trials=[{n: 12, trials: 1e9}]", ["3 cells x 1000000000 trials", "MEMGEN_MAX_TRIALS"]),
    ("earlier_trials=[{trials: 40}]", ["trials: every cell would run 12 trials, fewer than the 40 of earlier"]),
])
def test_a_bad_trial_plan_is_one_line_naming_the_field(override, fragments, tmp_path):
    assert_one_line_error(invoke("sweep", "linear", write_config(tmp_path), "--set", override, "--dry-run"),
                          *fragments)


def test_locate_refuses_a_sweeps_trial_plan(tmp_path):
    path = write_config(tmp_path)
    path.write_text(path.read_text() + "locate: {batch: 12, max_trials: 24}\n")
    assert_one_line_error(invoke("locate", "linear", path, "--set", "more_trials=[{n: 32, trials: 30}]", "--dry-run"),
                          "--set: more_trials: a sweep's setting; memgen locate gives every point its trials")
