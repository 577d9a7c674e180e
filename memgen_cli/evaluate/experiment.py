"""`memgen evaluate` as an experiment of the runner: one cell per (samples, training set) pair, one scoring each.

Going through the runner gives a researcher's samples what memgen's own models have: a results folder with its
config, manifest and checksummed parts, resume after a crash, summary.csv with intervals, and `memgen analyze`,
`plot`, `report` and ``load_results`` unchanged.
"""

from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path

from memgen_cli.errors import MemgenError
from memgen_cli.experiment import Experiment, Footprint

from .cell import BINARY, COLUMNS, MEANS
from .params import EvaluateConfig, EvaluatePair, pair_key

FILE_COLUMNS = ("samples_sha256", "train_sha256", "samples_scale", "train_scale", "seconds")


@lru_cache(maxsize=64)
def _file_digest(path: str, size: int, mtime: float) -> str:
    from .inputs import sha256_of

    return sha256_of(path)


def file_digest(path: str) -> str:
    """sha256 of a set's file(s), cached while the file is unchanged (size and modification time)."""
    from .inputs import split_path

    stat = split_path(path)[0].stat()
    return _file_digest(path, stat.st_size, stat.st_mtime)


class EvaluateExperiment(Experiment):
    model = "evaluate"
    title = "Your samples"
    config_class = EvaluateConfig
    binary_metrics = BINARY
    mean_metrics = MEANS
    not_inputs = ("output",)

    def trial_count(self, config: EvaluateConfig) -> int:
        return 1

    def cells(self, config: EvaluateConfig) -> list[dict]:
        return [pair_key(pair, self._n(config, pair)) for pair in config.pairs]

    def columns(self, config: EvaluateConfig) -> tuple[str, ...]:
        return COLUMNS + FILE_COLUMNS

    def _n(self, config: EvaluateConfig, pair: EvaluatePair) -> int:
        if pair.n is not None:
            return pair.n
        from .inputs import load_set

        return len(load_set(f"pairs[{config.pairs.index(pair)}].train", pair.train, config.features).values)

    def check(self, config: EvaluateConfig) -> None:
        """Every set read and checked before any folder is made: one line naming the file and the problem."""
        from .inputs import exact_overlap, load_set, same_shape

        first = None
        heldout = load_set("heldout", config.heldout, config.features) if config.heldout else None
        seen: dict[tuple, int] = {}
        for index, pair in enumerate(config.pairs):
            for name in ("samples", "train", "samples_b"):
                path = getattr(pair, name)
                if path is None:
                    continue
                field = f"pairs[{index}].{name}"
                loaded = load_set(field, path, config.features)
                if first is None:
                    first = (field, path, loaded)
                same_shape(first, (field, path, loaded))
            train = load_set(f"pairs[{index}].train", pair.train, config.features)
            if len(train.values) < 2:
                raise MemgenError(f"pairs[{index}].train: {pair.train}: the nearest-neighbour ratio needs at least 2 "
                                  f"training items (got {len(train.values)})")
            if pair.samples_b is not None:
                a, b = (len(load_set(f"pairs[{index}].{k}", getattr(pair, k), config.features).values)
                        for k in ("samples", "samples_b"))
                if a != b:
                    raise MemgenError(f"pairs[{index}].samples_b: {pair.samples_b}: {b} samples, but samples has {a}; "
                                      "they are paired by index")
            if heldout is not None:
                same_shape(first, ("heldout", config.heldout, heldout))
                if overlap := exact_overlap(train.values, heldout.values):
                    (t, h) = overlap[0]
                    raise MemgenError(f"heldout: {config.heldout}: {len(overlap)} item(s) are exact copies of "
                                      f"training items of pairs[{index}].train (e.g. held-out item {h} = training "
                                      f"item {t}); a held-out set must not overlap the training set")
            key = tuple(sorted(pair_key(pair, self._n(config, pair)).items()))
            if key in seen:
                raise MemgenError(f"pairs[{index}]: the same cell ({', '.join(f'{k} = {v}' for k, v in key)}) as "
                                  f"pairs[{seen[key]}]; give each pair its own n, step or series")
            seen[key] = index
        if heldout is not None and config.evaluation.references and len(heldout.values) < 4:
            raise MemgenError(f"heldout: {config.heldout}: {len(heldout.values)} items; the ideal generalizer and "
                              "the original set need at least 4")

    def task_inputs(self, config: EvaluateConfig) -> dict:
        """The settings, and every input file by its content: a part is reused only for the same files."""
        data = super().task_inputs(config)
        data["pairs"] = [{**pair.model_dump(), **{f"{k}_sha256": file_digest(getattr(pair, k))
                                                  for k in ("samples", "train", "samples_b") if getattr(pair, k)}}
                         for pair in config.pairs]
        if config.heldout:
            data["heldout_sha256"] = file_digest(config.heldout)
        return data

    def task_config(self, config: dict, out: Path | None) -> dict:
        """Tasks write each cell's tables and figures under <results folder>/evaluate (nowhere without a folder)."""
        from memgen_cli.results_format import EVALUATE_DIR

        if out is None:
            return config
        return {**config, "output": {"dir": str(Path(out) / EVALUATE_DIR)}}

    def footprint(self, config: EvaluateConfig) -> list[Footprint]:
        """Memory: every set of a cell as float64 twice (as read and as searched); work: the neighbour search."""
        from .inputs import stored_bytes

        found = []
        for index, pair in enumerate(config.pairs):
            sizes = {name: stored_bytes(getattr(pair, name)) for name in ("samples", "train")}
            held = stored_bytes(config.heldout) if config.heldout else 0
            found.append(Footprint(f"pairs[{index}].train", 2.0 * (sizes["samples"] + sizes["train"] + held), 0.0))
        return found

    @staticmethod
    def _search():
        """On a cluster (--executor dask), the training set split across its workers, each searching its shard and
        returning its top k (merged here; the same numbers); elsewhere one search in this process."""
        from memgen_cli.experiment import worker_map

        from .neighbours import nearest, sharded_nearest

        found = worker_map()
        if found is None or found[1] < 2:
            return nearest
        map_fn, workers = found
        return lambda *args, **kwargs: sharded_nearest(*args, shards=workers, map_fn=map_fn, **kwargs)

    def run_task(self, config: EvaluateConfig, cell: dict, trials: list[tuple[int, int]]) -> list[dict]:
        from memgen_cli.seeding import cell_id

        from .cell import score_cell
        from .inputs import load_set
        from .outputs import write_cell_outputs

        index = next(i for i, p in enumerate(config.pairs) if pair_key(p, self._n(config, p)) == cell)
        pair, start = config.pairs[index], time.perf_counter()
        samples, train, second = (load_set(f"pairs[{index}].{name}", getattr(pair, name), config.features)
                                  if getattr(pair, name) else None for name in ("samples", "train", "samples_b"))
        heldout = load_set("heldout", config.heldout, config.features) if config.heldout else None
        [(_, seed)] = trials
        found = score_cell(samples.flat, train.flat, None if heldout is None else heldout.flat, config.evaluation,
                           config.distance, seed, None if second is None else second.flat, search=self._search())
        if config.output.dir:
            write_cell_outputs(Path(config.output.dir) / cell_id(self.model, cell), found, samples, train,
                               None if config.features else config.evaluation.gallery)
        return [{**found.row, "samples_sha256": samples.sha256, "train_sha256": train.sha256,
                 "samples_scale": samples.scale, "train_scale": train.scale,
                 "seconds": time.perf_counter() - start}]
