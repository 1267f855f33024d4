"""What one probe's packets showed: `probe`'s `evidence`, `seen_source` and `--pcap` file.

The engine (probe/evidence.py) records every packet of the probe's flow at each
capture point with its kernel timestamp; this module says it in the lab's terms:
which capture point is the source, a VPC router, an instance or the Internet, the
source address the destination really saw, and where the lost direction stopped.
It reads packets only, never the model's verdict.
"""
from __future__ import annotations

from typing import List, Optional

from . import outpath
from .model.filters import INTERNET
from .model.types import Lab
from .probe import evidence as ev
from .probe import pcap as pcapfile
from .probe.types import ProbeOutcome

PCAP = "the capture file"  # what `probe --pcap` writes, as its messages name it


def check_pcap_path(path: str) -> None:
    """Refuse (before anything is probed) a --pcap path that cannot be written (outpath's rules)."""
    outpath.check_writable(path, PCAP)


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
    with outpath.replacing(path, PCAP) as f:
        pcapfile.write(f, packets)
    return len(packets)


def counters_json(model: Lab, hits: list) -> List[dict]:
    from . import probe_filters

    return probe_filters.met(hits, probe_filters.instance_of_ns(model), model.name)
