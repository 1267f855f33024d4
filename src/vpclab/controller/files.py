"""Use cases on topology files that need no root: the format's JSON Schema, a topology
imported from another tool, and what a change gains and loses (`vpclab diff`: two models
compared, the old one a file or a running lab's)."""
from __future__ import annotations

from typing import Callable, List, Optional

from ..errors import Refused
from ..model.types import Lab
from ..explain import diff as reachability
from ..topology import load as topology, schema as format_schema
from ..topology.importers import terraform
from .static import model_for


def schema() -> dict:
    """The JSON Schema of the topology format."""
    return format_schema.schema()


def import_terraform(path: str, lab: Optional[str] = None) -> terraform.Result:
    """A topology from `terraform show -json` of a plan or a state, with notes on what it left out."""
    return terraform.convert(terraform.read(path), path, lab)


def diff(files: List[str], lab: Optional[str] = None, load: Optional[Callable[[str], Lab]] = None) -> dict:
    """`vpclab diff OLD NEW` or `vpclab diff -l LAB NEW`: load both models and diff them; `load`:
    how the running lab's model is read (static.model_for)."""
    want = 1 if lab else 2
    if len(files) != want:
        raise Refused("diff takes OLD NEW (two topology files), or -l LAB NEW (a running lab and a file)",
                      code="InvalidParameter")
    old = model_for(lab=lab, load=load) if lab else topology.load(files[0])
    new = topology.load(files[-1])
    return reachability.diff(old, new, f"lab {old.name}" if lab else files[0], files[-1])
