"""Two reference models in every simulation, measured by exactly the model's metrics, subsets and widths (issue 22).

A transition read off a metric means something only at the n where that metric can tell a model that generalizes
from one that copies. So each simulation also measures, against the same prepared training and original sets
(``evaluation.prepare``), M images of

- an *ideal generalizer*: new draws from the data distribution (gaussian, gmm), or, for a finite set of images
  (digits, images), M held-out images outside the training set and outside the *evaluated* original subset;
- an *ideal memorizer*: M images of the training set (all of it, whatever subset is evaluated), without
  replacement when n >= M.

Neither needs training. Their images come from their own seed (``reference_seed``), never from the simulation's
generator, so no number of the model moves. docs/unet.md, "Reference models", says what they show.
"""

from __future__ import annotations

import time
from types import ModuleType

import numpy as np

from memgen_cli.errors import MemgenError
from memgen_cli.imaging import data as data_mod
from memgen_cli.imaging.evaluation import EvaluationSets, ImageEvaluation, measure
from memgen_cli.seeding import derived_seed

REFERENCES = ("generalizer", "memorizer")
MEASURED = ("delta_positive", "delta_positive_exact", "delta_positive_kde", "memorized_fraction")
REFERENCE_BINARY = tuple(f"{r}_{m}" for r in REFERENCES for m in MEASURED if m != "memorized_fraction")
REFERENCE_MEAN = tuple(f"{r}_memorized_fraction" for r in REFERENCES) + ("reference_seconds",)
# The columns ``evaluate_references`` returns, in order (after the model's).
REFERENCE_COLUMNS = tuple(f"{r}_{m}" for r in REFERENCES for m in MEASURED) + ("reference_seconds",)
DRAWN_FAMILIES = ("gaussian", "gmm")


def reference_seed(seed: int) -> int:
    """The references' seed, derived from the simulation's: the simulation's own generator is left as it was."""
    return derived_seed(seed, "references")


def held_out_problem(data: data_mod.ImageData, evaluation: ImageEvaluation, originals: int, generated: int
                     ) -> str | None:
    """Why a finite image set cannot give the ideal generalizer its M held-out images (None: it can)."""
    if not evaluation.references or data.family in DRAWN_FAMILIES:
        return None
    evaluated = originals if evaluation.eval_original is None else min(evaluation.eval_original, originals)
    spare = originals - evaluated
    if spare >= generated:
        return None
    left = "every one of them is evaluated" if spare == 0 else f"only {spare} are not evaluated"
    return (f"evaluation.references: the ideal generalizer needs {generated} held-out images outside the training "
            f"set and the evaluated original subset; of the {originals} original images {left}: set "
            f"evaluation.eval_original to at most {originals - generated}, or evaluation.references: false")


def reference_images(data: data_mod.ImageData, sets: EvaluationSets, rng: np.random.Generator
                     ) -> dict[str, np.ndarray]:
    """The generalizer's and the memorizer's M images, drawn from ``rng`` in that order."""
    split, count = sets.split, sets.generated
    if data.family in DRAWN_FAMILIES:
        generalizer = data_mod.draw_fresh(data, count, split.train.shape[1], rng)
    else:
        evaluated = np.zeros(split.original.shape[0], dtype=bool)
        evaluated[slice(None) if sets.original_rows is None else sets.original_rows] = True
        spare = np.flatnonzero(~evaluated)
        if len(spare) < count:  # check() refuses such a config before any work; this is a last guard
            raise MemgenError(held_out_problem(data, sets.evaluation, len(evaluated), count) or "too few images")
        generalizer = split.original[rng.choice(spare, size=count, replace=False)]
    n = split.train.shape[0]
    memorizer = split.train[rng.choice(n, size=count, replace=n < count)]
    return {"generalizer": generalizer, "memorizer": memorizer}


def evaluate_references(data: data_mod.ImageData, sets: EvaluationSets, seed: int, device: str = "cpu",
                        device_metrics: ModuleType | None = None) -> dict:
    """The references' columns: each measured by ``evaluation.measure`` against the model's prepared sets (only
    its own terms are computed: the training and original sides are shared), and the seconds they took."""
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    row = {}
    for name, images in reference_images(data, sets, rng).items():
        measured = measure(images, sets, rng, device, device_metrics)
        row.update({f"{name}_{metric}": measured[metric] for metric in MEASURED})
    return {**row, "reference_seconds": time.perf_counter() - start}
