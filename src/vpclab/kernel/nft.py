"""libnftables, through ctypes (the calls its Python binding `nftables` makes), inside a lab's namespaces.

Owns: opening a libnftables context in a namespace (its netlink socket is made when
the context is, so a context made inside a namespace speaks to that namespace
wherever it is used later), running one JSON command list as ONE transaction, and
counting those transactions per namespace (`TRANSACTIONS`, for the benches). Nothing
here encodes nf_tables netlink: libnftables does.

The binding comes from PyPI `pip-nftables` (or Debian's python3-nftables) and loads
the system's libnftables.so.1 (Debian `libnftables1`); `scripts/setup` installs both.
The binding stays the requirement (`available`, `doctor`), but a context here is
`Context`: the same calls with their prototypes declared once per process, not once
per context (issue 24: the filtered `up` makes one context per namespace).
"""
from __future__ import annotations

import ctypes
import errno
import functools
import json
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import List, Optional, Tuple

from . import nsenter
from ..errors import EnvironmentProblem, KernelRefused
from ..plan.objects import NFT_FAMILY, NFT_TABLE

TRANSACTIONS: Counter = Counter()  # namespace -> nft transactions sent (a bench reads and resets it)
TABLE = {"family": NFT_FAMILY, "name": NFT_TABLE}
_HINT = "run scripts/setup (it installs libnftables1 and the `nftables` Python binding)"


def _module():
    try:
        import nftables  # noqa: PLC0415 (a lab without filters never needs it)
    except ImportError:
        raise EnvironmentProblem("security groups, network ACLs and the Internet need libnftables' Python "
                                 "binding (`nftables`)", hint=_HINT) from None
    return nftables


def require() -> None:
    """Raise EnvironmentProblem (exit 3) unless libnftables and its binding load."""
    ok, why = available()
    if not ok:
        raise EnvironmentProblem(why, hint=_HINT)


@functools.lru_cache(maxsize=1)
def available() -> Tuple[bool, str]:
    """(usable, why not) for `doctor` and test skips; loads the library, touches no namespace."""
    try:
        nftables = _module()
        nftables.Nftables()
    except EnvironmentProblem as e:
        return False, e.message
    except OSError as e:  # libnftables.so.1 missing
        return False, f"libnftables cannot be loaded: {e}"
    return True, ""


JSON_OUTPUT = 1 << 4  # libnftables' NFT_CTX_OUTPUT_JSON


@functools.lru_cache(maxsize=1)
def _lib():
    """libnftables.so.1 with the prototypes of the calls a context makes, declared once.
    The binding's `Nftables()` loads the library and declares ~15 prototypes on every
    context (~0.15 ms of Python each, under the GIL): `up` makes one per filtered namespace."""
    _module()  # the binding stays the requirement (doctor, scripts/setup): it loads this library
    try:
        lib = ctypes.CDLL("libnftables.so.1")
    except OSError as e:
        raise EnvironmentProblem(f"libnftables cannot be loaded: {e}", hint=_HINT) from None
    ptr, text = ctypes.c_void_p, ctypes.c_char_p
    for name, res, args in (("nft_ctx_new", ptr, [ctypes.c_uint]), ("nft_ctx_free", None, [ptr]),
                            ("nft_ctx_buffer_output", ctypes.c_int, [ptr]),
                            ("nft_ctx_buffer_error", ctypes.c_int, [ptr]),
                            ("nft_ctx_get_output_buffer", text, [ptr]), ("nft_ctx_get_error_buffer", text, [ptr]),
                            ("nft_ctx_output_get_flags", ctypes.c_uint, [ptr]),
                            ("nft_ctx_output_set_flags", None, [ptr, ctypes.c_uint]),
                            ("nft_run_cmd_from_buffer", ctypes.c_int, [ptr, text])):
        f = getattr(lib, name)
        f.restype, f.argtypes = res, args
    return lib


class Context:
    """One libnftables context (nft_ctx_new: its netlink socket is opened in the namespace
    the calling thread is in), with the binding's `cmd`/`json_cmd`/`set_json_output`;
    freed when dropped (nft_ctx_free, ctypes releases the GIL)."""

    def __init__(self) -> None:
        self._lib = lib = _lib()
        self._ctx = lib.nft_ctx_new(0)  # NFT_CTX_DEFAULT
        if not self._ctx:
            raise EnvironmentProblem("libnftables could not make a context", hint=_HINT)
        lib.nft_ctx_buffer_output(self._ctx)
        lib.nft_ctx_buffer_error(self._ctx)

    def __del__(self) -> None:
        ctx, self._ctx = getattr(self, "_ctx", None), None
        if ctx:
            self._lib.nft_ctx_free(ctx)

    def set_json_output(self, on: bool) -> bool:
        flags = self._lib.nft_ctx_output_get_flags(self._ctx)
        self._lib.nft_ctx_output_set_flags(self._ctx, flags | JSON_OUTPUT if on else flags & ~JSON_OUTPUT)
        return bool(flags & JSON_OUTPUT)

    def cmd(self, text) -> Tuple[int, str, str]:
        raw = text if isinstance(text, bytes) else text.encode()
        rc = self._lib.nft_run_cmd_from_buffer(self._ctx, raw)
        out = self._lib.nft_ctx_get_output_buffer(self._ctx) or b""
        err = self._lib.nft_ctx_get_error_buffer(self._ctx) or b""
        return (rc, out, err) if isinstance(text, bytes) else (rc, out.decode(), err.decode())

    def json_cmd(self, root) -> Tuple[int, object, str]:
        rc, out, err = self.cmd(json.dumps(root))
        return rc, (json.loads(out) if out else out), err


def context(ns: str) -> Context:
    """A libnftables context bound to namespace `ns` (JSON in and out)."""

    def make():
        ctx = Context()
        ctx.set_json_output(True)
        return ctx

    return nsenter.run_in(ns, make)


def transact(ns: str, commands, ctx=None, what: str = "") -> None:
    """Run `commands` (libnftables JSON objects, or their JSON text `{"nftables": [...]}`)
    in `ns` as one atomic transaction. A context made here is freed by `retire`."""
    own = ctx is None
    ctx = ctx or context(ns)
    text = commands if isinstance(commands, str) else json.dumps({"nftables": commands})
    try:
        rc, _, err = ctx.cmd(text)  # JSON in: the context has JSON output set, so libnftables parses JSON
    finally:
        if own:
            retire(ctx)
    TRANSACTIONS[ns] += 1
    if rc != 0:
        raise KernelRefused(f"nftables refused {what or 'a transaction'} in {ns}: {err.strip()}",
                            obj=what or ns, errno=errno.EINVAL)


_FREEING: List[ThreadPoolExecutor] = []
_FREEING_LOCK = threading.Lock()


def retire(ctx) -> None:
    """Free a context off the caller's path. Freeing one that ran a transaction waits on the
    kernel (~10-20 ms wall, the release of its netlink socket, no CPU): a live `sg rule
    add` would wait that long in each member namespace. Threads free them instead (ctypes
    drops the GIL), 8 at once as `up` sends tables; the interpreter waits for them at exit."""
    if not _FREEING:
        with _FREEING_LOCK:
            if not _FREEING:
                _FREEING.append(ThreadPoolExecutor(max_workers=8, thread_name_prefix="vpclab-nft-free"))
    try:
        _FREEING[0].submit(_drop, ctx)
    except RuntimeError:  # the interpreter is shutting down: free it here
        pass


def _drop(ctx) -> None:
    """The pool's work item holds the context until here: it is freed in the pool's thread."""


def table(ns: str, ctx=None) -> Optional[list]:
    """The listing of vpclab's table in `ns` (libnftables JSON objects), None if it has none."""
    ctx = ctx or context(ns)
    rc, out, err = ctx.json_cmd({"nftables": [{"list": {"table": TABLE}}]})
    if rc != 0:
        if "No such file or directory" in err:
            return None
        raise KernelRefused(f"nftables cannot list table {NFT_FAMILY} {NFT_TABLE} in {ns}: {err.strip()}",
                            obj=ns, errno=errno.EIO)
    return out.get("nftables", []) if isinstance(out, dict) else []


def tables(ns: str, ctx=None) -> List[Tuple[str, str]]:
    """(family, name) of every table in `ns`."""
    ctx = ctx or context(ns)
    rc, out, _ = ctx.json_cmd({"nftables": [{"list": {"tables": None}}]})
    if rc != 0 or not isinstance(out, dict):
        return []
    return [(o["table"]["family"], o["table"]["name"]) for o in out.get("nftables", []) if "table" in o]


def counters(ns: str, ctx=None) -> dict:
    """{comment: (packets, bytes)} of every commented rule with a counter in vpclab's table of
    `ns` ({} without the table). Comments of model rules parse with plan.names.RuleRef."""
    out = {}
    for o in table(ns, ctx) or ():
        r = o.get("rule")
        if not r or not r.get("comment"):
            continue
        for e in r.get("expr", ()):
            c = e.get("counter") if isinstance(e, dict) else None
            if isinstance(c, dict):
                out[r["comment"]] = (c.get("packets", 0), c.get("bytes", 0))
    return out
