"""`memgen report`: a results folder on one self-contained HTML page, its tables and figures."""
