"""The one exception type for bad user input.

The CLI prints a `PlannerError` as one line on stderr and exits with code 2; the UI shows it as
a message. Everything else that goes wrong is a bug and keeps its traceback.
"""


class PlannerError(ValueError):
    """A user-facing error: names the bad value and what is allowed."""


def validation_line(exc) -> str:
    """The first error of a pydantic `ValidationError` as `field.path: message` on one line."""
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "input"
    msg = str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return f"{field}: {msg}".splitlines()[0]


def option_error(exc, prefix: str = "--") -> PlannerError:
    """A pydantic `ValidationError` of options as one line naming the option and its value:
    `--max-batch-size 0: input should be greater than or equal to 1`."""
    err = exc.errors()[0]
    return PlannerError(f"{prefix}{str(err['loc'][0]).replace('_', '-')} {err.get('input')!r}: {err['msg'].lower()}")
