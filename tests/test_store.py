"""The runner's store (runner/store.py): a results folder and memory behind one interface, so the run's steps
never ask which they have. What one store keeps, a later run reads back from it as the other hands it over."""

import pandas as pd

from memgen_cli.config import config_to_dict
from memgen_cli.runner.plan import execute_task, plan_tasks
from memgen_cli.runner.registry import get_experiment
from memgen_cli.runner.store import FolderStore, MemoryStore, store_for
from memgen_cli.runner.sweep import load_sweep_config, part_schema


def opened(store, config, experiment, tasks):
    store.open(config_to_dict(config), force=False, experiment=experiment, typed_config=config, tasks=tasks)
    return store


def test_a_folder_store_gives_back_what_it_kept_and_memory_keeps_nothing(small_config, tmp_path):
    config = load_sweep_config(small_config, ["trials=4", "grid.n=[8]"])
    experiment = get_experiment("linear")
    schema, tasks = part_schema(experiment, config), plan_tasks(experiment, config)
    notes = []
    assert isinstance(store_for(None, schema, notes.append), MemoryStore)
    first = opened(store_for(tmp_path / "out", schema, notes.append), config, experiment, tasks)
    assert isinstance(first, FolderStore) and first.finished(tasks, False) == ({}, {})
    memory = opened(MemoryStore(), config, experiment, tasks)
    try:
        first.begin({"tasks_to_run": len(tasks)})
        rows = {}
        for task in tasks:
            computed = pd.DataFrame(execute_task((config.model, config_to_dict(config), task)))
            rows[task.key], none = first.keep(task, computed, None)
            assert none is None and memory.keep(task, computed, None)[0] is computed  # memory: as it is
            pd.testing.assert_frame_equal(rows[task.key], computed, check_dtype=False)
    finally:
        first.close()
    again = opened(FolderStore(tmp_path / "out", schema, notes.append), config, experiment, tasks)
    try:
        frames, curves = again.finished(tasks, False)
        assert list(frames) == list(rows) and curves == {}
        for key, frame in frames.items():
            pd.testing.assert_frame_equal(frame, rows[key])  # as keep said a later run would read it
        assert again.retry_scope([]) == [] and memory.retry_scope(tasks) == tasks
    finally:
        again.close()
    assert memory.finished(tasks, False) == ({}, {}) and notes == []
