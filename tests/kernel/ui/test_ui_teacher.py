"""The web view for a teacher (issue 22, "The web view on a projector"), in a real browser
(Debian's Chromium through Playwright): the matrix labelled and covering EIPs, Internet hosts
and service ports; each side of a peering drawn as `vpclab graph` draws it; results greyed
once the lab changes; confirmation before destructive buttons; private addresses, the seen
source and EIPs as probe targets; presentation mode (18 px text at 1280 x 720, no label on
another, a gentle zoom step).

The labs are shipped topologies seeded into a temporary state directory (no kernel, no root);
`vpclab ui` runs as a real process on them. A change "from another terminal" is a write to
the lab's store, as a command makes it. Probe answers the page shows are explain's documents
(or a matrix built from explain over the same targets `vpclab matrix` asks), handed to the
page's own drawing functions. Screenshots go to the test's temporary directory.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from uikit import chromium, open_view, seed, ui_server  # noqa: E402

from vpclab import explain as analyze  # noqa: E402
from vpclab.controller.targets import host_targets, matrix_targets  # noqa: E402
from vpclab.model import lifecycle  # noqa: E402
from vpclab.state import store  # noqa: E402
from vpclab.state.rundir import RunDir  # noqa: E402
from vpclab.ui import animation  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
T02, T05, T06 = (ROOT / "topologies" / n for n in ("02-one-way-route.yaml", "05-cross-account.yaml",
                                                    "06-internet-vs-peering.yaml"))
PROJECTOR = (1280, 720)


@pytest.fixture
def seeded(tmp_path, monkeypatch):
    """seeded(topology, name) -> (lab name, model, state dir): the lab as `up` leaves it, no kernel."""
    monkeypatch.setattr("vpclab.state.rundir.current", RunDir(tmp_path))

    def make(topology: Path, name: str):
        lab = seed(tmp_path, topology, name)
        return lab, read_model(lab), tmp_path
    return make


def read_model(lab: str):
    with store.Store(lab).tx() as tx:
        return tx.model()


def change(lab: str, what, action: str, target: str) -> None:
    """A change to the lab's model as a command writes it: the model and an event, in one transaction."""
    with store.Store(lab).tx() as tx:
        model = tx.model()
        what(model)
        tx.save_model(model)
        tx.event(model.clock, "test", action, target, "ok")


def boxes_overlapping(page, selector: str) -> list:
    """Every pair of visible texts under `selector` whose boxes on the screen overlap (by more
    than half a pixel each way), computed in the browser as graph's tests do with Graphviz's."""
    return page.evaluate("""sel => {
        const ts = [...document.querySelectorAll(sel)].filter(t => {
            const r = t.getBoundingClientRect(), st = getComputedStyle(t);
            return r.width > 0 && r.height > 0 && st.visibility !== 'hidden' && st.display !== 'none' && t.textContent.trim();
        }).map(t => { const r = t.getBoundingClientRect(); return [t.textContent, r.left, r.top, r.right, r.bottom]; });
        const out = [];
        for (let i = 0; i < ts.length; i++) for (let j = i + 1; j < ts.length; j++) {
            const a = ts[i], b = ts[j];
            if (a[1] + 0.5 < b[3] && b[1] + 0.5 < a[3] && a[2] + 0.5 < b[4] && b[2] + 0.5 < a[4]) out.push([a[0], b[0]]);
        }
        return out; }""", selector)


def smallest_svg_text_px(page) -> list:
    """(text, size on the screen in px) of the picture's texts, smallest first."""
    return page.evaluate("""() => {
        const s = document.querySelector('#topo').getScreenCTM().a;
        return [...document.querySelectorAll('#topo text')].filter(t => t.getBoundingClientRect().width > 0)
            .map(t => [t.textContent, parseFloat(getComputedStyle(t).fontSize) * s]).sort((a, b) => a[1] - b[1]); }""")


def smallest_page_text_px(page) -> list:
    """(text, px) of the page's visible HTML text (panel, header, legend, events), smallest first."""
    return page.evaluate("""() => {
        const out = [];
        for (const e of document.querySelectorAll('body *:not(svg):not(svg *):not(script):not(style)')) {
            const own = [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
            if (!own || !e.getClientRects().length || e.closest('[hidden]')) continue;
            out.push([e.textContent.trim().slice(0, 30), parseFloat(getComputedStyle(e).fontSize)]);
        }
        return out.sort((a, b) => a[1] - b[1]); }""")


# ---- presentation mode ------------------------------------------------------------------------------


PRESENT_PROBE = {"02-one-way-route.yaml": ("vpc-a/cvm-1", "vpc-b/cvm-1"),  # the reply stops at vpc-b's router
                 "05-cross-account.yaml": ("alice-vpc/cvm-1", "bob-vpc/cvm-1")}  # PENDING: stops at alice-vpc


@pytest.mark.parametrize("topology", [T02, T05], ids=["02-one-way-route", "05-cross-account"])
def test_presentation_mode_text_is_18px_or_more_and_no_label_sits_on_another(seeded, topology, tmp_path):
    lab, model, run_dir = seeded(topology, "uipres")
    with ui_server(lab, run_dir) as (url, _), chromium(viewport=PROJECTOR) as page:
        open_view(page, url)
        normal = smallest_svg_text_px(page)
        assert normal[0][1] < 18  # the everyday picture is small: what the mode is for
        page.click("#present-toggle")
        page.wait_for_selector("body.present")
        texts = smallest_svg_text_px(page)
        refs = {i.ref.split("/")[1] for i in model.instances()} | set(model.vpcs) | set(model.peerings)
        drawn = " ".join(t for t, _ in texts)
        assert all(r in drawn for r in refs)
        assert texts[0][1] >= 18, texts[:5]
        assert smallest_page_text_px(page)[0][1] >= 18, smallest_page_text_px(page)[:5]
        assert boxes_overlapping(page, "#topo text") == []
        # and with a probe's answer drawn on it: where it stopped, and why
        doc = analyze.explain(model, *PRESENT_PROBE[topology.name]).to_json()
        doc["animation"] = animation.steps(doc)
        page.evaluate("doc => { showVerdict(doc, 'explain'); return animate(doc); }", doc)
        assert page.locator("#overlay .stopmark").count() == 1
        assert smallest_svg_text_px(page)[0][1] >= 18
        assert boxes_overlapping(page, "#topo text") == []
        page.screenshot(path=str(tmp_path / f"present-{lab}.png"))
        # the URL keeps it (a reload, or a link given to the room)
        page.reload()
        page.wait_for_selector("body[data-ready='1'].present")
        assert smallest_svg_text_px(page)[0][1] >= 18
        assert page.errors == []


def test_presentation_mode_from_the_url_and_a_gentle_zoom_step(seeded):
    lab, _, run_dir = seeded(T02, "uizoom")
    with ui_server(lab, run_dir) as (url, _), chromium(viewport=PROJECTOR) as page:
        open_view(page, url + "#present")
        assert page.evaluate("document.body.classList.contains('present')")
        box = page.locator("#topo").bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        before = float(page.get_attribute("#topo", "viewBox").split()[2])
        page.mouse.wheel(0, -100)  # one notch of a mouse wheel
        page.wait_for_function(f"document.querySelector('#topo').getAttribute('viewBox').split(' ')[2] != '{before}'")
        after = float(page.get_attribute("#topo", "viewBox").split()[2])
        assert 0.88 <= after / before < 1  # about 10 % a notch (it was 18 %)
        page.mouse.wheel(0, -2000)  # a fast flick is still one gentle step
        page.wait_for_function(f"document.querySelector('#topo').getAttribute('viewBox').split(' ')[2] != '{after}'")
        assert 0.88 <= float(page.get_attribute("#topo", "viewBox").split()[2]) / after < 1
        assert page.errors == []


# ---- peerings: each side's routing, results gone stale, asking before destroying -----------------------


def side_styles(page, pid: str) -> dict:
    return dict(page.eval_on_selector_all(
        f"#topo-peerings .peering[data-id='{pid}'] path.side",
        "els => els.map(e => [e.dataset.vpc, [getComputedStyle(e).stroke, getComputedStyle(e).strokeDasharray]])"))


def test_a_one_way_peering_is_red_and_dashed_on_the_side_without_a_route_back(seeded, tmp_path):
    lab, model, run_dir = seeded(T02, "uioneway")
    red, green = "rgb(196, 50, 10)", "rgb(26, 143, 76)"  # style.css --bad, --active
    with ui_server(lab, run_dir) as (url, _), chromium(viewport=PROJECTOR) as page:
        open_view(page, url)
        sides = side_styles(page, "pcx-ab")
        assert set(sides) == {"vpc-a", "vpc-b"}
        assert sides["vpc-b"][0] == red and sides["vpc-b"][1] != "none"  # vpc-b has no route back
        assert sides["vpc-a"][0] == green and sides["vpc-a"][1] == "none"
        assert "vpc-b has no route back" in page.text_content("#topo-peering-labels .peering[data-label='pcx-ab'] title")
        page.screenshot(path=str(tmp_path / "oneway.png"))
        # the return route added from a terminal: both sides green, live
        change(lab, lambda m: lifecycle.add_route(m, "vpc-b", "10.0.0.0/16", "pcx-ab"), "route add", "vpc-b")
        page.wait_for_selector("#topo-peerings .peering[data-id='pcx-ab'] path.side[data-vpc='vpc-b'][data-side='ok']")
        assert {v: s[0] for v, s in side_styles(page, "pcx-ab").items()} == {"vpc-a": green, "vpc-b": green}
        assert page.errors == []


def test_results_are_greyed_and_the_overlay_cleared_once_the_lab_changes(seeded):
    lab, model, run_dir = seeded(T02, "uistale")
    doc = analyze.explain(model, "vpc-a/cvm-1", "vpc-b/cvm-1").to_json()
    assert doc["reason"]["code"] == "NO_ROUTE"
    doc["animation"] = animation.steps(doc)
    with ui_server(lab, run_dir) as (url, _), chromium(viewport=PROJECTOR) as page:
        open_view(page, url)
        page.evaluate("doc => { showVerdict(doc, 'explain'); return animate(doc); }", doc)
        page.evaluate("m => { ui.matrix = m; drawMatrix(); }", model_matrix(model))
        assert page.locator("#overlay .stopmark").count() == 1
        assert "stale" not in (page.get_attribute("#verdict", "class") or "")
        assert "stale" not in (page.get_attribute("#matrix", "class") or "")
        # an event that changes nothing (a probe logged) leaves the answer as it is
        with store.Store(lab).tx() as tx:
            tx.event(0, "web view", "probe", "vpc-a/cvm-1 -> vpc-b/cvm-1", "no-return")
        page.wait_for_selector("#events li:has-text('no-return')")
        assert page.locator("#overlay .stopmark").count() == 1
        # the peering deleted from a terminal: the NO_ROUTE drawn over it goes, the verdict is greyed
        change(lab, lambda m: lifecycle.apply_event(m, "pcx-ab", "delete"), "peering delete", "pcx-ab")
        page.wait_for_selector("#verdict.stale .stale-note")
        assert page.locator("#overlay > *").count() == 0
        assert "stale" in page.get_attribute("#matrix", "class")  # the matrix too
        assert "changed" in page.inner_text("#matrix-msg .stale-note")
        assert "changed" in page.inner_text("#verdict .stale-note")
        # its row in Peerings: DELETED, nothing to press
        page.click("button.tab[data-tab='peerings']")
        row = "#peerings tr[data-id='pcx-ab']"
        page.wait_for_selector(f"{row} .state:text-is('DELETED')")
        assert page.eval_on_selector_all(f"{row} button", "bs => bs.map(b => b.disabled)") == [True, True, True]
        # a new answer is not stale
        page.evaluate("doc => showVerdict(doc, 'explain')", doc)
        assert "stale" not in page.get_attribute("#verdict", "class")
        assert page.errors == []


def test_destructive_buttons_ask_first_and_a_no_sends_nothing(seeded):
    lab, _, run_dir = seeded(T05, "uiask")
    with ui_server(lab, run_dir) as (url, _), chromium(viewport=PROJECTOR) as page:
        open_view(page, url)
        page.click("button.tab[data-tab='peerings']")
        row = "#peerings tr[data-id='pcx-alice-bob']"
        page.dialog_answer = False
        sent = []
        page.on("request", lambda r: sent.append(r.url) if "/api/peering/" in r.url or "/api/clock" in r.url else None)
        for ev in ("delete", "reject"):
            page.click(f"{row} button[data-event='{ev}']")
            page.wait_for_selector(f"#action-msg:has-text('{ev} pcx-alice-bob: not sent')")
        page.click("#clock-go")
        page.wait_for_selector("#action-msg:has-text('clock advance: not sent')")
        assert [d.split(" ")[0] for d in page.dialogs] == ["Delete", "Reject", "Advance"]
        assert "pcx-alice-bob" in page.dialogs[0] and "blackholes" in page.dialogs[0]
        assert sent == []
        assert page.inner_text(f"{row} .state") == "PENDING"
        assert page.errors == []
    with store.Store(lab).tx() as tx:
        assert not [e for e in tx.events() if e["action"].startswith(("peering", "clock"))]


# ---- lab 09's lesson: private addresses, the seen source, an EIP as a target ----------------------------


def test_private_ips_the_seen_source_and_an_eip_as_a_probe_target(seeded):
    lab, model, run_dir = seeded(T06, "uieip")
    web_a, cvm_c = model.instance("vpc-a/web-a"), model.instance("vpc-c/cvm-c")
    with ui_server(lab, run_dir) as (url, _), chromium() as page:
        open_view(page, url)
        ips = dict(page.eval_on_selector_all(".vpc .inst", "els => els.map(e => [e.dataset.ref, e.querySelector('text.ip').textContent])"))
        assert ips == {i.ref: str(i.ip) for i in model.instances()}
        dst = page.eval_on_selector_all("#probe-dst option", "os => os.map(o => o.value)")
        src = page.eval_on_selector_all("#probe-src option", "os => os.map(o => o.value)")
        eips = [str(i.eip) for i in model.instances() if i.eip is not None]
        assert all(e in dst for e in eips) and not any(e in src for e in eips)
        # click a source, then the EIP badge of another instance: the probe goes to the public address
        page.click(f"[data-ref='{web_a.ref}'] .shape")
        with page.expect_request("**/api/probe") as req:
            page.click(f".eip-badge[data-eip='{cvm_c.eip}']")
        assert req.value.post_data_json["src"] == web_a.ref and req.value.post_data_json["dst"] == str(cvm_c.eip)
        assert page.get_attribute(f".eip-badge[data-eip='{cvm_c.eip}']", "class").endswith("dst")
        # the answer names the source the destination saw: web-a's EIP, not its private address
        doc = analyze.explain(model, web_a.ref, str(cvm_c.eip)).to_json()
        assert doc["result"] == "reachable" and doc["seen_source"] == str(web_a.eip)
        page.evaluate("doc => showVerdict(doc, 'explain')", doc)
        seen = page.inner_text("#seen-source")
        assert seen.startswith(f"{doc['dst']} saw the request come from {web_a.eip}")
        assert f"not {web_a.ref}'s private {web_a.ip}" in seen
        assert page.errors == []


# ---- the matrix: labelled, with EIPs, Internet hosts and service ports ----------------------------------


def model_matrix(model) -> dict:
    """`matrix --json`'s document, each pair answered by explain, over the targets `vpclab matrix` asks."""
    insts, hosts = model.instances(), list(model.internet.hosts.values()) if model.internet else []
    targets = [t for s in insts for t in matrix_targets(s, insts, hosts)] + \
              [t for h in hosts for t in host_targets(h, insts)]
    pairs = []
    for t in targets:
        d = analyze.explain(model, t.src.ref, t.dst_ref, t.proto, t.port).to_json()
        pairs.append({k: d[k] for k in ("src", "dst", "proto", "port", "result", "reason", "seen_source")})
    summary = {k: sum(p["result"] == k for p in pairs) for k in ("reachable", "no-return", "unreachable")}
    public = [str(i.eip) for i in insts if i.eip is not None] + [h.ref for h in hosts]
    return {"lab": model.name, "instances": [i.ref for i in insts], "public": public, "pairs": pairs,
            "summary": summary, "seconds": 0.01}


def test_the_matrix_labels_its_rows_and_columns_and_covers_eips_hosts_and_ports(seeded, tmp_path):
    lab, model, run_dir = seeded(T06, "uimatrix")
    m = model_matrix(model)
    hosts = [h.ref for h in model.internet.hosts.values()]
    assert any(p["src"] in hosts for p in m["pairs"]) and any(p["port"] for p in m["pairs"])
    with ui_server(lab, run_dir) as (url, _), chromium() as page:
        open_view(page, url)
        page.click("button.tab[data-tab='matrix']")
        page.evaluate("m => { ui.matrix = m; drawMatrix(); }", m)
        rows = page.eval_on_selector_all("#matrix text.row", "els => els.map(e => e.textContent)")
        cols = page.eval_on_selector_all("#matrix text.col", "els => els.map(e => e.textContent)")
        assert rows == [i.ref for i in model.instances()] + hosts  # rows: from, the Internet's hosts too
        want = {p["dst"] + ("" if p["proto"] == "icmp" else f" {p['proto']}/{p['port']}") for p in m["pairs"]}
        assert sorted(cols) == sorted(want)
        for e in m["public"]:
            assert e in cols
        assert "internet/web tcp/80" in cols
        cells = page.eval_on_selector_all("#matrix rect.cell", "els => els.map(e => [e.dataset.src, e.dataset.dst, "
                                          "e.dataset.proto, e.dataset.port, e.classList[1]])")
        assert sorted(cells) == sorted([p["src"], p["dst"], p["proto"], str(p["port"] or ""), p["result"]]
                                       for p in m["pairs"])
        assert boxes_overlapping(page, "#matrix text") == []
        # a label sits beside its row and above its column
        job = m["pairs"][[p["src"] for p in m["pairs"]].index("vpc-a/job-a")]
        row_box = page.locator("#matrix text.row[data-row='vpc-a/job-a']").bounding_box()
        cell = page.locator(f"#matrix rect.cell[data-src='vpc-a/job-a'][data-dst='{job['dst']}']"
                            f"[data-proto='{job['proto']}']").first.bounding_box()
        assert row_box["x"] + row_box["width"] <= cell["x"] + 1
        assert abs((row_box["y"] + row_box["height"] / 2) - (cell["y"] + cell["height"] / 2)) < cell["height"]
        page.hover("#matrix rect.cell[data-src='internet/web']")
        assert page.inner_text("#matrix-hover").startswith("internet/web → ")
        page.locator("#matrix").screenshot(path=str(tmp_path / "matrix.png"))
        # a port cell runs that probe with its port
        with page.expect_request("**/api/probe") as req:
            page.click("#matrix rect.cell[data-src='vpc-a/job-a'][data-dst='internet/web'][data-proto='tcp']")
        assert req.value.post_data_json == {"src": "vpc-a/job-a", "dst": "internet/web", "proto": "tcp", "port": 80}
        # in presentation mode its labels are 18 px, and still apart
        page.click("#present-toggle")
        page.click("button.tab[data-tab='matrix']")
        size = page.eval_on_selector("#matrix text.row", "e => parseFloat(getComputedStyle(e).fontSize)")
        assert size >= 18 and boxes_overlapping(page, "#matrix text") == []
        assert page.errors == []


def test_presentation_mode_keeps_a_big_labs_picture_as_it_is(tmp_path, monkeypatch):
    """A lab over PRESENT_MAX_INSTANCES has no presentation layout: its picture stays the normal one
    (not its text blown up over everything), the panel's text still grows."""
    sys.path.insert(0, str(ROOT / "bench"))
    from scale_topology import scale_yaml

    from vpclab.ui import layout

    monkeypatch.setattr("vpclab.state.rundir.current", RunDir(tmp_path))
    src = tmp_path / "big.yaml"
    src.write_text(scale_yaml(lab="uibig"))
    lab = seed(tmp_path, src, "uibig")
    assert len(read_model(lab).instances()) > layout.PRESENT_MAX_INSTANCES
    with ui_server(lab, tmp_path) as (url, _), chromium(viewport=PROJECTOR) as page:
        open_view(page, url)
        units = "() => [...document.querySelectorAll('#topo text')].map(t => getComputedStyle(t).fontSize)"
        before = page.evaluate(units)
        page.click("#present-toggle")
        page.wait_for_selector("body.present")
        assert page.get_attribute("#topo", "class") in (None, "")
        assert page.evaluate(units) == before  # the picture's text in its own units: as it was
        assert smallest_page_text_px(page)[0][1] >= 18
        assert page.errors == []
