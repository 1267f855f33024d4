"""Ctrl-C held off while labs are removed: a removal, once begun, runs to its end.

A KeyboardInterrupt raised in the middle of a lab's removal stops it half-way: the lab stays
`deleting`, with its namespaces and its meter, until `vpclab cleanup`. That happened to the
pytest plugin when Ctrl-C came while it removed its lab (at the end of a session, or while
`Lab.up` removed a lab that a first Ctrl-C had cut short). Inside `held()` SIGINT is only
noted (and said once on stderr); at the end the previous handler gets it, so the interrupt
still happens, after the removal. `reraise=False` only notes it (the plugin's removal at the
end of a session: pytest is ending anyway, and raising there would skip its own cleanup).

Only the main thread can set a signal handler; elsewhere `held()` changes nothing (the
signal goes to the main thread there anyway). SIGTERM and SIGKILL are not held.
"""
from __future__ import annotations

import contextlib
import signal
import sys
import threading
from typing import Iterator, List


@contextlib.contextmanager
def held(what: str, reraise: bool = True) -> Iterator[List[int]]:
    """Within the block, SIGINT is noted, not raised; it is re-delivered at the end (when
    `reraise`). Yields the list of the signals noted."""
    noted: List[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield noted
        return

    def note(signum, frame):
        if not noted and not _said:
            print(f"vpclab: Ctrl-C: {what} first", file=sys.stderr, flush=True)
            _said.append(what)
        noted.append(signum)

    note.noted = noted  # type: ignore[attr-defined]  # an inner held() hands its signals up here
    previous = signal.signal(signal.SIGINT, note)
    try:
        yield noted
    finally:
        signal.signal(signal.SIGINT, previous)
        outer = getattr(previous, "noted", None)
        if noted and outer is not None:
            outer.extend(noted)  # an enclosing held() decides
        elif noted and reraise:
            signal.raise_signal(signal.SIGINT)  # now handled as it would have been: KeyboardInterrupt
        if outer is None:
            _said.clear()


_said: List[str] = []  # the one line said for the outermost held() (nested ones say nothing more)
