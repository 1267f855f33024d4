"""The web view's version-2 drawing and the evidence animation in a real browser (headless
Chromium). The lab is a model built in Python (tests/uikit.py v2_model: the loader of
version-2 YAML is not on this branch) seeded into a temporary state directory, so no root
and no kernel are needed; `vpclab ui` runs as a real process on it. Packets cannot be sent
without a kernel lab, so the evidence animation is played from a probe document whose
evidence is written in `vpclab probe --json`'s shape, steps computed by the server's code."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from uikit import chromium, open_view, seed_model, ui_server, v2_model  # noqa: E402

from vpclab import explain as analyze
from vpclab.state.rundir import RunDir  # noqa: E402
from vpclab.ui import animation  # noqa: E402


@pytest.fixture
def v2lab(tmp_path, monkeypatch):
    monkeypatch.setattr("vpclab.state.rundir.current", RunDir(tmp_path))
    model = v2_model("uiv2")
    seed_model(tmp_path, model)
    return model, tmp_path


def test_the_internet_eips_groups_nat_gateways_and_acls_are_drawn_and_their_rules_shown(v2lab):
    model, run_dir = v2lab
    with ui_server(model.name, run_dir) as (url, _), chromium() as page:
        open_view(page, url)
        hosts = page.eval_on_selector_all("#internet .inst", "els => els.map(e => e.dataset.ref)")
        assert hosts == [h.ref for h in model.internet.hosts.values()]
        assert page.text_content("#internet text.sub") == str(model.internet.cidr)
        links = page.eval_on_selector_all(".inet-link", "els => els.map(e => e.dataset.vpc)")
        assert sorted(links) == ["vpc-a", "vpc-b"]  # an EIP in vpc-a, a NAT gateway in vpc-b
        eips = {r: t for r, t in page.eval_on_selector_all(
            ".vpc .inst", "els => els.map(e => [e.dataset.ref, (e.querySelector('text.eip') || {}).textContent || null])")}
        assert eips == {i.ref: (str(i.eip) if i.eip else None) for i in model.instances()}
        assert page.locator("[data-ref='vpc-a/cvm-1'] .eip-badge").count() == 1
        groups = dict(page.eval_on_selector_all(
            ".vpc .inst", "els => els.map(e => [e.dataset.ref, (e.querySelector('text.groups') || {}).textContent || ''])"))
        assert groups == {i.ref: ",".join(i.security_groups) for i in model.instances()}
        assert page.eval_on_selector_all(".nat", "els => els.map(e => e.dataset.nat)") == ["vpc-b/nat-1"]
        assert "203.0.113.20" in page.text_content(".nat[data-nat='vpc-b/nat-1']")
        acl_bound = page.eval_on_selector_all(".subnet.acl", "els => els.map(e => e.dataset.subnet)")
        assert acl_bound == ["vpc-b/data"]
        # nothing drawn outside the picture's box, nor labels cut by their subnet
        cut = page.evaluate("""() => [...document.querySelectorAll('.subnet')].filter(g => {
            const r = g.querySelector('rect').getBBox(), t = g.querySelector('text').getBBox();
            return t.x + t.width > r.x + r.width; }).map(g => g.dataset.subnet)""")
        assert cut == []
        # a subnet click: its route table, the ACL rules and the group rules side by side
        page.click(".subnet[data-subnet='vpc-b/data'] rect", position={"x": 150, "y": 30})
        assert "network ACL data-acl" in page.inner_text("#subnet-summary")
        acl = model.vpcs["vpc-b"].network_acls["data-acl"]
        rows = page.eval_on_selector_all("#routes table[data-rules='acl data-acl inbound'] tr",
                                         "els => els.slice(1).map(e => [...e.children].map(c => c.textContent))")
        assert rows[:-1] == [[str(k), r.proto, r.port_text(), r.peer, r.action] for k, r in enumerate(acl.inbound)]
        assert rows[-1][-1] == "drop"  # no rule matched
        for g in model.vpcs["vpc-b"].security_groups.values():
            n = page.locator(f"#routes table[data-rules='sg {g.name} ingress'] tr").count()
            assert n == 1 + len(g.ingress) + 1
        assert page.locator("#routes table[data-table='default']").count() == 1
        assert page.errors == []


def test_the_page_plays_evidence_and_stops_where_the_captures_last_saw_the_packet(v2lab):
    model, run_dir = v2lab
    doc = analyze.explain(model, "vpc-a/cvm-1", "vpc-b/db-1", "tcp", 3306).to_json()
    # the captures saw the request reach vpc-b's router and nothing after (dropped there)
    doc["result"] = "unreachable"
    doc["reason"] = {"code": "NETWORK_ACL_DENY", "where": "vpc-b", "table": None, "detail": "inbound rule 1",
                     "acl": "data-acl", "direction": "inbound", "rule": 1}
    doc["evidence"] = [{"at": "vpc-a/cvm-1", "dir": "request", "t_ms": 0.0},
                       {"at": "vpc-a", "dir": "request", "t_ms": 0.03},
                       {"at": "vpc-b", "dir": "request", "t_ms": 0.08}]
    doc["animation"] = animation.steps(doc)
    with ui_server(model.name, run_dir) as (url, _), chromium() as page:
        open_view(page, url)
        page.evaluate("doc => { showVerdict(doc, 'probe'); return animate(doc); }", doc)
        assert page.get_attribute("#overlay", "data-done") == "1"
        assert page.get_attribute("#overlay", "data-source") == "evidence"
        assert page.get_attribute("#overlay .stopmark", "data-at") == "vpc-b"
        assert page.text_content("#overlay .stopmark text.code") == "NETWORK_ACL_DENY"
        assert page.text_content("#overlay .stopmark text.words") == "request stopped: dropped by network ACL data-acl"
        seen = page.eval_on_selector_all("#overlay .seen", "els => els.map(e => e.dataset.at)")
        assert seen == ["vpc-a", "vpc-b"]
        assert page.locator("#overlay .trail.ret").count() == 0
        assert page.locator("#overlay .trail.fwd").count() == 3  # cvm-1 -> vpc-a -> pcx-ab -> vpc-b
        text = page.inner_text("#verdict")
        assert "The request stopped at vpc-b: a network ACL drops it (ACL data-acl, inbound, rule 1)." in text
        assert "follows the probe's captures" in text
        assert page.errors == []
