"""The probe engine's public face: three ways to send probes between namespaces.

- `fast_probe`: many probes at once on plain sockets; replied or not, RTT, why not.
- `capture_probe`: the same, plus AF_PACKET captures telling where along the path
  each request and reply was seen (`Diagnoser`: batch after batch on capture
  sockets kept open).
- `crafted_probe`: one probe built and sent with scapy from the source namespace,
  with the same captures.

This layer knows nothing about VPCs: namespaces, IPv4 addresses and interface names
only. scapy is imported lazily, by `crafted_probe` alone.
"""
from __future__ import annotations

from .crafted import crafted_probe
from .diagnose import Diagnoser, capture_probe
from .fast import fast_probe
from .types import CapturePoint, ProbeOutcome, ProbeSpec

__all__ = ["ProbeSpec", "CapturePoint", "ProbeOutcome", "fast_probe", "capture_probe", "crafted_probe",
           "Diagnoser"]
