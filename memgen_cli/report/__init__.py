"""Reading finished results folders: statistics, the transition analysis and the figures.
Never recomputes a sweep."""
