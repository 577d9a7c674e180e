"""`memgen locate`: a sequential search for n*, where P(Δ > 0) first crosses 0.5 (docs/analysis.md).

search.py holds the math (pure), setup.py the config, run.py the rounds; the phase diagram drawn from
nstar.csv is memgen_cli.report.figure_phase.
"""

NSTAR_FILE = "nstar.csv"  # one row per combination: n* and its interval, status, trials used
POINTS_FILE = "points.csv"  # one row per combination and n: trials pooled over batches, P, Wilson interval
