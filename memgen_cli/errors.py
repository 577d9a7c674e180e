"""The one exception type that reaches the user as a single line."""


class MemgenError(Exception):
    """A problem the user can fix (bad config, bad folder, bad option).

    The CLI prints ``str(error)`` on one line and exits with code 2; no traceback.
    Messages name the field or path first: ``"grid.n: must be >= 2 (got 1)"``.
    """


class ResultsWriteError(MemgenError):
    """A file could not be written (disk full, read-only, quota): one line naming it; a sweep exits 1."""
