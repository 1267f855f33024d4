"""Files a command writes at its end, checked before it starts.

`test --junit PATH` runs every probe first and writes the report last: a path it
cannot write must be refused before the first probe (exit 2, nothing run), not
after minutes of work. The check creates nothing: the directory must exist and be
writable, and an existing PATH must be a writable regular file.
"""
from __future__ import annotations

import os

from ..errors import Refused, shown


def check_writable(path: str, what: str) -> None:
    """Refuse (InvalidParameterValue) a `path` that `what` could not be written to."""
    shown_path = shown(path)
    if os.path.isdir(path):
        raise Refused(f"cannot write {what} to {shown_path}: it is a directory", code="InvalidParameterValue")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise Refused(f"cannot write {what} to {shown_path}: no such directory {shown(parent)}",
                      code="InvalidParameterValue", hint="create the directory first, or choose another path")
    if os.path.exists(path):
        if not os.access(path, os.W_OK):
            raise Refused(f"cannot write {what} to {shown_path}: permission denied", code="InvalidParameterValue")
    elif not os.access(parent, os.W_OK | os.X_OK):
        raise Refused(f"cannot write {what} to {shown_path}: {shown(parent)} is not writable",
                      code="InvalidParameterValue")
