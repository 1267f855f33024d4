"""What one probe's packets showed: `probe`'s `evidence`, `seen_source` and `--pcap` file.

The engine (probe/evidence.py) records every packet of the probe's flow at each
capture point with its kernel timestamp; this module says it in the lab's terms:
which capture point is the source, a VPC router, an instance or the Internet, the
source address the destination really saw, and where the lost direction stopped.
It reads packets only, never the model's verdict.
"""
from __future__ import annotations

import os
from typing import List, Optional

from ..errors import Refused
from ..model.filters import INTERNET
from ..model.types import Lab
from ..probe import evidence as ev
from ..probe import pcap as pcapfile
from ..probe.types import ProbeOutcome



def check_pcap_path(path: str) -> None:
    """Refuse (before anything is probed) a --pcap path that cannot be written."""
    what = f"cannot write the capture file {path}"
    if not path or path.endswith(os.sep):
        raise Refused(f"{what}: give a file name", code="InvalidParameterValue")
    if os.path.isdir(path):
        raise Refused(f"{what}: it is a directory", code="InvalidParameterValue")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise Refused(f"{what}: no directory {parent}", code="InvalidParameterValue")
    if os.path.islink(path):  # run as root: never write through a link someone planted
        raise Refused(f"{what}: it is a symbolic link", code="InvalidParameterValue")
    if os.path.exists(path) and not os.path.isfile(path):
        raise Refused(f"{what}: not a regular file", code="InvalidParameterValue")
    target = path if os.path.exists(path) else parent
    if not os.access(target, os.W_OK):
        raise Refused(f"{what}: permission denied", code="InvalidParameterValue")


def role(model: Lab, src_ref: str, at: str) -> str:
    if at == src_ref:
        return "source"
    if at in model.vpcs:
        return "router"
    if at == INTERNET:
        return INTERNET
    return "instance"


def evidence(model: Lab, src_ref: str, o: ProbeOutcome) -> List[dict]:
    """The `evidence` list of `probe --json` (time order), each entry with its capture point's role."""
    if o.packets is None or o.t0_ns is None:
        return []
    out = ev.entries(o.packets, o.t0_ns)
    for e in out:
        e["role"] = role(model, src_ref, e["at"])
    return out


def seen_source(entries: List[dict], dst_ref: Optional[str]) -> Optional[str]:
    """The source address of the request as the destination received it (None if it never did)."""
    for e in entries:
        if e["at"] == dst_ref and e["dir"] == ev.REQUEST and e["way"] == "rx" and not e["what"].startswith("icmp "):
            return e["src"]
    return None


def write_pcap(path: str, o: ProbeOutcome) -> int:
    """Write the probe's packets to `path`; returns how many."""
    packets = o.packets or []
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as f:
            pcapfile.write(f, packets)
    except OSError as e:
        raise Refused(f"cannot write the capture file {path}: {e.strerror}", code="InvalidParameterValue")
    return len(packets)


def counters_for(model: Lab, namespaces: List[str]):
    """A counter snapshot (probe_filters.Counters) of the namespaces on the path, taken now;
    None when the lab has no security group or network ACL (nothing to count)."""
    from . import attribution as probe_filters

    if not probe_filters.has_filters(model):
        return None
    return probe_filters.Counters(namespaces)


def counters_json(model: Lab, hits: list) -> List[dict]:
    from . import attribution as probe_filters

    return probe_filters.met(hits, probe_filters.instance_of_ns(model), model.name)
