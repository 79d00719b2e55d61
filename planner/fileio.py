"""File reading and writing with one-line errors: writes are atomic (a report or profile is
either complete on disk or not there at all); reads name the file and what went wrong."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from .errors import PlannerError


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write `text` to `path` through a temporary file in the same folder and an atomic rename."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` atomically, with the permissions a plain write would give (umask)."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise PlannerError(f"{path}: folder {folder} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise PlannerError(f"{path}: cannot write in {folder} ({exc.strerror})") from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_text(path: str | Path, what: str = "file") -> str:
    """The UTF-8 text of a file, or a one-line `PlannerError` naming it."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlannerError(f"{path}: no such {what}") from None
    except OSError as exc:
        raise PlannerError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise PlannerError(f"{path}: not UTF-8 text ({exc.reason})") from None


def json_lines(path: str | Path, text: str):
    """`(line number, object)` for each non-blank line of a JSON-lines text; a line that is not a
    JSON object is an error naming the file and the line."""
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise PlannerError(f"{path}: line {lineno}: not a JSON object ({exc.msg}); the file may be truncated") from None
        except RecursionError:
            raise PlannerError(f"{path}: line {lineno}: JSON nested too deeply") from None
        if not isinstance(row, dict):
            raise PlannerError(f"{path}: line {lineno}: expected a JSON object per line")
        yield lineno, row


def read_json(path: str | Path, what: str):
    """The JSON value in `path`; a missing, unreadable, non-UTF-8, malformed or too deeply nested
    file is a one-line `PlannerError` naming the file and `what` it should have been."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise PlannerError(f"{path}: no such {what}") from None
    except OSError as exc:
        raise PlannerError(f"{path}: cannot read the {what} ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise PlannerError(f"{path}: a {what} is UTF-8 JSON text; this file is not") from None
    except json.JSONDecodeError as exc:
        raise PlannerError(f"{path}: malformed {what} JSON at line {exc.lineno}: {exc.msg}") from None
    except RecursionError:
        raise PlannerError(f"{path}: {what} JSON nested too deeply") from None
