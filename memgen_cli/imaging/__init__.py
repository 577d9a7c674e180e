"""What the image experiments (the U-Net, the closed-form model) share, without torch: the data families and
image files in [0, 1] pixel units, the distances between image sets and PNG grids."""
