"""docs/architecture.md's recipes "add a kernel object kind" and "add a live operation",
done in a test.

A new kind is a plan object class with its place in the creation order
(`plan.objects.add_kind`) and a handler registered with `kernel.handlers.register`.
Nothing else is edited: the engine applies it, the read-back finds it, the diff of
a second run is empty, a change is made in place, and teardown removes it with the
namespace. The kind here is a namespace's default TTL (a per-namespace sysctl),
read independently from /proc inside the namespace.

A new live operation is one entry in controller/operate.py's OPERATIONS (its name, its
parameters, its model edit, what its event names). Registered here, `operate.run` checks
its arguments, edits the model in one transaction, logs it in `events` (a refusal too, with
its code), plans and applies the difference: the route it deletes leaves the kernel.
"""
from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass

import pytest

from kernlab import ROOT

pytestmark = [pytest.mark.kernel,
              pytest.mark.skipif(not ROOT, reason="kernel tests need root: they create network namespaces")]

if ROOT:
    from vpclab.kernel import handlers, netns, teardown
    from vpclab.kernel.engine import apply
    from vpclab.kernel.handlers.base import Handler
    from vpclab.controller import events as event_log
    from vpclab.controller import operate, status
    from vpclab.errors import Refused
    from vpclab.kernel.inspect import read_lab
    from vpclab.model import lifecycle
    from vpclab.plan import names as N
    from vpclab.plan import objects
    from vpclab.plan.diff import diff
    from vpclab.plan.objects import Kind, Netns

TTL = "net/ipv4/ip_default_ttl"
DEFAULT_TTL = "64"


@dataclass(frozen=True)
class DefaultTtl(Kind if ROOT else object):
    """The fake kind: a namespace's default IP TTL."""
    ns: str
    value: str
    kind = "ttl"
    changeable = True

    @property
    def key(self):
        return ("ttl", self.ns)

    def describe(self) -> str:
        return f"default ttl {self.value} in {self.ns}"


def _write(value: str) -> None:
    with open("/proc/sys/" + TTL, "w") as f:
        f.write(value)


def _read() -> str:
    with open("/proc/sys/" + TTL) as f:
        return f.read().strip()


class TtlHandler(Handler if ROOT else object):
    kind = "ttl"

    def create(self, s, a) -> None:
        netns.run_in(a.obj.ns, lambda: _write(a.obj.value))
        s.result.done += 1

    def delete(self, s, a) -> None:
        if s.live(a.obj.ns):
            netns.run_in(a.obj.ns, lambda: _write(DEFAULT_TTL))
        s.result.done += 1

    def read(self, view):
        value = view.run(_read)
        return [DefaultTtl(view.ns, value)] if value != DEFAULT_TTL else []


@pytest.fixture(scope="module")
def ttl_kind():
    objects.add_kind("ttl", after="sysctl")
    handlers.register(TtlHandler())
    yield
    handlers.REGISTRY.remove(handlers.BY_KIND.pop("ttl"))
    objects.ORDER.remove("ttl")


def seen_in_kernel(ns: str) -> str:
    """The TTL as `ip netns exec` shows it: a reading that shares no code with the handler."""
    return subprocess.run(["ip", "netns", "exec", ns, "cat", "/proc/sys/" + TTL], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_a_kind_added_from_a_test_is_applied_read_back_changed_and_torn_down(ttl_kind):
    lab = "xk" + secrets.token_hex(2)
    ns = N.vpc_ns(lab, "a")
    want = [Netns(ns, True), DefaultTtl(ns, "33")]
    try:
        apply(diff(want, read_lab(lab)))
        assert seen_in_kernel(ns) == "33"
        assert DefaultTtl(ns, "33") in read_lab(lab)
        assert diff(want, read_lab(lab)) == []  # idempotent: a second run has nothing to do
        changed = [Netns(ns, True), DefaultTtl(ns, "44")]
        actions = diff(changed, read_lab(lab))
        assert [(a.op, a.obj) for a in actions] == [("change", DefaultTtl(ns, "44"))]
        apply(actions)
        assert seen_in_kernel(ns) == "44"
    finally:
        teardown.remove_lab_namespaces(N.lab_prefix(lab))
    assert netns.list_names(N.lab_prefix(lab)) == [], "the test's namespace was left behind"


def kernel_routes(ns: str, table: int) -> str:
    return subprocess.run(["ip", "netns", "exec", ns, "ip", "route", "show", "table", str(table)],
                          capture_output=True, text=True, check=True).stdout


def test_a_live_operation_added_from_a_test_edits_logs_and_applies(mklab, monkeypatch):
    from labkit import TOPOLOGIES

    def forget_peer_route(model, vpc):  # the model edit: the default table's route to the peer
        return lifecycle.del_route(model, vpc, "10.1.0.0/16", "pcx-ab", "default")

    op = operate.Operation("route forget", (("vpc", "str"),), forget_peer_route, lambda a: a["vpc"])
    monkeypatch.setitem(operate.OPERATIONS, op.name, op)
    lab, _ = mklab(TOPOLOGIES / "01-two-vpcs.yaml")
    router = N.vpc_ns(lab, "vpc-a")
    assert "10.1.0.0/16" in kernel_routes(router, 100)
    with pytest.raises(Refused) as refused:
        operate.run(lab, "route forget", "vpc-z")
    assert refused.value.code == "ResourceNotFound"
    assert "10.1.0.0/16" in kernel_routes(router, 100)  # a refusal changes nothing
    operate.run(lab, "route forget", "vpc-a")
    assert "10.1.0.0/16" not in kernel_routes(router, 100)
    logged = [(e["action"], e["target"], e["result"]) for e in event_log.read(lab)][-2:]
    assert logged == [("route forget", "vpc-z", "refused: ResourceNotFound"), ("route forget", "vpc-a", "ok")]
    assert status.status(lab)["status"] == "ready"
