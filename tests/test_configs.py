"""Every shipped config is a valid sweep: the examples are under test too."""

from pathlib import Path

import pytest

from memgen_cli.runner.plan import get_experiment, plan_tasks
from memgen_cli.runner.sweep import load_sweep_config

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").rglob("*.yaml"))


def test_there_are_configs():
    assert len(CONFIGS) >= 10


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_shipped_config_validates_and_plans(path):
    config = load_sweep_config(path)
    tasks = plan_tasks(get_experiment(config.model), config)
    assert tasks and len({t.key for t in tasks}) == len(tasks)


def test_quick_variants_keep_the_published_settings():
    for full in (p for p in CONFIGS if p.parent.name == "paper" and (p.parent / f"{p.stem}-quick.yaml").exists()):
        a = load_sweep_config(full)
        b = load_sweep_config(full.parent / f"{full.stem}-quick.yaml")
        dump_a, dump_b = a.model_dump(), b.model_dump()
        for key in ("grid", "trials", "simulations"):
            dump_a.pop(key, None), dump_b.pop(key, None)
        assert dump_a == dump_b, full.name
