"""Statistics shared by the runner (per-cell summaries), `memgen analyze` and `memgen locate` (crossings,
intervals, fits): pure functions of arrays and tables, below all three, so none of them imports another."""
