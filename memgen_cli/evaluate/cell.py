"""One cell of `memgen evaluate`: a model's samples scored against its training set, beside an ideal generalizer
(held-out images) and an ideal memorizer (training images), all by the same code. Arrays in, numbers out.

Randomness (the bootstrap, the references' subsamples, the KDE caps) comes from the cell's seed through one
generator per purpose (``seeding.derived_seed``), so adding the references or the KDE never moves the samples'
own numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from memgen_cli.evaluate import neighbours as nb
from memgen_cli.evaluate import scores
from memgen_cli.evaluate.params import EvaluateSettings
from memgen_cli.imaging.metrics import MEMORIZATION_RATIO
from memgen_cli.imaging.reproducibility import reproducibility, typical_distance
from memgen_cli.seeding import derived_seed

REFERENCES = ("generalizer", "memorizer")
SETS = ("samples",) + REFERENCES
COLUMNS = (
    "generated", "n_train_used", "train_duplicates", "memorized_fraction", "memorized_lo", "memorized_hi",
    "nn_ratio_mean", "nn_ratio_median", "calibrated_distance_median", "generalizer_memorized_fraction",
    "generalizer_memorized_lo", "generalizer_memorized_hi", "memorizer_memorized_fraction", "memorizer_memorized_lo",
    "memorizer_memorized_hi", "reference_count", "delta_positive", "delta_positive_resampled", "log_E_TG", "log_E_OG",
    "delta_sign", "log_abs_delta", "generalizer_delta_positive", "memorizer_delta_positive", "kernel_width",
    "reproduced_fraction", "reproduced_lo", "reproduced_hi", "paired_distance", "paired_median_distance",
)
BINARY = ("delta_positive", "generalizer_delta_positive", "memorizer_delta_positive")
MEANS = ("memorized_fraction", "generalizer_memorized_fraction", "memorizer_memorized_fraction", "nn_ratio_mean",
         "calibrated_distance_median", "delta_positive_resampled", "reproduced_fraction", "paired_distance")


@dataclass
class CellScores:
    row: dict  # COLUMNS
    neighbours: dict[str, tuple[np.ndarray, np.ndarray]]  # set -> (indices (m, k), distances (m, k)), train rows kept
    ratios: dict[str, np.ndarray] = field(default_factory=dict)  # set -> NN1/NN2 ratio per item
    calibrated: dict[str, np.ndarray] = field(default_factory=dict)
    curves: list[dict] = field(default_factory=list)  # the threshold curve of each set
    duplicate_pairs: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))
    kept: np.ndarray | None = None  # training rows scored against (None: all)


def _nan_row() -> dict:
    return dict.fromkeys(COLUMNS, float("nan"))


def reference_sets(train: np.ndarray, heldout: np.ndarray | None, count: int, seed: int
                   ) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """The references' items (each ``count``, the generalizer at most half the held-out set) and the held-out
    rows left as the original set of Δ (None: no held-out set)."""
    rng = np.random.default_rng(derived_seed(seed, "references"))
    out = {"memorizer": train[rng.choice(len(train), size=count, replace=len(train) < count)]}
    if heldout is None:
        return out, None
    take = min(count, len(heldout) // 2)
    order = rng.permutation(len(heldout))
    out["generalizer"] = heldout[order[:take]]
    return out, heldout[np.sort(order[take:])]


def _capped(x: np.ndarray, cap: int, rng: np.random.Generator) -> np.ndarray:
    return x if len(x) <= cap else x[np.sort(rng.choice(len(x), size=cap, replace=False))]


def score_cell(samples: np.ndarray, train: np.ndarray, heldout: np.ndarray | None, settings: EvaluateSettings,
               distance: str, seed: int, samples_b: np.ndarray | None = None, search=None) -> CellScores:
    """Every column of one cell; arrays (count, D) on one scale. ``search``: None, one search in this process over
    the training set prepared once for the samples and both references; or a sharded search (nb.sharded_nearest on
    a cluster's workers) that gives the same result."""
    budget = settings.memory_mb * 1e6
    row = _nan_row()
    kept, pairs = None, np.zeros((0, 2), dtype=np.int64)
    if settings.drop_duplicates and len(train) >= 3:
        idx, dist = nb.nearest(train, train, 2, distance, exclude_self=True, budget_bytes=budget)
        pairs = nb.near_duplicate_pairs(idx, dist, MEMORIZATION_RATIO)
        drop = nb.duplicates_to_drop(pairs)
        if len(drop) and len(train) - len(drop) >= 2:  # never below the two images the ratio needs
            kept = np.setdiff1d(np.arange(len(train)), drop)
    scored_train = train if kept is None else train[kept]
    k = min(len(scored_train), max(settings.neighbours, settings.calibration_neighbours))
    sets = {"samples": samples}
    originals = None
    if settings.references:
        refs, originals = reference_sets(scored_train, heldout, len(samples), seed)
        sets.update(refs)
    elif heldout is not None:
        originals = heldout
    found = CellScores(row, {}, kept=kept, duplicate_pairs=pairs)
    prepared_train = nb.SearchBase(scored_train, distance) if search is None else None
    boot_rng = np.random.default_rng(derived_seed(seed, "bootstrap"))
    for name, items in sets.items():
        if search is None:
            idx, dist = nb.nearest(items, prepared_train, k, budget_bytes=budget)
        else:
            idx, dist = search(items, scored_train, k, distance, budget_bytes=budget)
        ratio, calibrated = nb.ratios(dist), nb.calibrated_distances(dist[:, :settings.calibration_neighbours])
        rows = scores.bootstrap_rows(boot_rng, len(items), settings.bootstrap)
        fraction, lo, hi = scores.fraction_below(ratio, MEMORIZATION_RATIO, rows)
        prefix = "" if name == "samples" else f"{name}_"
        row.update({f"{prefix}memorized_fraction": fraction, f"{prefix}memorized_lo": lo, f"{prefix}memorized_hi": hi})
        found.neighbours[name] = (idx if kept is None else kept[idx], dist)
        found.ratios[name], found.calibrated[name] = ratio, calibrated
        found.curves += [{"set": name, **point} for point in scores.threshold_curve(ratio, rows)]
    row.update(generated=len(samples), n_train_used=len(scored_train), train_duplicates=len(pairs),
               nn_ratio_mean=float(found.ratios["samples"].mean()),
               nn_ratio_median=float(np.median(found.ratios["samples"])),
               calibrated_distance_median=float(np.median(found.calibrated["samples"])),
               reference_count=len(sets.get("generalizer", ())) if settings.references else 0)
    if originals is not None and len(originals) >= 2:
        row.update(_delta_columns(sets, scored_train, originals, settings, seed))
    if samples_b is not None:
        pair_rng = np.random.default_rng(derived_seed(seed, "pairs"))
        found_pair = reproducibility(samples, samples_b, typical_distance(heldout if heldout is not None else train),
                                     rng=pair_rng, resamples=settings.bootstrap)
        row.update(reproduced_fraction=found_pair["same_fraction"], reproduced_lo=found_pair["same_lo"],
                   reproduced_hi=found_pair["same_hi"], paired_distance=found_pair["mean_sq_relative_distance"],
                   paired_median_distance=found_pair["median_relative_distance"])
    return found


def _delta_columns(sets: dict[str, np.ndarray], train: np.ndarray, originals: np.ndarray,
                   settings: EvaluateSettings, seed: int) -> dict:
    """The paper's Δ with one common kernel width, for the samples (with P(Δ > 0) over resamples) and the
    references."""
    cap_rng = np.random.default_rng(derived_seed(seed, "kde"))
    t, o = _capped(train, settings.kde_max_points, cap_rng), _capped(originals, settings.kde_max_points, cap_rng)
    samples = _capped(sets["samples"], settings.kde_max_points, cap_rng)
    sigma = float(train.std())
    eps = scores.common_width(sigma if sigma > 0 else 1.0, len(samples), train.shape[1])
    rows = scores.bootstrap_rows(np.random.default_rng(derived_seed(seed, "delta")), len(samples),
                                 settings.bootstrap)
    found = scores.kde_delta(samples, t, o, eps, rows)
    out = {key: found[key] for key in ("delta_positive", "delta_positive_resampled", "log_E_TG", "log_E_OG",
                                       "delta_sign", "log_abs_delta")}
    out["kernel_width"] = eps
    for name in REFERENCES:
        if name in sets:
            out[f"{name}_delta_positive"] = scores.kde_delta(_capped(sets[name], settings.kde_max_points, cap_rng),
                                                             t, o, eps, self_terms=found["self_terms"])[
                                                                 "delta_positive"]
    return out
