"""The web view without a browser and without root: its security checks, its API's errors,
the live event stream, the layout, and `vpclab ui` as a real process.

A lab's state is seeded straight into a store under a temporary run directory (the
model of a shipped topology, no kernel): everything here reads state or refuses
before touching the kernel. Probes and lifecycle changes in a real lab are in
tests/kernel/ui/test_ui_browser.py.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("aiohttp")
from aiohttp.test_utils import TestClient, TestServer  # noqa: E402

from vpclab.topology import load as loader
from vpclab.state import store  # noqa: E402
from vpclab.state.rundir import RunDir  # noqa: E402
from vpclab.ui import guard, layout, server  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
TOPO = ROOT / "topologies"
sys.path.insert(0, str(ROOT / "bench"))
from scale_topology import scale_yaml  # noqa: E402
from uikit import free_port, seed  # noqa: E402  (tests/ is on sys.path: tests/conftest.py)

TOKEN = "t0ken-for-tests"


@pytest.fixture
def run_dir(tmp_path, monkeypatch):
    monkeypatch.setattr("vpclab.state.rundir.current", RunDir(tmp_path))
    return tmp_path


def with_client(lab: str, fn):
    """Run `await fn(client, port)` against the app served in-process on a free port."""
    async def main():
        port = free_port()
        srv = TestServer(server.make_app(lab, TOKEN, port), host="127.0.0.1", port=port)
        async with TestClient(srv) as client:
            return await fn(client, port)
    return asyncio.run(main())


def hdr(port, **extra):
    h = {"Host": f"127.0.0.1:{port}", guard.HEADER: TOKEN}
    h.update(extra)
    return h


# ---- security ------------------------------------------------------------------------------------


def test_every_page_and_api_needs_the_token(run_dir):
    lab = seed(run_dir, TOPO / "01-two-vpcs.yaml")

    async def go(c, port):
        for path in ("/", "/static/app.js", "/api/state", "/api/events", "/api/stream"):
            r = await c.get(path, headers={"Host": f"127.0.0.1:{port}"})
            assert r.status == 403, path
            assert (await r.json())["error"]["code"] == "Forbidden.Token"
            r = await c.get(path, headers={"Host": f"127.0.0.1:{port}", guard.HEADER: "wrong"})
            assert r.status == 403, path
        r = await c.get(f"/?token=t\u00f6ken", headers={"Host": f"127.0.0.1:{port}"})  # not ASCII: still a 403
        assert r.status == 403
        r = await c.get("/api/state", headers=hdr(port))
        assert r.status == 200
        assert (await r.json())["status"]["lab"] == lab
    with_client(lab, go)


def test_the_url_token_sets_a_strict_cookie_that_later_requests_use(run_dir):
    lab = seed(run_dir, TOPO / "01-two-vpcs.yaml")

    async def go(c, port):
        r = await c.get(f"/?token={TOKEN}", headers={"Host": f"127.0.0.1:{port}"}, allow_redirects=False)
        assert r.status == 303 and r.headers["Location"] == "/"  # the token leaves the address bar
        cookie = r.headers["Set-Cookie"]
        assert f"{guard.COOKIE}={TOKEN}" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        r = await c.get("/", headers={"Host": f"127.0.0.1:{port}"})  # the cookie jar sends it
        assert r.status == 200
        html = await r.text()
        assert TOKEN in html and lab in html and "{{" not in html
        assert "default-src 'self'" in r.headers["Content-Security-Policy"]
        r = await c.get("/static/app.js", headers={"Host": f"127.0.0.1:{port}"})  # the cookie jar sends it
        assert r.status == 200 and "EventSource" in await r.text()
    with_client(lab, go)


def test_a_foreign_host_is_refused_even_with_the_token(run_dir):
    lab = seed(run_dir, TOPO / "01-two-vpcs.yaml")

    async def go(c, port):
        for host in ("evil.example:%d" % port, "127.0.0.1.evil.example:%d" % port, f"127.0.0.1:{port + 1}",
                     "127.0.0.1", f"[::1]:{port}"):
            r = await c.get("/api/state", headers=hdr(port, Host=host))
            assert r.status == 403, host
            assert (await r.json())["error"]["code"] == "Forbidden.Host"
        r = await c.get("/api/state", headers=hdr(port, Host=f"localhost:{port}"))
        assert r.status == 200
    with_client(lab, go)


def test_a_foreign_origin_is_refused(run_dir):
    lab = seed(run_dir, TOPO / "01-two-vpcs.yaml")

    async def go(c, port):
        for origin in ("http://evil.example", f"http://127.0.0.1:{port + 1}", "null", f"https://127.0.0.1:{port}"):
            r = await c.post("/api/clock/advance", json={"duration": "1d"}, headers=hdr(port, Origin=origin))
            assert r.status == 403, origin
            assert (await r.json())["error"]["code"] == "Forbidden.Origin"
        r = await c.get("/api/state", headers=hdr(port, Origin=f"http://localhost:{port}"))
        assert r.status == 200
    with_client(lab, go)


def test_changes_are_post_with_the_token_in_the_header(run_dir):
    lab = seed(run_dir, TOPO / "05-cross-account.yaml")

    async def go(c, port):
        # GET never changes anything: the change routes answer only POST.
        r = await c.get("/api/peering/pcx-alice-bob/accept", headers=hdr(port))
        assert r.status == 405
        r = await c.get("/api/clock/advance?duration=8d", headers=hdr(port))
        assert r.status == 405
        # A cookie alone (what a cross-site form would carry) is not enough for a POST.
        await c.get(f"/?token={TOKEN}", headers={"Host": f"127.0.0.1:{port}"})
        r = await c.post("/api/peering/pcx-alice-bob/accept", json={"as": "bob"},
                         headers={"Host": f"127.0.0.1:{port}"})
        assert r.status == 403 and (await r.json())["error"]["code"] == "Forbidden.Token"
        r = await c.post(f"/api/peering/pcx-alice-bob/accept?token={TOKEN}", json={"as": "bob"},
                         headers={"Host": f"127.0.0.1:{port}"})
        assert r.status == 403
        st = await (await c.get("/api/state", headers=hdr(port))).json()
        assert [p["state"] for p in st["status"]["peerings"]] == ["PENDING"]
    with_client(lab, go)


# ---- the API's refusals carry the cloud's code -----------------------------------------------------------


def test_refusals_come_back_as_the_cli_error_document(run_dir):
    lab = seed(run_dir, TOPO / "01-two-vpcs.yaml")

    async def go(c, port):
        r = await c.post("/api/probe", json={"src": "vpc-a/cvm-1"}, headers=hdr(port))
        assert r.status == 400 and (await r.json())["error"]["code"] == "MissingParameter"
        r = await c.post("/api/probe", json={"src": "vpc-a/cvm-1", "dst": "vpc-b/cvm-1", "proto": "tcp",
                                             "port": 70000}, headers=hdr(port))
        assert (await r.json())["error"]["code"] == "InvalidParameterValue"
        r = await c.post("/api/peering/pcx-ab/launch", json={}, headers=hdr(port))
        assert (await r.json())["error"]["code"] == "InvalidParameter"
        r = await c.post("/api/clock/advance", json={"duration": "soon"}, headers=hdr(port))
        assert r.status == 400 and (await r.json())["error"]["code"] == "InvalidParameterValue"
        r = await c.post("/api/clock/advance", data=b"not json", headers=hdr(port))
        assert (await r.json())["error"]["code"] == "InvalidParameter"
        # explain needs no root: the model's answer, with the reason
        r = await c.post("/api/explain", json={"src": "vpc-a/cvm-1", "dst": "vpc-b/cvm-1"}, headers=hdr(port))
        doc = await r.json()
        assert r.status == 200 and doc["result"] == "reachable" and doc["forward"]["path"][0] == "vpc-a/cvm-1"
        r = await c.post("/api/explain", json={"src": "vpc-a/cvm-9", "dst": "vpc-b/cvm-1"}, headers=hdr(port))
        assert r.status == 404 and (await r.json())["error"]["code"] == "InstanceNotFound"
    with_client(lab, go)


def test_a_value_of_the_wrong_type_is_a_400_not_a_500_nor_another_value(run_dir, monkeypatch):
    """Each field of a request, checked in the handler: a list where the account belongs once came
    back as a 500 'state is damaged' (SQLite could not bind it), and `"port": true` or 1.9 as port 1."""
    from vpclab.controller import operate

    lab = seed(run_dir, TOPO / "05-cross-account.yaml")
    reached = []
    # Nothing refused here may reach a lifecycle operation (as root one would change the seeded lab).
    monkeypatch.setattr(operate, "execute", lambda *a, **k: reached.append(a) or pytest.fail("reached operate"))

    async def refused(c, port, path, body, code="InvalidParameterValue", status=400):
        r = await (c.post(path, json=body, headers=hdr(port)) if body is not None else c.get(path, headers=hdr(port)))
        doc = await r.json()
        assert (r.status, doc["error"]["code"]) == (status, code), (path, body, doc)
        assert len(doc["error"]["message"]) < 300, (path, doc["error"]["message"][:100])
        return doc["error"]["message"]

    async def go(c, port):
        for bad in (["bob"], {"a": 1}, 7, True):
            assert "`as`" in await refused(c, port, "/api/peering/pcx-alice-bob/accept", {"as": bad})
        pair = {"src": "alice-vpc/cvm-1", "dst": "bob-vpc/cvm-1", "proto": "tcp"}
        for bad in (True, False, 1.9, 80.0, "1.9", "1e3", " 80", [80], {"p": 80}, "8" * 60000):
            await refused(c, port, "/api/explain", dict(pair, port=bad))
        await refused(c, port, "/api/explain", dict(pair, proto=["tcp"], port=80))
        await refused(c, port, "/api/explain", dict(pair, src=["alice-vpc/cvm-1"]))
        for bad in (["8d"], 691200, {"d": 1}, True):
            await refused(c, port, "/api/clock/advance", {"duration": bad})
        await refused(c, port, "/api/clock/advance", {}, code="MissingParameter")
        t0 = time.monotonic()
        await refused(c, port, "/api/clock/advance", {"duration": "9" * 60000})  # quoted short,
        assert time.monotonic() - t0 < 5  # and at once (parsing it took minutes)
        await refused(c, port, "/api/explain", dict(pair, src="x" * 60000))
        await refused(c, port, "/api/events?after=abc", None)
        await refused(c, port, "/api/events?after=1.5", None)
        # Bodies json.loads cannot take: nested too deep, a number of thousands of digits.
        for raw in (b"[" * 60000, b'{"port": ' + b"1" * 5000 + b"}"):
            r = await c.post("/api/explain", data=raw, headers=hdr(port))
            assert (r.status, (await r.json())["error"]["code"]) == (400, "InvalidParameter")
        # what the page sends still works: a port typed in a field is a string of digits
        r = await c.post("/api/explain", json=dict(pair, port="80"), headers=hdr(port))
        assert r.status == 200 and (await r.json())["result"]
        r = await c.post("/api/explain", json=dict(pair, port=80), headers=hdr(port))
        assert r.status == 200
        st = await (await c.get("/api/state", headers=hdr(port))).json()
        assert [p["state"] for p in st["status"]["peerings"]] == ["PENDING"] and st["status"]["clock"] == 0
    with_client(lab, go)
    assert reached == []


@pytest.mark.skipif(os.geteuid() == 0, reason="checks the refusal a user without root gets")
def test_a_lifecycle_button_without_root_shows_the_code(run_dir):
    lab = seed(run_dir, TOPO / "05-cross-account.yaml")

    async def go(c, port):
        r = await c.post("/api/peering/pcx-alice-bob/accept", json={"as": "bob"}, headers=hdr(port))
        assert (await r.json())["error"]["code"] == "NotRoot"
    with_client(lab, go)


# ---- live events -------------------------------------------------------------------------------------------


def test_an_event_written_by_another_process_reaches_the_stream_quickly(run_dir):
    lab = seed(run_dir, TOPO / "01-two-vpcs.yaml")

    async def go(c, port):
        resp = await c.get("/api/stream", headers=hdr(port))
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
        assert (await resp.content.readline()).startswith(b": hello")
        await asyncio.sleep(3 * server.POLL_S)  # the watcher has seen the log as it is
        child = ("import sys\nfrom vpclab.state import rundir, store\nrundir.current = rundir.RunDir(sys.argv[1])\n"
                 "with store.Store(sys.argv[2]).tx() as t:\n"
                 "    t.event(0, 'bob', 'route add', 'vpc-b/default 10.0.0.0/16', 'ok')\n")
        t0 = time.monotonic()
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", child, str(run_dir), lab)
        assert await proc.wait() == 0
        lines = []
        while not any(l.startswith(b"data:") for l in lines):
            lines.append(await asyncio.wait_for(resp.content.readline(), timeout=5))
        elapsed = time.monotonic() - t0
        assert b"event: event\n" in lines
        ev = json.loads([l for l in lines if l.startswith(b"data:")][0][5:])
        assert (ev["actor"], ev["action"], ev["target"]) == ("bob", "route add", "vpc-b/default 10.0.0.0/16")
        assert ev["id"] == 2
        assert elapsed < 5
        r = await c.get("/api/events?after=1", headers=hdr(port))
        assert [e["id"] for e in (await r.json())["events"]] == [2]
        resp.close()
    with_client(lab, go)


# ---- layout ------------------------------------------------------------------------------------------------


def _status(topology_text: str, tmp_path: Path) -> dict:
    """A status document as controller.status builds it, from a topology (no lab)."""
    from vpclab.controller import status

    p = tmp_path / "t.yaml"
    p.write_text(topology_text)
    model = loader.load(str(p))
    return {"vpcs": [{"name": v.name, "account": v.account, "region": v.region, "cidr": str(v.cidr),
                      "subnets": [{"name": s.name, "cidr": str(s.cidr), "route_table": s.route_table}
                                  for s in v.subnets.values()],
                      "instances": [{"name": i.name, "kind": i.kind, "ip": str(i.ip), "subnet": i.subnet,
                                     "port": i.service_port} for i in v.instances.values()]}
                     for v in model.vpcs.values()],
            "peerings": status.peering_rows(model)}, model


def _overlap(a, b) -> bool:
    return a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"] and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]


@pytest.mark.parametrize("topology", sorted(p.name for p in TOPO.glob("*.yaml")) + ["scale"])
def test_layout_places_every_hop_without_overlap(topology, tmp_path):
    text = scale_yaml() if topology == "scale" else (TOPO / topology).read_text()
    st, model = _status(text, tmp_path)
    lay = layout.layout(st)
    assert layout.layout(json.loads(json.dumps(st))) == lay  # same input, same picture
    vpcs = lay["vpcs"]
    assert [v["name"] for v in vpcs] == sorted(model.vpcs, key=list(model.vpcs).index)
    for i, a in enumerate(vpcs):
        region = next(r for r in lay["regions"] if r["name"] == a["region"])
        assert region["x"] <= a["x"] and a["x"] + a["w"] <= region["x"] + region["w"]
        assert region["y"] <= a["y"] and a["y"] + a["h"] <= region["y"] + region["h"]
        for b in vpcs[i + 1:]:
            assert not _overlap(a, b), (a["name"], b["name"])
        for s in a["subnets"]:
            for inst in s["instances"]:  # inside its subnet row
                assert s["x"] < inst["x"] < s["x"] + s["w"] and s["y"] < inst["y"] < s["y"] + s["h"]
    for r1 in lay["regions"]:
        for r2 in lay["regions"]:
            assert r1 is r2 or not _overlap(r1, r2)
    # Every name a probe path can hold has a point.
    hops = {i.ref for i in model.instances()} | set(model.vpcs) | set(model.peerings)
    assert hops <= set(lay["nodes"])
    assert all(0 <= x <= lay["width"] and -60 <= y <= lay["height"] for x, y in lay["nodes"].values())


def test_layout_does_not_move_when_states_change(tmp_path):
    st, _ = _status((TOPO / "05-cross-account.yaml").read_text(), tmp_path)
    before = layout.layout(st)
    st["peerings"][0]["state"] = "ACTIVE"
    assert layout.layout(st) == before


# ---- `vpclab ui`, the process -------------------------------------------------------------------------------


def test_vpclab_ui_listens_on_loopback_only_prints_a_token_url_and_stops_on_ctrl_c(tmp_path):
    env = dict(os.environ, VPCLAB_RUN_DIR=str(tmp_path))
    seeding = ("import sys, pathlib; sys.path.insert(0, sys.argv[1]); import uikit; "
               "uikit.seed(pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3]), 'uiproc')")
    subprocess.run([sys.executable, "-c", seeding, str(Path(__file__).parents[2]), str(tmp_path),
                    str(TOPO / "01-two-vpcs.yaml")], env=env, check=True, timeout=60)
    vpclab = str(Path(sys.executable).parent / "vpclab")
    proc = subprocess.Popen([vpclab, "ui", "-l", "uiproc", "--port", "0"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        m = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/\?token=([A-Za-z0-9_-]{20,})", url)
        assert m, url
        port = int(m.group(1))
        listening = [l.split()[1] for l in Path(f"/proc/{proc.pid}/net/tcp").read_text().splitlines()[1:]
                     if l.split()[3] == "0A"]  # state LISTEN
        ours = [a for a in listening if int(a.split(":")[1], 16) == port]
        assert ours == ["0100007F:%04X" % port]  # 127.0.0.1, and nothing else on that port
        import http.cookiejar
        import urllib.request

        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        with browser.open(url, timeout=10) as r:  # 303 to / with the cookie, then the page
            assert r.status == 200 and b"uiproc" in r.read()
        # a second run gets another token
        assert m.group(2) not in open(__file__).read()
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "stopped" in err


def test_vpclab_ui_logs_malformed_http_in_one_line_and_stops_at_once_with_streams_open(tmp_path):
    """Malformed HTTP from any local client (two Host headers, no token) is one line on stderr, not
    an aiohttp traceback; SIGTERM with two pages' event streams and a keep-alive connection open
    ends the process well under a second (it took 2 s: each stream held the shutdown)."""
    import time

    env = dict(os.environ, VPCLAB_RUN_DIR=str(tmp_path))
    seeding = ("import sys, pathlib; sys.path.insert(0, sys.argv[1]); import uikit; "
               "uikit.seed(pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3]), 'uistop')")
    subprocess.run([sys.executable, "-c", seeding, str(Path(__file__).parents[2]), str(tmp_path),
                    str(TOPO / "01-two-vpcs.yaml")], env=env, check=True, timeout=60)
    vpclab = str(Path(sys.executable).parent / "vpclab")
    proc = subprocess.Popen([vpclab, "ui", "-l", "uistop", "--port", "0"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    conns = []
    try:
        m = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/\?token=(\S+)", proc.stdout.readline().strip())
        port, token = int(m.group(1)), m.group(2)

        def request(text: str, until: bytes) -> socket.socket:
            c = socket.create_connection(("127.0.0.1", port), timeout=10)
            conns.append(c)
            c.sendall(text.encode())
            got = b""
            while until not in got:
                chunk = c.recv(4096)
                assert chunk, got
                got += chunk
            return c

        bad = request(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nHost: evil.example\r\n\r\n", b"\r\n\r\n")
        for _ in range(2):  # two pages listening
            request(f"GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{guard.HEADER}: {token}\r\n\r\n",
                    b": hello")
        request(f"GET /api/state HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{guard.HEADER}: {token}\r\n\r\n",
                b"uistop")  # keep-alive: stays open
        bad.close()
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
        took = time.monotonic() - t0
        err = proc.stderr.read()
    finally:
        for c in conns:
            c.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert took < 0.5, f"`vpclab ui` took {took:.2f} s to stop after SIGTERM"
    assert "Traceback" not in err and "aiohttp" not in err, err
    lines = [ln for ln in err.splitlines() if "127.0.0.1" in ln and "Host" in ln]
    assert len(lines) == 1 and "malformed" in lines[0] and "400" in lines[0], err


def _vpclab_ui(tmp_path, *args, pre: str = ""):
    """`vpclab ui ARGS` in a fresh interpreter against a run directory of its own (no lab unless seeded)."""
    code = f"import sys\n{pre}\nfrom vpclab.cli.main import main\nmain(sys.argv[1:])"
    env = dict(os.environ, VPCLAB_RUN_DIR=str(tmp_path))
    return subprocess.run([sys.executable, "-c", code, "ui", *args], env=env, capture_output=True, text=True,
                          timeout=60)


def test_vpclab_ui_help_has_an_example_and_imports_no_server():
    code = ("import sys\nfrom vpclab.cli.main import main\ntry:\n    main(['ui', '--help'])\nexcept SystemExit:\n    pass\n"
            "print('aiohttp' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "sudo vpclab ui" in r.stdout and "127.0.0.1" in r.stdout
    assert r.stdout.strip().endswith("False")


def test_vpclab_ui_refuses_a_lab_that_is_not_running(tmp_path):
    r = _vpclab_ui(tmp_path, "-l", "nolab")
    assert r.returncode == 2 and r.stderr.startswith("LabNotFound: lab 'nolab' is not running")
    assert "Traceback" not in r.stderr and r.stdout == ""


def test_vpclab_ui_refuses_a_port_in_use(run_dir):
    import socket

    seed(run_dir, TOPO / "01-two-vpcs.yaml", "uiport")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        r = _vpclab_ui(run_dir, "-l", "uiport", "--port", str(busy.getsockname()[1]))
    assert r.returncode == 2 and "InvalidParameterValue: cannot listen on 127.0.0.1:" in r.stderr
    assert "choose another with --port" in r.stderr and "Traceback" not in r.stderr


def test_vpclab_ui_without_aiohttp_says_what_to_install(run_dir):
    seed(run_dir, TOPO / "01-two-vpcs.yaml", "uinoaio")
    r = _vpclab_ui(run_dir, "-l", "uinoaio", pre="sys.modules['aiohttp'] = None  # as if not installed")
    assert r.returncode == 3
    assert r.stderr.startswith("ToolMissing: the web view needs aiohttp") and "vpclab[ui]" in r.stderr


def test_the_state_is_rebuilt_after_every_write_and_reused_between(run_dir):
    lab = seed(run_dir, TOPO / "05-cross-account.yaml")

    async def go(c, port):
        first = await (await c.get("/api/state", headers=hdr(port))).text()
        assert await (await c.get("/api/state", headers=hdr(port))).text() == first
        with store.Store(lab).tx() as tx:  # what `vpclab peering accept` writes, from "another" command
            model = tx.model()
            model.peerings["pcx-alice-bob"].state = "ACTIVE"
            model.clock = 3600.0
            tx.save_model(model)
        doc = await (await c.get("/api/state", headers=hdr(port))).json()
        assert [p["state"] for p in doc["status"]["peerings"]] == ["ACTIVE"]
        assert doc["status"]["clock"] == 3600.0
    with_client(lab, go)


def test_every_write_changes_the_signature_even_within_one_mtime_tick(run_dir):
    lab = seed(run_dir, TOPO / "01-two-vpcs.yaml")
    sigs = []
    for k in range(20):  # quicker than the file's mtime ticks, and never changing its size
        with store.Store(lab).tx() as tx:
            tx.put("probe", k % 10)
        sigs.append(server._db_signature(lab))
    assert len(set(sigs)) == len(sigs)
    assert server._db_signature("nolab") is None


def test_presentation_mode_has_its_own_roomier_layout_for_a_small_lab_only():
    """issue 22: presentation mode's layout (layout_present) leaves more room per instance and between
    VPCs than the normal one, the same hops placed; a lab over PRESENT_MAX_INSTANCES has none."""
    st = {"vpcs": [{"name": f"v{k}", "region": "r", "cidr": f"10.{k}.0.0/16", "account": "a",
                    "subnets": [{"name": "app", "cidr": f"10.{k}.1.0/24", "route_table": "default"}],
                    "instances": [{"name": f"i{n}", "kind": "cvm", "ip": f"10.{k}.1.{n + 10}", "subnet": "app"}
                                  for n in range(3)]} for k in range(2)],
          "peerings": [{"id": "pcx", "vpc": "v0", "peer_vpc": "v1", "state": "ACTIVE"}], "routes": []}
    normal, present = layout.layout(st), layout.present_layout(st)
    assert present == layout.layout(st, present=True) and set(present["nodes"]) == set(normal["nodes"])
    gap = lambda lay: lay["nodes"]["v0/i1"][0] - lay["nodes"]["v0/i0"][0]  # noqa: E731
    assert gap(present) >= 2 * gap(normal)
    assert present["vpcs"][1]["x"] - (present["vpcs"][0]["x"] + present["vpcs"][0]["w"]) > \
        normal["vpcs"][1]["x"] - (normal["vpcs"][0]["x"] + normal["vpcs"][0]["w"])
    big = dict(st, vpcs=[dict(v, instances=v["instances"] * 11) for v in st["vpcs"]])
    assert sum(len(v["instances"]) for v in big["vpcs"]) > layout.PRESENT_MAX_INSTANCES
    assert layout.present_layout(big) is None
