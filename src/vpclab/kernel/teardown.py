"""Removing a whole lab from the kernel: its `vpclab exec` processes and its namespaces.

Owns: finding the processes `vpclab exec` left in a lab's namespaces, and bulk
removal of a lab's namespaces that waits until the kernel has really destroyed
them (with routed subnets there is no bridge, so no RCU barrier per subnet:
the kernel's netns cleanup of a 250-namespace lab takes a fraction of a second).
"""
from __future__ import annotations

import logging
import os
import time
from typing import Callable, List, Optional

from ..plan.names import lab_of_ns, lab_prefix
from . import sentinel
from .netns import list_names, path_of, remove

log = logging.getLogger(__name__)


def pids_inside(prefix: str, lab: str) -> List[int]:
    """PIDs of the processes `vpclab exec` started in this lab's namespaces (e.g. an
    `iperf3 -D`): they would keep a namespace alive after its name is gone.

    A process counts only if it lives in one of the lab's namespaces (device and
    inode of the namespace file) AND carries the mark `VPCLAB_LAB=<lab>` that
    `vpclab exec` sets; nothing else is ever signalled (a `vpclab matrix` probing
    from inside a namespace, say, is not the lab's to end).
    """
    spaces = set()
    for name in list_names(prefix):
        try:
            st = os.stat(path_of(name))
            spaces.add((st.st_dev, st.st_ino))
        except OSError:
            pass
    pids: List[int] = []
    if not spaces:
        return pids
    mark = f"VPCLAB_LAB={lab}".encode()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            st = os.stat(f"/proc/{entry.name}/ns/net")
            if (st.st_dev, st.st_ino) not in spaces:
                continue
            with open(f"/proc/{entry.name}/environ", "rb") as f:
                if mark in f.read().split(b"\0"):
                    pids.append(int(entry.name))
        except OSError:
            continue
    return pids



GROUP = 25  # namespaces handed to the kernel at a time while yielding (~85 devices: ~15 ms of RTNL)


def remove_lab_namespaces(prefix: str, timeout: float = 10.0, wait: bool = True,
                          busy: Optional[Callable[[], bool]] = None) -> List[str]:
    """Remove every namespace whose name starts with `prefix`; return their names.

    With `wait`, returns once the kernel has really destroyed them (their veths
    are gone); without, once their names are gone (the kernel finishes the
    teardown in the background).
    How (kernel/sentinel.py): a sentinel veth joins the last namespace to an unnamed watcher
    namespace; namespaces are unmounted in order and the kernel's netns cleanup
    runs them in order, so when the sentinel's watcher end disappears, every
    namespace unmounted before it is gone too. A namespace that something else
    still holds (a process inside, an open fd) is unmounted but outlives the
    wait: that is logged as a warning.

    Yielding (with `wait` and `busy`): every name goes at once. While no build runs
    (`busy()`, asked every GROUP names, is False), the kernel gets each namespace as
    its name goes, as without yielding. From the first GROUP on which `busy()` is True,
    an fd keeps each namespace alive, and they are closed GROUP at a time, each group
    once `busy()` (another lab is being built, and the caller still gives way) is
    False. The kernel destroys a namespace's devices under RTNL, which a build needs
    for every request: this way a build waits for one group at most, not for the lab.
    """
    lab = lab_of_ns(prefix)
    if not lab or prefix != lab_prefix(lab):
        raise ValueError(f"refusing to remove namespaces by prefix {prefix!r}: not one lab's `vpclab-<lab>-`")
    names = list_names(prefix)
    if not names:
        return []
    if not wait:
        for name in names:
            remove(name)
        return names
    try:
        watcher = sentinel.Watcher()
    except OSError as e:
        log.debug("no teardown watcher (%s); not waiting for the kernel", e)
        watcher = None
    kept: List[int] = []
    try:
        if watcher is not None:
            try:
                watcher.add_path(path_of(names[-1]))
            except OSError as e:
                log.debug("no teardown sentinel (%s); not waiting for the kernel", e)
                watcher.close()
                watcher = None
        keeping = False
        for i, name in enumerate(names):
            if busy is not None and not keeping and i % GROUP == 0:
                keeping = busy()  # from here on, in order: the sentinel's namespace stays the last
            if keeping:
                try:
                    kept.append(os.open(path_of(name), os.O_RDONLY | os.O_CLOEXEC))
                except OSError:
                    pass
            remove(name)
        if kept:
            _hand_over(kept, busy)
        if watcher is not None and not watcher.wait(timeout):
            log.warning("namespaces %s* unmounted but still alive after %.0fs: a process or "
                        "open file still holds one of them", prefix, timeout)
    finally:
        for fd in kept:
            os.close(fd)
        if watcher is not None:
            watcher.close()
    return names


def _hand_over(kept: List[int], busy: Callable[[], bool]) -> None:
    """Close the fds that keep unnamed namespaces alive, in order, GROUP at a time, each group
    once `busy()` is False. Empties `kept`."""
    while kept:
        while busy():
            time.sleep(0.005)
        group, kept[:] = kept[:GROUP], kept[GROUP:]
        for fd in group:
            os.close(fd)
