"""The web view in a real browser (headless Chromium) against real labs built from the
shipped topologies under random names: the picture, click-to-probe giving `vpclab
probe`'s verdict, a lifecycle button, and a change from the terminal appearing live."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from labkit import TOPOLOGIES, needs_root, run, run_json  # noqa: E402
from uikit import chromium, open_view, ui_server  # noqa: E402

pytestmark = [needs_root, pytest.mark.kernel]


def test_the_page_draws_a_shipped_lab_and_its_routes(mklab):
    lab, _ = mklab(TOPOLOGIES / "03-hub-spokes.yaml")
    status = run_json("status", "-l", lab)
    with ui_server(lab) as (url, _), chromium() as page:
        open_view(page, url)
        assert page.url == url.split("?")[0]  # the token is traded for a cookie, not left in the URL
        assert page.inner_text("#lab-name") == lab
        drawn = page.eval_on_selector_all(".inst", "els => els.map(e => e.dataset.ref)")
        assert sorted(drawn) == sorted(f"{v['name']}/{i['name']}" for v in status["vpcs"] for i in v["instances"])
        kinds = dict(page.eval_on_selector_all(".inst", "els => els.map(e => [e.dataset.ref, e.classList[1]])"))
        assert kinds["hub/db-1"] == "cdb" and kinds["hub/cache-1"] == "cmem" and kinds["hub/cvm-1"] == "cvm"
        labels = page.eval_on_selector_all("#topo-peering-labels .peering",
                                           "els => els.map(e => [e.dataset.label, e.classList[1]])")
        assert sorted(labels) == sorted([p["id"], p["state"]] for p in status["peerings"])
        before = page.eval_on_selector_all(".vpc > rect.box", "els => els.map(e => e.getAttribute('x'))")
        page.reload()
        page.wait_for_selector("body[data-ready='1']")
        assert page.eval_on_selector_all(".vpc > rect.box", "els => els.map(e => e.getAttribute('x'))") == before
        page.click(".vpc[data-vpc='hub'] text.title")
        rows = page.eval_on_selector_all("#routes table[data-table='default'] tr",
                                         "els => els.slice(1).map(e => e.children[0].textContent)")
        assert rows == ["10.0.0.0/16"] + [r["destination"] for r in status["routes"] if r["vpc"] == "hub"]
        # The port field follows the protocol: none for icmp, a service instance's own port for tcp.
        db = next(i for v in status["vpcs"] if v["name"] == "hub" for i in v["instances"] if i["name"] == "db-1")
        page.click("button.tab[data-tab='probe']")
        assert db["port"] and page.is_disabled("#probe-port")
        page.select_option("#probe-dst", "hub/db-1")
        page.select_option("#probe-proto", "tcp")
        assert not page.is_disabled("#probe-port") and page.input_value("#probe-port") == str(db["port"])
        page.select_option("#probe-proto", "icmp")
        assert page.is_disabled("#probe-port") and page.input_value("#probe-port") == ""
        assert page.errors == []


def test_clicking_two_instances_shows_the_verdict_of_vpclab_probe(mklab):
    lab, _ = mklab(TOPOLOGIES / "02-one-way-route.yaml")
    cli = run_json("probe", "vpc-a/cvm-1", "vpc-b/cvm-1", "-l", lab)
    assert cli["result"] == "no-return"
    with ui_server(lab) as (url, _), chromium() as page:
        open_view(page, url)
        page.click("[data-ref='vpc-a/cvm-1']")
        page.click("[data-ref='vpc-b/cvm-1']")
        badge = page.wait_for_selector("#verdict .badge", timeout=20000)
        assert badge.get_attribute("data-result") == cli["result"]
        text = page.inner_text("#verdict")
        assert cli["reason"]["code"] in text and "The reply stopped at vpc-b" in text
        # The animation goes out, comes back as far as the reply went, and marks where it stopped.
        page.wait_for_selector("#overlay .stopmark", timeout=15000)
        assert page.text_content("#overlay .stopmark text.code") == cli["reason"]["code"]
        assert page.get_attribute("#overlay .stopmark", "data-at") == cli["return"]["last_hop"]
        assert "reply stopped" in page.text_content("#overlay .stopmark text.words")
        assert page.get_attribute("#overlay", "data-source") == ("evidence" if cli.get("evidence") else "paths")
        # one trail segment per hop the packet moved, in the request's colour out and the reply's back
        fwd_hops = len(cli["forward"]["path"]) - 1
        assert page.locator("#overlay .trail.fwd").count() == fwd_hops
        assert page.locator("#overlay .trail.ret").count() >= 1
        stop = page.inner_text("#verdict .leg.ret .hop.stop")
        assert stop.startswith(cli["return"]["last_hop"])
        assert page.errors == []


def test_accept_as_the_other_account_turns_the_peering_active(mklab):
    lab, _ = mklab(TOPOLOGIES / "05-cross-account.yaml")
    refused = run("peering", "accept", "pcx-alice-bob", "--as", "alice", "-l", lab, "--json", check=2)
    code = __import__("json").loads(refused.stdout)["error"]["code"]
    with ui_server(lab) as (url, _), chromium() as page:
        open_view(page, url)
        page.click("button.tab[data-tab='peerings']")
        row = "#peerings tr[data-id='pcx-alice-bob']"
        assert page.inner_text(f"{row} .state") == "PENDING"
        # the requester cannot accept: the refusal shows the cloud's code, and nothing changes
        page.select_option("#actor", "alice")
        page.click(f"{row} button[data-event='accept']")
        page.wait_for_selector("#action-msg .err code", timeout=20000)
        assert page.inner_text("#action-msg .err code") == code
        page.select_option("#actor", "bob")
        page.click(f"{row} button[data-event='accept']")
        page.wait_for_selector(f"{row} .state:text-is('ACTIVE')", timeout=20000)
        page.wait_for_selector("#topo-peering-labels .peering.ACTIVE[data-label='pcx-alice-bob']")
        assert "bob peering accept pcx-alice-bob ok" in page.inner_text("#events")
        assert page.errors == []
    assert [p["state"] for p in run_json("peering", "list", "-l", lab)["peerings"]] == ["ACTIVE"]


def test_a_route_added_in_the_terminal_appears_without_reload(mklab):
    lab, _ = mklab(TOPOLOGIES / "02-one-way-route.yaml")
    with ui_server(lab) as (url, _), chromium() as page:
        open_view(page, url)
        page.evaluate("window.notReloaded = true")
        page.click(".vpc[data-vpc='vpc-b'] text.title")
        box = page.locator("#topo").bounding_box()
        home = page.get_attribute("#topo", "viewBox")
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.wheel(0, -300)  # zoom in: the state refresh below must keep it
        for _ in range(50):  # the wheel handler runs on the page's next turn
            zoomed = page.get_attribute("#topo", "viewBox")
            if zoomed != home:
                break
            page.wait_for_timeout(20)
        assert zoomed != home
        run("route", "add", "vpc-b", "--destination", "10.0.0.0/16", "--next-hop", "pcx-ab", "-l", lab, check=0)
        page.wait_for_selector("#events li:has-text('route add vpc-b/default 10.0.0.0/16')", timeout=5000)
        page.wait_for_selector("#routes table[data-table='default'] tr.active >> text=pcx-ab", timeout=5000)
        assert page.evaluate("window.notReloaded") is True
        assert page.get_attribute("#topo", "viewBox") == zoomed
        assert page.errors == []


def test_a_matrix_cell_runs_that_probe(mklab):
    lab, _ = mklab(TOPOLOGIES / "03-hub-spokes.yaml")
    insts = [f"{v['name']}/{i['name']}" for v in run_json("status", "-l", lab)["vpcs"] for i in v["instances"]]
    with ui_server(lab) as (url, _), chromium() as page:
        open_view(page, url)
        page.click("button.tab[data-tab='matrix']")
        page.click("#matrix-go")
        page.wait_for_selector("#matrix-msg:has-text('probes in')", timeout=60000)
        cli = run_json("matrix", "-l", lab)
        msg = page.inner_text("#matrix-msg")
        assert msg.startswith(f"{len(cli['pairs'])} probes in")
        assert msg.endswith(f"{cli['summary']['reachable']} reachable, {cli['summary']['no-return']} no-return, "
                            f"{cli['summary']['unreachable']} unreachable")
        # rows and columns are labelled (issue 22): one row per instance, one column per destination and port
        assert page.eval_on_selector_all("#matrix text.row", "els => els.map(e => e.textContent)") == insts
        cell = "#matrix rect.cell[data-src='spoke-1/cvm-1'][data-dst='spoke-2/cvm-1'][data-proto='icmp']"
        page.hover(cell)
        assert page.inner_text("#matrix-hover").startswith("spoke-1/cvm-1 → spoke-2/cvm-1: unreachable")
        page.click(cell)
        badge = page.wait_for_selector("#verdict .badge", timeout=20000)
        assert badge.get_attribute("data-result") == "unreachable"
        assert "NO_ROUTE" in page.inner_text("#verdict")  # spoke-1 has no route to a peer of its peer
        assert page.get_attribute("[data-ref='spoke-1/cvm-1']", "class").endswith("src")
        assert page.errors == []


def test_clock_advance_expires_a_pending_peering(mklab):
    lab, _ = mklab(TOPOLOGIES / "05-cross-account.yaml")
    with ui_server(lab) as (url, _), chromium() as page:
        open_view(page, url)
        page.click("button.tab[data-tab='peerings']")
        page.fill("#clock-by", "8d")
        page.click("#clock-go")
        page.wait_for_selector("#peerings tr[data-id='pcx-alice-bob'] .state:text-is('EXPIRED')", timeout=20000)
        # the live state can arrive before the POST's own answer fills the message: wait for it
        page.wait_for_selector("#action-msg:has-text('expired: pcx-alice-bob')", timeout=20000)
        assert page.inner_text("#clock") == "lab clock 8d"
        page.fill("#clock-by", "soon")
        page.click("#clock-go")
        page.wait_for_selector("#action-msg .err code", timeout=20000)
        assert page.inner_text("#action-msg .err code") == "InvalidParameterValue"
        assert page.errors == []
    assert [p["state"] for p in run_json("peering", "list", "-l", lab)["peerings"]] == ["EXPIRED"]


def test_reject_and_delete_buttons_act_as_the_chosen_account_and_show_the_cloud_code(mklab):
    lab, _ = mklab(TOPOLOGIES / "05-cross-account.yaml")
    refused = run("peering", "reject", "pcx-alice-bob", "--as", "alice", "-l", lab, "--json", check=2)
    code = __import__("json").loads(refused.stdout)["error"]["code"]
    with ui_server(lab) as (url, _), chromium() as page:
        open_view(page, url)
        page.click("button.tab[data-tab='peerings']")
        row = "#peerings tr[data-id='pcx-alice-bob']"
        page.select_option("#actor", "alice")  # the requester cannot reject its own request
        page.click(f"{row} button[data-event='reject']")
        page.wait_for_selector("#action-msg .err code", timeout=20000)
        assert page.inner_text("#action-msg .err code") == code
        assert page.inner_text(f"{row} .state") == "PENDING"
        page.select_option("#actor", "bob")
        page.click(f"{row} button[data-event='reject']")
        page.wait_for_selector(f"{row} .state:text-is('REJECTED')", timeout=20000)
        page.wait_for_selector("#topo-peering-labels .peering.REJECTED[data-label='pcx-alice-bob']")
        page.click(f"{row} button[data-event='delete']")
        page.wait_for_selector("#action-msg .okmsg, #action-msg .err", timeout=20000)
        shown_state = page.inner_text(f"{row} .state") if page.locator(row).count() else None
        assert page.errors == []
    after = {p["id"]: p["state"] for p in run_json("peering", "list", "-l", lab)["peerings"]}
    assert after.get("pcx-alice-bob") == shown_state
    events = [(e["actor"], e["action"], e["result"]) for e in run_json("events", "-l", lab)["events"]]
    assert ("bob", "peering reject", "ok") in events
