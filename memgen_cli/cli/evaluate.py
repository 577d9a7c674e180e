"""`memgen evaluate`: one cell of a researcher's own samples, scored into a results folder, and its verdict.

Many cells (models at several n or checkpoints) are a config with ``model: evaluate``, run by `memgen sweep
evaluate CONFIG`; this command writes that config for one pair and runs it the same way.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from memgen_cli.cli.common import fail
from memgen_cli.errors import MemgenError, ResultsWriteError


class Distance(str, Enum):
    l2 = "l2"
    cosine = "cosine"


def evaluate(
    samples: Path = typer.Option(..., "--samples", "-s", metavar="PATH",
                                 help="Your model's samples: .npy/.npz array (N,H,W[,C]) or folder of PNG/JPEG."),
    train: Path = typer.Option(..., "--train", "-t", metavar="PATH", help="The training set, in the same format."),
    heldout: Optional[Path] = typer.Option(None, "--heldout", metavar="PATH",
                                           help="Held-out images of the same distribution: the ideal generalizer "
                                                "and the original set of Delta (without it: no verdict)."),
    samples_b: Optional[Path] = typer.Option(None, "--samples-b", metavar="PATH",
                                             help="A second model's samples from the same seeds (reproducibility)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", metavar="DIR",
                                       help="Results folder (default: results/evaluate-<samples name>)."),
    features: bool = typer.Option(False, "--features", help="The sets are embeddings (N, D), not pixels."),
    distance: Distance = typer.Option(Distance.l2, "--distance", help="l2, or cosine (features only)."),
    n: Optional[int] = typer.Option(None, "--n", min=2, help="Training-set size to record (default: its count)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seeds the bootstrap and the references' subsamples."),
    keep_duplicates: bool = typer.Option(False, "--keep-duplicates",
                                         help="Score against every training item, near-duplicates included."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved config, then exit."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or table (for scripts)."),
    force: bool = typer.Option(False, "--force", help="Replace results of a different config in the folder."),
) -> None:
    """Score your own model's samples against its training set, beside an ideal generalizer and memorizer."""
    from memgen_cli.config import config_to_dict, dump_yaml, validate_config
    from memgen_cli.evaluate.params import EvaluateConfig
    from memgen_cli.runner.limits import check_footprint
    from memgen_cli.runner.registry import get_experiment

    pair = {"samples": str(samples.resolve()), "train": str(train.resolve())}
    if n is not None:
        pair["n"] = n
    if samples_b is not None:
        pair["samples_b"] = str(samples_b.resolve())
    data = {"model": "evaluate", "seed": seed, "features": features, "distance": distance.value, "pairs": [pair],
            "evaluation": {"drop_duplicates": not keep_duplicates}}
    if heldout is not None:
        data["heldout"] = str(heldout.resolve())
    config = validate_config(EvaluateConfig, data, "memgen evaluate")
    experiment = get_experiment("evaluate")
    check_footprint(experiment, config, "memgen evaluate")  # from file sizes, before the files are read
    experiment.check(config)
    out = out if out is not None else Path("results") / f"evaluate-{samples.stem or 'samples'}"
    if dry_run:
        typer.echo(dump_yaml(config_to_dict(config)).rstrip())
        typer.echo(f"# 1 cell; output: {out}")
        return
    from memgen_cli.cli.sweep import _run_with_progress, interrupted

    try:
        result = _run_with_progress("evaluate", config, out, quiet, executor="serial", workers=None, force=force)
    except KeyboardInterrupt:
        interrupted(out, "work is")
    except ResultsWriteError as error:
        raise error
    if result.failed:
        first = result.failed[0]
        where = (f" (traceback: {out / first['log']})" if first.get("log") else
                 f" (this --force run wrote nothing: {out} keeps the results it was to replace)")
        fail(f"scoring failed: {first['error']}{where}", code=1)
    if not quiet:
        print_verdicts(result.trials, out)


def print_verdicts(trials, out: Path) -> None:
    """One row per cell: the memorized fraction beside its references, Delta, and the verdict."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from memgen_cli.evaluate.verdict import cell_verdict

    def interval(row, prefix: str) -> str:
        f = row.get(f"{prefix}memorized_fraction")
        if f is None or f != f:
            return "-"
        return f"{f:.2f} ({row[f'{prefix}memorized_lo']:.2f}-{row[f'{prefix}memorized_hi']:.2f})"

    table = Table(title="Memorized fraction (NN1/NN2 < 1/3), 95% intervals; verdicts below", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    keys = [k for k in ("series", "step", "n") if k in trials.columns]
    for name in (*keys, "samples", "generalizer", "memorizer", "P(Δ>0)", "note"):
        table.add_column(name, no_wrap=True)
    notes = []
    for number, row in enumerate(trials.to_dict("records"), start=1):
        verdict, reason = cell_verdict(row)
        notes.append(f"[{number}] {verdict}: {reason}; {int(row['train_duplicates'])} near-duplicate pair(s) in the "
                     "training set")
        p = row.get("delta_positive_resampled")
        table.add_row(*(str(row[k]) for k in keys), interval(row, ""), interval(row, "generalizer_"),
                      interval(row, "memorizer_"), "-" if p is None or p != p else f"{p:.2f}", f"[{number}]")
    console = Console(width=max(80, min(Console().width, 120)), soft_wrap=False)
    console.print(table)
    for line in notes:
        console.print(line, highlight=False, markup=False)
    console.print(f"per-sample tables and figures: {out}/evaluate/", highlight=False, markup=False)
    console.print(f"all on one page: memgen report {out}", highlight=False, markup=False)


__all__ = ["evaluate", "MemgenError"]
