"""What the image experiments (the U-Net, the closed-form model) share, without torch: the data families and
image files in [0, 1] pixel units, the schedules and samplers in numpy, the distances between image sets and
their evaluation, PNG grids, and the config sections and cell rules built on them."""
