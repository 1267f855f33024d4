"""Events a teacher can follow (issue 22): a probe, a matrix and a `lab check` each leave an
event with their verdict summary and the wall-clock time, and so do the web view's probe and
matrix (actor `web view`, docs/ui.md); exam mode is logged as such and prints no hint. One
small exercise lab (03: three instances), always torn down."""
from __future__ import annotations

import datetime
import json
import time
import urllib.parse
import urllib.request

from labkit import assert_gone, lab_name, needs_root, run, run_json
from uikit import ui_server

pytestmark = needs_root


def test_probe_matrix_and_lab_check_are_logged_with_their_summary():
    lab = lab_name()
    t0 = time.time()
    try:
        run("lab", "start", "03", "-l", lab, check=0)
        probe = run_json("probe", "vpc-a/cvm-1", "vpc-b/cvm-1", "-l", lab)
        matrix = run_json("matrix", "-l", lab)
        check = run("lab", "check", "03", "-l", lab, "--json")
        assert check.returncode == 1
        doc = json.loads(check.stdout)
        exam = run("lab", "check", "03", "-l", lab, "--no-hints")
        assert exam.returncode == 1 and "hint" not in exam.stdout.replace("no hints", "")
        assert "vpclab " not in exam.stdout and "got:" not in exam.stdout
        with ui_server(lab) as (url, _):  # the web view's probe and matrix: logged as its actions
            page = urllib.parse.urlsplit(url)
            token = urllib.parse.parse_qs(page.query)["token"][0]
            for path, body in (("/api/probe", {"src": "vpc-b/cvm-1", "dst": "vpc-a/cvm-1"}), ("/api/matrix", {})):
                req = urllib.request.Request(f"http://{page.netloc}{path}", data=json.dumps(body).encode(),
                                             headers={"Content-Type": "application/json", "X-Vpclab-Token": token})
                with urllib.request.urlopen(req, timeout=60) as r:
                    assert r.status == 200
        rows = run_json("events", "-l", lab)["events"]
    finally:
        run("down", lab)
    assert_gone(lab)

    by_action = {}
    for e in rows:
        by_action.setdefault(e["action"], []).append(e)
        # the wall-clock time beside the lab time, ISO 8601 UTC, and true
        when = datetime.datetime.strptime(e["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
        assert t0 - 1 <= when.timestamp() <= time.time() + 1, e
    p, web = by_action["probe"]
    assert p["target"] == "vpc-a/cvm-1 -> vpc-b/cvm-1 icmp" and p["result"] == probe["result"] == "no-return"
    assert probe["reason"]["code"] in p["detail"] and probe["reason"]["where"] in p["detail"]
    assert p["actor"] is None and web["actor"] == "web view"
    assert web["target"] == "vpc-b/cvm-1 -> vpc-a/cvm-1 icmp" and web["result"] == "unreachable"
    assert "NO_ROUTE at vpc-b" in web["detail"]
    m, web_matrix = by_action["matrix"]
    assert web_matrix["actor"] == "web view" and web_matrix["result"] == m["result"]
    counts = {k: v for k, v in matrix["summary"].items() if v}
    assert m["target"] == f"{sum(counts.values())} pairs"
    assert all(f"{n} {verdict}" in m["result"] for verdict, n in counts.items()), (m, counts)
    checks = by_action["lab check 03"]
    assert len(checks) == 2
    failing = [i["id"] for i in doc["items"] if not i["ok"]]
    assert checks[0]["result"] == f"{doc['passed']} of {len(doc['items'])} hold"
    assert all(f in checks[0]["detail"] for f in failing) and "exam" not in checks[0]["detail"]
    assert "exam" in checks[1]["detail"]
    # the check's own probes are not logged one by one: the check's summary stands for them
    assert len(by_action["probe"]) == 2
