"""`memgen analyze` on U-Net results: the memorized fraction's table (memorization.csv), printed.

Called by ``cli.report.analyze`` after the transitions table; does nothing for a folder without a
memorized fraction (the linear model).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table


def _n(value: float) -> str:
    if not np.isfinite(value):
        return "∞" if value == np.inf else "–"
    return "<n_min" if value == 0 else (f"{value:.0f}" if value >= 100 else f"{value:.3g}")


def _estimate(row: dict, name: str) -> str:
    status = row.get(f"{name}_status", "")
    if status != "crossed":
        return escape(str(status)) if isinstance(status, str) else "–"
    return f"{_n(row[name])} [{_n(row[name + '_lo'])}, {_n(row[name + '_hi'])}]"


def analyze_memorization(results_dir: Path, out: Path | None, align_factor: float, n_boot: int, seed: int,
                         console: Console) -> None:
    """Write memorization.csv beside transitions.csv and print its rows (U-Net folders only)."""
    from memgen_cli.report.memorization import (MEMORIZED, has_memorization, memorization_table,
                                                    write_memorization)
    from memgen_cli.report.reader import read_results

    results = read_results(results_dir)
    if not has_memorization(results):
        return
    if results.trials is None or MEMORIZED not in results.trials.columns:
        console.print(f"[yellow]note:[/] no memorization.csv: its intervals resample simulations, and {results_dir} "
                      "has no trials.csv with a memorized_fraction column", highlight=False)
        return
    table = memorization_table(results, align_factor, n_boot, seed)
    path = write_memorization(table, out if out is not None else results_dir)
    rich_table = Table(
        title=f"Memorized fraction (NN1/NN2 < 1/3) against P(Δ>0) (same n: n*/n_mem within ×{align_factor:g})",
        caption="intervals: 95% bootstrap over simulations, then samples within them. memorization.csv holds "
                "every column.",
    )
    for column in ("group", "n_mem [95% CI]", "window 0.9 → 0.1", "n* [95% CI]", "n*/n_mem", "verdict",
                   "n* exact, KDE"):
        rich_table.add_column(column, justify="left" if column in ("group", "verdict") else "right")
    for row in table.groups.to_dict("records"):
        window = f"{_estimate(row, 'window_start')} → {_estimate(row, 'window_end')}"
        ratio = (f"{row['ratio']:.3g} [{_n(row['ratio_lo'])}, {_n(row['ratio_hi'])}]"
                 if np.isfinite(row.get("ratio", np.nan)) else "–")
        colour = {"same n": "green", "different n": "red"}.get(row["verdict"], "yellow")
        verdict = f"[{colour}]{row['verdict']}[/]" + (
            f" ({escape(row['verdict_reason'])})" if row["verdict"] == "undetermined" else "")
        others = ", ".join(_estimate(row, f"n_star{suffix}") for suffix in ("_exact", "_kde")
                           if f"n_star{suffix}_status" in row)
        rich_table.add_row(escape(str(row["group"])), _estimate(row, "n_mem"), window, _estimate(row, "n_star"),
                           ratio, verdict, others or "–")
    console.print(rich_table)
    console.print(f"wrote {path}", highlight=False)
