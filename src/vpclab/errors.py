"""The one error tree of vpclab.

Every failure a user can cause or meet is a `VpclabError`. Each class carries the
exit code of CLI.md; `cli` is the only place that turns these into exit codes and
output. Lower layers raise, never print, never exit.

Exit codes (CLI.md): 1 expectations failed, 2 refused (bad topology, bad
arguments, a cloud rule), 3 environment, 4 the kernel refused something.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional


@dataclass(frozen=True)
class Problem:
    """One problem found in a topology file or a request: `FILE:LINE: CODE: message`."""

    code: str
    message: str
    file: Optional[str] = None
    line: Optional[int] = None
    hint: Optional[str] = None

    def __str__(self) -> str:
        where = ""
        if self.file is not None:  # a problem with the file as a whole (unreadable) has no line
            file = shown(self.file, 3 * SHOWN)
            where = f"{file}:{self.line}: " if self.line is not None else f"{file}: "
        text = f"{where}{self.code}: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text


class VpclabError(Exception):
    """Base of every error vpclab reports to a user."""

    exit_code = 2
    default_code = "Error"

    def __init__(self, message: str, code: Optional[str] = None, hint: Optional[str] = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.hint = hint

    def lines(self) -> List[str]:
        """The human form, one line per problem."""
        text = f"{self.code}: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return [text]

    def to_json(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "hint": self.hint}}


class Refused(VpclabError):
    """A cloud rule or a bad argument: nothing changed (exit 2)."""

    exit_code = 2
    default_code = "InvalidParameter"


class TopologyInvalid(Refused):
    """A topology file broke one or more rules; carries every problem found."""

    default_code = "TopologyInvalid"

    def __init__(self, problems: List[Problem], what: str = "the topology"):
        self.problems = list(problems)
        first = self.problems[0] if self.problems else Problem("TopologyInvalid", "invalid topology")
        super().__init__(
            f"{len(self.problems)} problem(s) in {what}" if len(self.problems) != 1 else first.message,
            code=first.code,
        )

    def lines(self) -> List[str]:
        return [str(p) for p in self.problems]

    def to_json(self) -> dict:
        first = self.problems[0]
        doc = super().to_json()
        doc["error"]["message"] = str(first) if len(self.problems) == 1 else self.message
        doc["error"]["problems"] = [
            {"file": p.file, "line": p.line, "code": p.code, "message": p.message, "hint": p.hint}
            for p in self.problems
        ]
        return doc


class NotFound(Refused):
    """An id, instance or lab that does not exist."""

    default_code = "ResourceNotFound"


class EnvironmentProblem(VpclabError):
    """Not root, or a kernel feature or tool is missing (exit 3)."""

    exit_code = 3
    default_code = "Environment"


class KernelRefused(VpclabError):
    """The kernel refused an operation we did not expect it to refuse (exit 4)."""

    exit_code = 4
    default_code = "KernelRefused"

    def __init__(self, message: str, obj: str = "", errno: Optional[int] = None, hint: Optional[str] = None):
        self.obj = obj
        self.errno = errno
        super().__init__(message, hint=hint or "the lab is left cleanable: run `vpclab down` to remove it")


class StateError(VpclabError):
    """The lab's state database could not be read or written (exit 4)."""

    exit_code = 4
    default_code = "StateError"


class ExpectationFailed(VpclabError):
    """`test` or `probe --expect` found a mismatch (exit 1)."""

    exit_code = 1
    default_code = "ExpectationFailed"


def did_you_mean(word: str, choices) -> Optional[str]:
    """A 'did you mean' hint for an unknown name, or None."""
    import difflib

    if len(str(word)) > 2 * SHOWN:  # nothing is close to it, and difflib would take its time to say so
        return None
    choices = [str(c) for c in choices]
    if len(choices) > MAX_HINT_CHOICES:  # a guess among thousands is noise, and costs ~30 us a choice
        return None
    close = difflib.get_close_matches(str(word), choices, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


SHOWN = 80  # the most characters of a value any message quotes
PATH_SHOWN = 3 * SHOWN  # a path is quoted longer than a name (as a topology file's is)
MAX_HINT_CHOICES = 2_000
# C0, DEL and C1 (a terminal takes U+009B as CSI as it takes ESC [)
_CONTROL = {i: f"\\x{i:02x}" for i in (*range(32), *range(127, 160))} | {ord("\n"): "\\n", ord("\t"): "\\t"}


def shown(value, limit: int = SHOWN, as_repr: bool = False) -> str:
    """A value as a message quotes it: at most about `limit` characters, control characters visible.

    Every message that echoes something the user wrote (a name, a key, a value)
    goes through here, so a 50 MB name or a deep YAML tree prints a line, not
    megabytes. A string is shown as it is (or as repr() with `as_repr`), anything
    else as a short repr() that never expands a big tree.
    """
    long = f"...({len(value)} characters)" if isinstance(value, str) and len(value) > limit else ""
    if isinstance(value, str) and not as_repr:
        return value[:limit].translate(_CONTROL) + long
    text = _brief(value, limit, 0)
    return text + long if long or len(text) <= 2 * limit else text[:2 * limit] + "..."


def _brief(v, limit: int, depth: int) -> str:
    """repr() of a scalar or a small, shallow view of a list or mapping; never expands a big tree."""
    if isinstance(v, dict):
        if depth >= 2:
            return "{...}" if v else "{}"
        body = [f"{_brief(k, limit, depth + 1)}: {_brief(x, limit, depth + 1)}" for k, x in list(v.items())[:4]]
        return "{" + ", ".join(body + (["..."] if len(v) > 4 else [])) + "}"
    if isinstance(v, (list, tuple)):
        if depth >= 2:
            return "[...]" if v else "[]"
        body = [_brief(x, limit, depth + 1) for x in v[:4]]
        return "[" + ", ".join(body + (["..."] if len(v) > 4 else [])) + "]"
    if isinstance(v, str):
        return repr(v[:limit])
    if isinstance(v, int) and not isinstance(v, bool) and v.bit_length() > 4 * limit:
        return f"a number of about {int(v.bit_length() * 0.30103) + 1} digits"
    return repr(v)


class ImportInvalid(Refused):
    """An imported configuration (e.g. a Terraform plan) breaks cloud rules: every problem,
    each named by the address of the resource it came from (exit 2, nothing written)."""

    default_code = "ImportInvalid"

    def __init__(self, source: str, problems: List[tuple]):
        self.source = source
        self.problems = list(problems)  # (address, code, message, hint)
        first = self.problems[0]
        super().__init__(f"{first[0]}: {first[2]}" if len(self.problems) == 1
                         else f"{len(self.problems)} problems in {source}", code=first[1])

    def lines(self) -> List[str]:
        return [f"{self.source}: {a}: {c}: {m}" + (f" ({h})" if h else "") for a, c, m, h in self.problems]

    def to_json(self) -> dict:
        doc = super().to_json()
        doc["error"]["problems"] = [{"address": a, "code": c, "message": m, "hint": h} for a, c, m, h in self.problems]
        return doc
