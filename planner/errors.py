"""The one exception type for bad user input.

The CLI prints a `PlannerError` as one line on stderr and exits with code 2; the UI shows it as
a message. Everything else that goes wrong is a bug and keeps its traceback.
"""


class PlannerError(ValueError):
    """A user-facing error: names the bad value and what is allowed."""
