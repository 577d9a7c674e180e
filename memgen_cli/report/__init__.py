"""Reading finished results folders: statistics, the transition analysis and the figures.
Never recomputes a sweep.

Imports point down: reader.py and caption.py (the folder's tables and run, shared) -> analysis/ (computes the
tables; never matplotlib) -> figures/ (draws what the analysis wrote) -> page/ (the HTML report, from both)."""
