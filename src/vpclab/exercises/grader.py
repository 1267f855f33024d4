"""Grade a live lab against an exercise's items; nothing here changes the lab.

Probes go through `probing.run_many` (real packets, cross-checked with explain),
peerings and routes are read with the controller's rows, and a `refused` item
asks the cloud rules (the live operation's model edit, the code every live command
runs: controller/operate.py) on a throw-away copy of the live model, so an item that expects a refusal can never
change the student's lab, even when the command would be accepted.
A `throughput` item runs iperf3 in the lab's instances with `vpclab exec`.
"""
from __future__ import annotations

import ipaddress
import json
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import List, Optional

from ..controller import host, operate, probing, status, targets
from ..errors import Refused
from ..model.codec import lab_from_dict, lab_to_dict
from ..model.types import LIVE_STATES, Lab
from ..model.units import parse_bandwidth
from . import closure, hints
from .catalog import Exercise, Item


@dataclass
class Result:
    item: Item
    ok: bool
    got: str  # what the lab shows, in words
    facts: dict = field(default_factory=dict)  # what the lab shows, as the hints' `when` tests it

    @property
    def hint(self) -> Optional[str]:
        """The first of the item's hints that holds in the lab's current state (None when the item holds)."""
        return None if self.ok else hints.first(self.item.hints, self.item.whens, self.facts, self.got)

    def to_json(self, with_hints: bool = True) -> dict:
        i = self.item
        if not with_hints:  # exam mode: pass or fail, nothing that gives the answer away
            return {"id": i.id, "title": i.title, "kind": i.kind, "ok": self.ok}
        return {"id": i.id, "title": i.title, "kind": i.kind, "ok": self.ok, "got": self.got,
                "hint": self.hint, "facts": self.facts, "spec": i.spec}


def grade(ex: Exercise, lab: str) -> List[Result]:
    """Every item of `ex` evaluated on the running lab `lab`, in the check file's order."""
    host.require_root("lab check")
    model = status.load_model(lab)
    out = {}
    # An item that names the source the destination must see needs the single probe, which
    # captures at the destination (the batch path classifies without capturing there).
    for i in [i for i in ex.items if i.kind == "probe" and "seen_source" in i.spec]:
        out[i.id] = _probe_result(i, probing.probe(i.spec["from"], i.spec["to"], i.spec.get("proto", "icmp"),
                                                   i.spec.get("port"), lab=lab, log=False), model)
    probes = [i for i in ex.items if i.kind == "probe" and "seen_source" not in i.spec]
    asked = [targets.target(model, i.spec["from"], i.spec["to"], i.spec.get("proto", "icmp"),
                            i.spec.get("port")) for i in probes]
    isolated = [i for i in ex.items if i.kind == "isolated"]
    spans = []  # isolated items: where their probes are in `asked`
    for i in isolated:
        more = closure.isolation_targets(model, *i.spec["between"])
        spans.append((len(asked), len(asked) + len(more)))
        asked += more
    rows = probing.run_many(model, asked) if asked else []
    for i, row in zip(probes, rows):
        out[i.id] = _probe_result(i, row, model)
    for i, (a, b) in zip(isolated, spans):
        out[i.id] = _isolated(model, i, rows[a:b])
    for i in ex.items:
        if i.id not in out:
            out[i.id] = CHECKS[i.kind](model, i, lab)
    return [out[i.id] for i in ex.items]


def accepted_results(spec: dict) -> List[str]:
    r = spec["result"]
    return list(r) if isinstance(r, list) else [r]


def peerings_on(row: dict, peerings) -> List[str]:
    """The peerings (of the names `peerings`) a probe's packets went over, in order, the request's
    leg then the reply's."""
    out = []
    for leg in ("forward", "return"):
        for hop in (row.get(leg) or {}).get("path") or []:
            if hop in peerings and hop not in out:
                out.append(hop)
    return out


def _probe_result(i: Item, row: dict, model: Optional[Lab] = None) -> Result:
    got = row["result"]
    r = row.get("reason") or {}
    if r.get("code"):
        got += f" ({r['code']} at {r['where']}" + (f", table {r['table']}" if r.get("table") else "") + \
               f": {r['detail']})"
    accepted = accepted_results(i.spec)
    # "closed" is decided by the one definition (closure.py): never by a list of its own
    ok = closure.closed(row["result"]) if accepted == [closure.CLOSED] else row["result"] in accepted
    over = peerings_on(row, model.peerings if model is not None else ())
    facts = {"result": row["result"], "code": r.get("code"), "where": r.get("where"),
             "seen_source": row.get("seen_source"), "over": ", ".join(over) if over else None}
    want_source = i.spec.get("seen_source")
    if want_source is not None:
        seen = row.get("seen_source")
        if seen != str(want_source):
            ok = False
            got += f"; the destination saw {seen or 'nothing'} as the source, not {want_source}"
    via = i.spec.get("via")
    if via is not None and row["result"] != closure.CLOSED and via not in over:
        ok = False
        got += f"; over {facts['over'] or 'no peering'}, not over {via}"
    return Result(i, ok, got, facts)


def _isolated(model: Lab, i: Item, rows: List[dict]) -> Result:
    a, b = i.spec["between"]
    ok, problems, facts = closure.isolation(model, a, b, rows)
    got = f"{a} and {b} are isolated" if ok else f"{a} and {b} are not isolated: " + "; ".join(problems)
    return Result(i, ok, got, facts)


def _peering(model: Lab, i: Item, lab: str) -> Result:
    """A peering by id (or every one of a list of ids), or the live one between two VPCs, in a state."""
    s = i.spec
    rows = status.peering_rows(model)
    if "between" in s:
        a, b = s["between"]
        found = [r for r in rows if {r["vpc"], r["peer_vpc"]} == {a, b} and r["state"] in LIVE_STATES]
        return _peering_state(i, found[0] if found else None, f"the peering between {a} and {b}")
    ids = s["id"] if isinstance(s["id"], list) else [s["id"]]
    # by id: the newest peering of that name (a name can be used again once its peering is gone)
    results = [_peering_state(i, next((r for r in reversed(rows) if r["id"] == pid), None), pid) for pid in ids]
    bad = [r for r in results if not r.ok]
    return Result(i, not bad, "; ".join(r.got for r in (bad or results)), (bad or results)[0].facts)


def _peering_state(i: Item, p: Optional[dict], what: str) -> Result:
    s = i.spec
    if p is None:
        return Result(i, s["state"] == "none", f"{what}: none", {"state": "none", "peering": what})
    got = f"{p['id']} is {p['state']}" + (f", {p['bandwidth_mbps']} Mbps" if p["bandwidth_mbps"] is not None else "")
    ok = p["state"] == s["state"]
    if ok and "bandwidth" in s:
        ok = p["bandwidth_mbps"] is not None and round(p["bandwidth_mbps"] * 1000) == parse_bandwidth(s["bandwidth"])
    return Result(i, ok, got, {"state": p["state"], "bandwidth_mbps": p["bandwidth_mbps"], "peering": p["id"]})


def _route(model: Lab, i: Item, lab: str) -> Result:
    s = i.spec
    dst = ipaddress.IPv4Network(str(s["destination"]))
    table = s.get("table", "default")
    rows = [r for r in status.route_rows(model, s["vpc"])
            if r["table"] == table and ipaddress.IPv4Network(r["destination"]) == dst
            and ("next_hop" not in s or r["next_hop"] == s["next_hop"])]
    where = f"{s['vpc']}/{table} {dst}"
    if not rows:
        return Result(i, not s.get("present", True), f"{where}: no such route", {"present": False})
    r = rows[0]
    got = f"{where} via {r['next_hop']} ({r['state']})"
    ok = s.get("present", True) and ("state" not in s or r["state"] == s["state"])
    return Result(i, bool(ok), got, {"present": True, "state": r["state"], "next_hop": r["next_hop"]})


def op_call(op: str, s: dict):
    """The model change the live command `op` makes (its entry of the table of live operations),
    for a refused item."""
    bw = parse_bandwidth(s["bandwidth"]) if s.get("bandwidth") else None
    acct = s.get("as")
    if op == "peering create":
        args = (s["vpc"], s["peer_vpc"], bw, s.get("name"), acct)
    elif op == "peering modify":
        args = (s["id"], bw, acct)
    elif op == "route add":
        args = (s["vpc"], str(s["destination"]), s["next_hop"], s.get("table", "default"))
    elif op in CCN_KEYS:  # version 3: a CCN operation (its edit is in model/ccn_ops.py)
        args = (*(str(s[k]) for k in CCN_KEYS[op]), acct)
    else:
        args = (s["id"], acct)
    edit = operate.OPERATIONS[op].edit
    return lambda m: edit(m, *args)


CCN_KEYS = {"ccn attach": ("ccn", "vpc"), "ccn accept": ("ccn", "vpc"), "ccn route enable": ("ccn", "route")}
POSITIONAL = {"peering create": (), "route add": ("vpc",), **CCN_KEYS}  # other ops: the peering id


def command_text(s: dict) -> str:
    """The vpclab command a refused item stands for, as a student would type it."""
    pos = POSITIONAL.get(s["op"], ("id",))
    words = ["vpclab", *s["op"].split(), *(str(s[k]) for k in pos)]
    for k, v in s.items():
        if k not in pos and k not in ("op", "code"):
            words += [f"--{k.replace('_', '-')}", str(v)]
    return " ".join(shlex.quote(w) for w in words)


def _refused(model: Lab, i: Item, lab: str) -> Result:
    s = i.spec
    scratch = lab_from_dict(lab_to_dict(model))  # the rules run on a copy: nothing is saved or applied
    try:
        op_call(s["op"], s)(scratch)
    except Refused as e:
        return Result(i, e.code == s["code"], f"`{command_text(s)}` is refused: {e.code}: {e.message}",
                      {"code": e.code})
    return Result(i, False, f"`{command_text(s)}` would be accepted (the check did not run it)", {"code": "accepted"})


def _throughput(model: Lab, i: Item, lab: str) -> Result:
    s = i.spec
    mbps, err = iperf3(lab, s["from"], str(model.instance(s["to"]).ip), s["to"], float(s.get("seconds", 2)))
    if mbps is None:
        return Result(i, False, f"iperf3 failed: {err}", {"mbps": None})
    ok = (s.get("at_most_mbps") is None or mbps <= float(s["at_most_mbps"])) and \
         (s.get("at_least_mbps") is None or mbps >= float(s["at_least_mbps"]))
    return Result(i, ok, f"{s['from']} -> {s['to']}: {mbps:.1f} Mbps (iperf3, TCP)", {"mbps": round(mbps, 1)})


def iperf3(lab: str, src: str, dst_ip: str, dst: str, seconds: float):
    """(Mbps received, None) or (None, error): an iperf3 server in `dst`, a client in `src`."""
    vpclab = [sys.executable, "-m", "vpclab", "exec", "-l", lab]
    server = subprocess.Popen(vpclab + [dst, "--", "iperf3", "-s", "-1"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        err = "no answer"
        for _ in range(20):  # until the server listens
            try:
                p = subprocess.run(vpclab + [src, "--", "iperf3", "-c", dst_ip, "-t", str(seconds), "-J",
                                             "--connect-timeout", "2000"],
                                   capture_output=True, text=True, timeout=seconds + 15)
            except subprocess.TimeoutExpired:
                return None, f"no result from {dst} within {seconds + 15:.0f} s"
            try:
                doc = json.loads(p.stdout)
            except ValueError:
                doc = {"error": (p.stderr or p.stdout).strip()}
            if "error" not in doc:
                return doc["end"]["sum_received"]["bits_per_second"] / 1e6, None
            err = doc["error"]
            if "refused" not in err.lower():  # only a server not listening yet is worth another try
                break
            time.sleep(0.2)
        return None, err
    finally:
        if server.poll() is None:
            server.kill()  # our own child: iperf3 exec'd in place of `vpclab exec`
        server.wait()


CHECKS = {"peering": _peering, "route": _route, "refused": _refused, "throughput": _throughput}


def first_failing(results: List[Result]) -> Optional[Result]:
    return next((r for r in results if not r.ok), None)
