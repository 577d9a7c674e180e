"""`memgen analyze` and ``load_results``: the tables computed from a results folder (transitions, memorization,
criteria, training times, a locate folder's power laws). Imports no matplotlib and nothing from figures/ or page/."""
