"""What needs no kernel: `validate`, the model of a file or of a running lab, and the checks
of what a question names (its ends, its protocol and port) that explain and probes share.

Only the loader and the model's rules are imported here (not explain, the planner, the
kernel or the probes): `validate` starts fast and needs no root. `explain` is
explaining.py.
"""
from __future__ import annotations

import ipaddress
from typing import Callable, Optional

from ..errors import NotFound, Refused, TopologyInvalid, did_you_mean, shown
from ..model import rules
from ..model.filters import INTERNET_PREFIX
from ..model.types import Lab
from ..state import labs
from ..topology import load as loader
from ..topology.filters import public_ref
from ..topology.yamltree import parse_yaml  # noqa: F401  (YAML with lines: the exercises' check files too)

__all__ = ["validate", "model_for", "find_ref", "check_proto", "check_ends", "TopologyInvalid"]


def validate(file: str) -> Lab:
    """The topology of `file`, checked: TopologyInvalid (this module's name for it) with every problem."""
    return loader.load(file)


def model_for(lab: Optional[str] = None, file: Optional[str] = None,
              load: Optional[Callable[[str], Lab]] = None) -> Lab:
    """The model of a topology file (no root needed) or of a running lab, read by `load`
    (default: as stored; the faces hand controller.settle.load_model, which first finishes a
    live operation a kill interrupted; it needs the kernel layer, which `validate` and
    `explain -f` never import)."""
    if file and lab:
        raise Refused("say either -f FILE (a topology) or -l LAB (a running lab), not both",
                      code="InvalidParameter")
    if file:
        return loader.load(file)
    return (load or labs.load_model)(labs.resolve_lab(lab))


def find_ref(model: Lab, ref: str, what: str, allow_ip: bool = False, allow_internet: bool = False):
    if model.instance(ref) is not None:
        return ref
    if allow_ip:
        try:
            ipaddress.IPv4Address(ref)
            return ref
        except ValueError:
            pass
    if allow_internet and model.internet is not None and isinstance(ref, str) and ref.startswith(INTERNET_PREFIX):
        host = ref[len(INTERNET_PREFIX):]  # version 2: internet/<host> (explain)
        if host in model.internet.hosts:
            return ref
        hint = did_you_mean(host, model.internet.hosts)
        raise NotFound(f"{what} {public_ref(model, ref)}", code="InstanceNotFound",
                       hint=hint and hint.replace("mean '", "mean '" + INTERNET_PREFIX))
    raise NotFound(f"{what} '{shown(ref)}' is not an instance of lab {model.name} (use <vpc>/<instance>)",
                   code="InstanceNotFound", hint=did_you_mean(ref, [i.ref for i in model.instances()]))


def check_proto(proto: str, port: Optional[int]) -> None:
    if proto in ("tcp", "udp") and port is None:
        raise Refused(f"--proto {proto} needs --port", code="MissingParameter")
    if proto == "icmp" and port is not None:
        raise Refused("--port goes with --proto tcp or udp", code="InvalidParameter")


def check_ends(model: Lab, src: str, dst: str, internet: bool = False) -> None:
    """SRC is an instance, DST an instance or an address, and DST is not SRC itself (probe, explain).
    `internet`: either end may also be `internet/<host>` (explain, and probes: targets.target hands a
    destination host in as its address)."""
    find_ref(model, src, "source", allow_internet=internet)
    find_ref(model, dst, "destination", allow_ip=True, allow_internet=internet)
    for v in rules.check_probe_ends(model, src, dst):
        raise Refused(v.message, code=v.code)
