"""`memgen plot`: the figures drawn from what the analysis wrote, in one style. Imports nothing from page/."""
