"""The filtered `up`'s nftables path (issue 24 item 1), on real namespaces.

- A namespace the apply itself created holds no table: its transaction only adds the table
  (no add + delete + add, which cost libnftables two more tables and the kernel a table
  destroyed); a namespace that already exists (a table edited by hand) still has its table
  replaced whole. Either way the read-back equals the plan.
- A context is made without the binding's `Nftables()` (which loaded the library and
  declared its prototypes again for each of the lab's namespaces), and speaks to its namespace.
"""
from __future__ import annotations

import pytest

from labkit import ROOT, lab_name, needs_root, renamed

pytestmark = [pytest.mark.kernel, needs_root]

from vpclab.plan import names as N  # noqa: E402

TOPO = """\
lab: placeholder
vpcs:
  vpc-a:
    region: ap-guangzhou
    cidr: 10.0.0.0/16
    subnets: {app: {cidr: 10.0.1.0/24}}
    security_groups:
      sg-app:
        ingress:
          - {proto: tcp, port: 22, source: 10.0.0.0/8, action: accept}
        egress:
          - {proto: all, destination: 0.0.0.0/0, action: accept}
    network_acls:
      acl-app:
        subnets: [app]
        inbound:
          - {proto: all, source: 0.0.0.0/0, action: accept}
        outbound:
          - {proto: all, destination: 0.0.0.0/0, action: accept}
    instances:
      cvm-1: {subnet: app, ip: 10.0.1.10, security_groups: [sg-app]}
"""


@pytest.fixture(scope="module", autouse=True)
def _nft():
    from vpclab.kernel import nft

    ok, why = nft.available() if ROOT else (True, "")
    if not ok:
        pytest.skip(why)


@pytest.fixture
def sent(monkeypatch):
    """Every nft transaction's text, by namespace, as the handler sends it."""
    from vpclab.kernel import nft

    out = {}
    real = nft.transact

    def spy(ns, commands, ctx=None, what=""):
        out.setdefault(ns, []).append(commands)
        return real(ns, commands, ctx, what)

    monkeypatch.setattr(nft, "transact", spy)
    return out


def test_a_fresh_namespace_gets_its_table_added_and_an_existing_one_replaced(tmp_path, sent):
    from vpclab.controller import build, teardown
    from vpclab.kernel import nft
    from vpclab.kernel.handlers.nft import DELETE

    lab = lab_name()
    path = renamed(TOPO, lab, tmp_path)
    inst, router = N.instance_ns(lab, "vpc-a", "cvm-1"), N.vpc_ns(lab, "vpc-a")
    try:
        build.up(str(path))
        assert sorted(sent) == sorted([inst, router])
        for ns, texts in sent.items():
            assert len(texts) == 1, ns
            assert '"delete"' not in texts[0], f"{ns}: a table replaced in a namespace made by this apply"
        assert build.up(str(path), dry_run=True).actions == []  # the read-back equals the plan
        listed = nft.table(inst)
        assert any(o.get("rule", {}).get("comment") == "vpclab sg vpc-a/sg-app ingress 0" for o in listed)

        # the instance's table deleted by hand: `up` again recreates it in a namespace that exists
        nft.transact(inst, DELETE, what="test: delete by hand")
        sent.clear()
        build.up(str(path))
        assert list(sent) == [inst]
        assert '"delete"' in sent[inst][0]  # replaced whole: whatever the namespace held goes
        assert build.up(str(path), dry_run=True).actions == []
    finally:
        teardown.down(lab)


def test_a_context_is_made_without_the_bindings_class(lab, monkeypatch):
    import nftables

    from vpclab.kernel import netns, nft

    ns = N.vpc_ns(lab, "x")
    netns.create(ns)

    def refuse(*a, **k):
        raise AssertionError("nftables.Nftables() made for a context")

    monkeypatch.setattr(nftables, "Nftables", refuse)
    nft.transact(ns, [{"add": {"table": nft.TABLE}}])
    assert nft.tables(ns) == [("inet", "vpclab")]  # the context speaks to the namespace it was made in
    ctx = nft.context(ns)
    rc, out, err = ctx.json_cmd({"nftables": [{"list": {"table": {"family": "inet", "name": "nope"}}}]})
    assert rc != 0 and "No such file or directory" in err
    assert ctx.set_json_output(False) is True  # was on; now text
    rc, out, _ = ctx.cmd("list tables")
    assert rc == 0 and "table inet vpclab" in out
