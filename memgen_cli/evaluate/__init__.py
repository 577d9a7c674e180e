"""`memgen evaluate`: memorization verdicts for samples a researcher brings from a model of their own.

``inputs`` (files -> arrays on one scale, or one-line refusals), ``neighbours`` (exact k-nearest-neighbour search
and the 1/3 rule; numpy), ``scores`` (memorized fractions, the threshold curve, Δ with one kernel width; numpy),
``cell`` (one (samples, training set) pair with its references), ``params`` (the config), ``outputs`` (per-cell
tables and figures) and ``experiment`` (the runner's interface: folders, parts, resume, analyze, plot, report).
"""

# What `memgen sweep evaluate --help` shows, here so that the help imports no numerics.
DESCRIPTION = "Score samples of your own models against their training sets, with calibrated references."
OVERRIDE_EXAMPLES = ("evaluation.bootstrap=2000", "evaluation.drop_duplicates=false")
