"""Every shipped config is a valid sweep: the examples are under test too."""

import re
from pathlib import Path

import pytest
import yaml

from memgen_cli.locate.setup import load_locate_config
from memgen_cli.runner.plan import plan_tasks
from memgen_cli.runner.registry import get_experiment
from memgen_cli.runner.sweep import load_sweep_config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").rglob("*.yaml"))
NAMED_IN = [ROOT / "README.md", ROOT / "Makefile", *sorted((ROOT / "docs").glob("*.md"))]


def test_every_config_the_docs_name_exists_and_every_shipped_config_is_named():
    text = "\n".join(path.read_text() for path in NAMED_IN)
    named = set(re.findall(r"configs/[\w/.-]+?\.yaml", text))
    for names in re.findall(r"^(?:PAPER_LINEAR|ABLATIONS) := (.*)$", text, flags=re.M):  # make reproduce's
        named |= {f"configs/paper/{stem}.yaml" for stem in names.split()}
    missing = sorted(name for name in named if not (ROOT / name).is_file())
    assert not missing, f"configs named in the docs but not shipped: {missing}"
    shipped = {path.relative_to(ROOT).as_posix() for path in CONFIGS}
    quick = {name.replace(".yaml", "-quick.yaml") for name in named}  # `make reproduce-quick` runs the -quick ones
    unnamed = sorted(shipped - named - quick)
    assert not unnamed, f"shipped configs that no doc or make target names: {unnamed}"


def is_locate_config(path: Path) -> bool:
    return "locate" in (yaml.safe_load(path.read_text()) or {})


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_shipped_config_validates_and_plans(path):
    if is_locate_config(path):  # a `memgen locate` preset: its combinations and their scans
        setup = load_locate_config(path)
        assert setup.combinations and all(len(scan) >= 2 and scan == sorted(scan) for scan in setup.scans)
        return
    config = load_sweep_config(path)
    tasks = plan_tasks(get_experiment(config.model), config)
    assert tasks and len({t.key for t in tasks}) == len(tasks)
    assert sum(len(t.trials) for t in tasks) == len(get_experiment(config.model).cells(config)) * \
        get_experiment(config.model).trial_count(config)


def test_the_nstar_vs_d_preset_validates_with_n_growing_with_d():
    path = Path(__file__).resolve().parents[1] / "configs" / "paper" / "nstar-vs-d.yaml"
    assert is_locate_config(path)
    setup = load_locate_config(path)
    assert {c["covariance"] for c in setup.combinations} == {"BBt", "BtB"}
    assert sorted({c["d"] for c in setup.combinations}) == [4, 8, 16, 32, 64, 128, 256]
    for cell, scan in zip(setup.combinations, setup.scans):
        assert cell["N"] >= max(10_000, 100 * cell["d"])  # the crossing (a few d) lies well below N
        assert scan[-1] <= 32 * cell["d"] and scan[-1] < cell["N"]
    # the paper's settings otherwise
    paper = load_sweep_config(path.parent / "fig2-3-d16.yaml")
    assert setup.config.data == paper.data and setup.config.grid.lambda_ == paper.grid.lambda_
    assert setup.config.grid.T == paper.grid.T and setup.config.options.bandwidth == paper.options.bandwidth
    assert all(is_locate_config(p) for p in CONFIGS if p.stem == "nstar-vs-d")


def test_quick_variants_keep_the_published_settings():
    for full in (p for p in CONFIGS if p.parent.name == "paper" and (p.parent / f"{p.stem}-quick.yaml").exists()):
        a = load_sweep_config(full)
        b = load_sweep_config(full.parent / f"{full.stem}-quick.yaml")
        dump_a, dump_b = a.model_dump(), b.model_dump()
        for key in ("grid", "trials", "simulations"):
            dump_a.pop(key, None), dump_b.pop(key, None)
        assert dump_a == dump_b, full.name
