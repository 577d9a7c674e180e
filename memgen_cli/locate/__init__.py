"""`memgen locate`: a sequential search for n*, where P(Δ > 0) first crosses 0.5 (docs/analysis.md).

search.py holds the math (pure), setup.py the config, run.py the rounds; the phase diagram drawn from
nstar.csv is memgen_cli.report.figures.figure_phase.
"""
