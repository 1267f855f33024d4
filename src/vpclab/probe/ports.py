"""Source ports of a fast-path run (fast.Run): every TCP/UDP probe of a run its own flow key.

The ports of one (protocol, source address) are handed out in turn across all namespaces,
so two namespaces holding one address never send two flows with one key; for translated
probes (a `flow_index`: captures that know flows by their ports alone, evidence.FlowSession)
the ports are unique across the whole run. A `before_send` caller (fast.Run) has the ports
planned before anything is sent, so that it knows every flow's keys in advance.
"""
from __future__ import annotations

import errno
import os
import random
import socket
from typing import Dict, List, Optional, Tuple

from . import wire

# source ports the run binds explicitly (Linux's default ephemeral range): chosen by the
# kernel, two namespaces holding one address would pick the same port for the same peer
PORT_LOW, PORT_SPAN = 32768, 28232

# Where the next run's ports start, as a count that only grows (a port is `low + n % span`).
# Each run starts after the ports the runs before it in this process used, so a run never
# sends a flow key an earlier run sent moments before: that flow's state (a NAT's conntrack
# entry in SYN_RECV, a destination's half-open connection) would still be there and swallow
# the new SYN. A process starts at a random place, so two commands rarely meet either.
_cursor = random.randrange(PORT_SPAN)


def _advance(n: int) -> None:
    global _cursor
    if n > _cursor:
        _cursor = n


class SourcePorts:
    """The source ports a run has handed out (probes: fast.Probe, with proto, src4, dst4,
    spec, plan, req_key and rep_key)."""

    def __init__(self, flow_index: Optional[dict] = None):
        self.next: Dict[Tuple[int, bytes, int], int] = {}  # (proto, source address, range) -> next port to try
        self.flows: set = set()  # TCP/UDP request keys already used in this run
        self.flow_index = flow_index
        self.base = _cursor  # this run's first port (see _cursor)

    def ranges(self, p) -> List[Tuple[int, int]]:
        ranges = [(PORT_LOW, PORT_SPAN)]
        if p.spec.sports is not None:
            ranges.insert(0, (p.spec.sports[0], p.spec.sports[1] - p.spec.sports[0] + 1))
        return ranges

    def plan(self, probes) -> None:
        """Give every TCP/UDP probe its source port, and so its flow keys, before anything is
        sent (a `before_send` caller watches the flows by their keys). A planned port found
        busy when binding is replaced as `bind` would choose: that probe's keys change."""
        for p in probes:
            if p.proto == 1:
                continue
            for low, span in self.ranges(p):
                where = (p.proto, p.src4 if self.flow_index is None else b"", low)
                n = self.next.get(where, self.base)
                for tries in range(span):
                    port = low + (n + tries) % span
                    keys = wire.probe_keys(p.proto, p.src4, p.dst4, port, p.spec.port)
                    if keys[0] in self.flows or (self.flow_index is not None
                                                 and (p.proto, keys[0][9:13]) in self.flow_index):
                        continue
                    self.next[where] = n + tries + 1
                    _advance(n + tries + 1)
                    self.take(p, port, keys)
                    break
                if p.plan:
                    break

    def take(self, p, port: int, keys: Tuple[bytes, bytes]) -> None:
        p.plan = port
        self.flows.add(keys[0])
        p.req_key, p.rep_key = keys
        if self.flow_index is not None:
            self.flow_index[(p.proto, keys[0][9:13])] = keys

    def bind(self, p, s: socket.socket) -> None:
        """Bind `s` to a source port giving `p` a flow key no other probe of the run has.

        The ports of one (protocol, source address) are handed out in turn across all
        namespaces; a port busy in this namespace (EADDRINUSE) is skipped. A probe with
        `spec.sports` (explain says only the replies to those ports are lost) takes one of
        them, sharing a port with another probe of its namespace if it must (SO_REUSEADDR:
        the two flows differ by destination); the usual range if none is free. A port
        planned before the run (`plan`) is tried first.
        """
        ranges = self.ranges(p)
        if p.spec.sports is not None:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if p.plan:
            try:
                s.bind((p.spec.src_ip, p.plan))
                return
            except OSError as e:
                if e.errno != errno.EADDRINUSE:
                    raise
        for low, span in ranges:
            where = (p.proto, p.src4 if self.flow_index is None else b"", low)
            n = self.next.get(where, self.base)
            for tries in range(span):
                port = low + (n + tries) % span
                keys = wire.probe_keys(p.proto, p.src4, p.dst4, port, p.spec.port)
                if keys[0] in self.flows or (self.flow_index is not None
                                             and (p.proto, keys[0][9:13]) in self.flow_index):
                    continue  # one flow per probe; translated probes are told apart by their ports alone
                try:
                    s.bind((p.spec.src_ip, port))
                except OSError as e:
                    if e.errno != errno.EADDRINUSE:
                        raise
                    continue
                self.next[where] = n + tries + 1
                _advance(n + tries + 1)
                self.take(p, port, keys)
                return
        raise OSError(errno.EADDRINUSE, os.strerror(errno.EADDRINUSE))
