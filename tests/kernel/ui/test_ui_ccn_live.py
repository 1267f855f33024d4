"""The web view's CCN in a real browser against a real lab (issue 23): the CCN is drawn as a box
joined to each attached VPC in the attachment's state, with its disabled routes marked; its
panel's buttons run the same live operations as `vpclab ccn` (accept a PENDING attachment,
disable a route) and real packets follow."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from labkit import needs_root, run_json  # noqa: E402
from uikit import chromium, open_view, ui_server  # noqa: E402

pytestmark = [needs_root, pytest.mark.kernel]

TOPO = """\
lab: placeholder
accounts: [alice, bob]
regions: {ap-guangzhou: {}}
vpcs:
  vpc-a: {account: alice, region: ap-guangzhou, cidr: 10.0.0.0/16, subnets: {app: {cidr: 10.0.1.0/24}},
          instances: {cvm-1: {subnet: app, ip: 10.0.1.10}}}
  vpc-b: {account: alice, region: ap-guangzhou, cidr: 10.1.0.0/16, subnets: {app: {cidr: 10.1.1.0/24}},
          instances: {cvm-1: {subnet: app, ip: 10.1.1.10}}}
  vpc-c: {account: bob, region: ap-guangzhou, cidr: 10.2.0.0/16, subnets: {app: {cidr: 10.2.1.0/24}},
          instances: {cvm-1: {subnet: app, ip: 10.2.1.10}}}
ccns:
  ccn-core:
    account: alice
    attachments:
      - {vpc: vpc-a}
      - {vpc: vpc-b}
      - {vpc: vpc-c}
"""


def _probe(lab, src, dst):
    return run_json("probe", src, dst, "-l", lab, check=None)["result"]


def test_the_page_draws_the_ccn_and_its_buttons_change_real_packets(mklab):
    lab, _ = mklab(TOPO)
    assert _probe(lab, "vpc-a/cvm-1", "vpc-c/cvm-1") == "unreachable"  # vpc-c is PENDING
    with ui_server(lab) as (url, _), chromium() as page:
        open_view(page, url)
        page.wait_for_selector(".ccn[data-ccn='ccn-core'] rect.box")
        lines = dict(page.eval_on_selector_all(".ccn[data-ccn='ccn-core'] line.ccn-att",
                                               "els => els.map(e => [e.dataset.vpc, e.classList[1]])"))
        assert lines == {"vpc-a": "ACTIVE", "vpc-b": "ACTIVE", "vpc-c": "PENDING"}
        assert page.locator(".ccn text.off").count() == 0  # no route is disabled yet

        # bob's VPC is PENDING: alice accepts it from the CCN panel
        page.click("button.tab[data-tab='peerings']")
        page.select_option("#actor", "alice")
        page.click("#ccns table[data-ccn='ccn-core'] tr[data-vpc='vpc-c'] button[data-event='accept']")
        page.wait_for_selector(".ccn line.ccn-att.ACTIVE[data-vpc='vpc-c']", timeout=20000)
        assert _probe(lab, "vpc-a/cvm-1", "vpc-c/cvm-1") == "reachable"

        # disabling vpc-c's route asks first, then marks it in the picture and the panel
        route = "10.2.1.0/24@vpc-c"
        page.select_option("#actor", "")
        page.click(f"#ccns tr[data-route='{route}'] button[data-event='route-disable']")
        page.wait_for_selector(f"#ccns tr[data-route='{route}'].disabled", timeout=20000)
        assert any("Disable 10.2.1.0/24@vpc-c" in d for d in page.dialogs)
        assert page.eval_on_selector_all(".ccn text.off", "els => els.map(e => e.textContent)") == [
            f"\u2717 {route} disabled"]
        assert _probe(lab, "vpc-a/cvm-1", "vpc-c/cvm-1") == "unreachable"
        # the routes tab: vpc-a's table lists what the CCN delivers, next hop the CCN
        page.click(".vpc[data-vpc='vpc-a'] text.title")
        page.click("button.tab[data-tab='routes']")
        hops = page.eval_on_selector_all("#routes table[data-table='default'] tr[data-ccn-route]",
                                         "els => els.map(e => e.children[1].textContent)")
        assert hops == ["ccn-core (CCN)"]  # vpc-b's route only: vpc-c's is disabled in the CCN
        # create a second CCN as bob, then delete it (asked first): the same rows as the CLI's
        page.click("button.tab[data-tab='peerings']")
        page.select_option("#actor", "bob")
        page.click("#ccns button[data-event='ccn-create']")
        page.wait_for_function("() => document.querySelectorAll('#ccns table[data-ccn]').length === 2",
                               timeout=20000)
        new = [c["id"] for c in run_json("status", "-l", lab)["ccns"] if c["id"] != "ccn-core"]
        assert len(new) == 1
        page.click(f"#ccns table[data-ccn='{new[0]}'] button[data-event='delete']")
        page.wait_for_function("() => document.querySelectorAll('#ccns table[data-ccn]').length === 1",
                               timeout=20000)
        assert any(f"Delete {new[0]}?" in d for d in page.dialogs)
        # ccn-core still has its VPCs: its delete button is disabled, saying why
        assert page.is_disabled("#ccns table[data-ccn='ccn-core'] button[data-event='delete']")
        assert page.errors == []
    events = [(e["action"], e["actor"]) for e in run_json("events", "-l", lab)["events"]
              if e["action"].startswith("ccn")]
    assert events == [("ccn accept", "alice"), ("ccn route disable", "alice"), ("ccn create", "bob"),
                      ("ccn delete", "bob")]
