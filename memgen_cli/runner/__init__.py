"""Running sweeps: configs, seeds, planning cells into tasks, executors (local, Dask, SLURM) and the
results folder. Knows nothing of the science: experiments plug in through ``plan.EXPERIMENTS``."""
