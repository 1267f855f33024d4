"""Web view benchmark (issue 13): the first full render of the scale lab (50 VPCs, 200
instances, 100 peerings) in headless Chromium, and how fast an event from the CLI reaches
an open page.

    sudo .venv/bin/python bench/ui_bench.py [--events N] [--loads N] [--v2]

* render: navigation start -> the page's first full render done (state fetched, layout
  drawn, panels filled), from `performance.now()` in the page; the first load, then the
  median of N more. Goal: <= 1 s. Baseline in the same run: `vpclab status --json` of the
  same lab (the terminal's whole view of it), end to end.
* event: N alternating `vpclab route add` / `route del` in vpc-00 as subprocesses; for each,
  the event's commit time in the lab's log (`wall`) -> the moment the page received it
  (SSE). Goal: median <= 500 ms. Also shown: CLI start -> on the page.

The lab `buibench` is built from bench/scale_topology.py and always removed. Needs root.
With --v2 the scale lab also has version 2's parts, all drawn: an Internet with 5 hosts,
a security group with 3 rules on every instance, a network ACL on every VPC's `app`
subnet, an EIP on every VPC's cvm-1 and a NAT gateway in every fifth VPC (a loader that
reads no version-2 keys refuses the file).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from scale_topology import scale_yaml  # noqa: E402
from uikit import VPCLAB, chromium, open_view, ui_server  # noqa: E402

LAB = "buibench"
RENDER_GOAL_MS, EVENT_GOAL_MS = 1000.0, 500.0


def vpclab(*args, check=True):
    return subprocess.run([VPCLAB, *args], capture_output=True, text=True, check=check)


def v2_yaml(text: str) -> str:
    """The scale topology with version 2's parts (see the docstring)."""
    import yaml

    doc = yaml.safe_load(text)
    doc["internet"] = {"cidr": "203.0.113.0/24",
                       "hosts": {f"host-{k}": {"ip": f"203.0.113.{200 + k}", "ports": [80, 443]} for k in range(5)}}
    for n, (name, v) in enumerate(doc["vpcs"].items()):
        v["security_groups"] = {"sg-web": {
            "ingress": [{"proto": "tcp", "port": 80, "source": "0.0.0.0/0", "action": "accept"},
                        {"proto": "icmp", "source": "10.0.0.0/8", "action": "accept"}],
            "egress": [{"proto": "all", "destination": "0.0.0.0/0", "action": "accept"}]}}
        v["network_acls"] = {"acl-app": {
            "subnets": ["app"], "inbound": [{"proto": "all", "source": "10.0.0.0/8", "action": "accept"}],
            "outbound": [{"proto": "all", "destination": "10.0.0.0/8", "action": "accept"}]}}
        for i in v["instances"].values():
            i["security_groups"] = ["sg-web"]
        v["instances"]["cvm-1"]["eip"] = f"203.0.113.{10 + n}"
        if n % 5 == 0:
            v["nat_gateways"] = {"nat-1": {"eip": f"203.0.113.{100 + n}"}}
    return yaml.safe_dump(doc, sort_keys=False)


def fmt(xs):
    return f"{statistics.median(xs):8.1f}  ({min(xs):.1f}-{max(xs):.1f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=20)
    ap.add_argument("--loads", type=int, default=5)
    ap.add_argument("--v2", action="store_true", help="add version 2's parts to the scale lab")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("ui_bench: run as root (it builds the scale lab)")
    with tempfile.TemporaryDirectory() as tmp:
        topo = Path(tmp) / "scale.yaml"
        topo.write_text(v2_yaml(scale_yaml(lab=LAB)) if args.v2 else scale_yaml(lab=LAB))
        t0 = time.monotonic()
        vpclab("up", str(topo))
        print(f"built lab {LAB} (50 VPCs, 200 instances) in {time.monotonic() - t0:.1f} s", file=sys.stderr)
        try:
            results = run(args)
        finally:
            vpclab("down", LAB, check=False)
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    (out / ("ui_bench_v2.json" if args.v2 else "ui_bench.json")).write_text(json.dumps(results, indent=2))


def run(args) -> dict:
    status_ms = []
    for _ in range(args.loads):
        t = time.perf_counter()
        vpclab("status", "-l", LAB, "--json")
        status_ms.append((time.perf_counter() - t) * 1000)
    with ui_server(LAB) as (url, _), chromium() as page:
        renders = []
        for _ in range(args.loads + 1):
            open_view(page, url)
            renders.append(float(page.get_attribute("body", "data-ready-ms")))
        drawn = page.locator(".vpc .inst").count(), page.locator(".vpc").count(), page.locator("#topo-peerings .peering").count()
        assert drawn == (200, 50, 100), drawn
        if args.v2:
            v2 = (page.locator("#internet .inst").count(), page.locator(".eip-badge").count(), page.locator(".nat").count(),
                  page.locator(".subnet.acl").count())
            assert v2 == (5, 50, 10, 50), v2
        first, rest = renders[0], renders[1:]
        # Where the last load's time went: the redirect, the page, the state fetch (server + transfer).
        parts = page.evaluate("""() => {
            const nav = performance.getEntriesByType('navigation')[0];
            const st = performance.getEntriesByType('resource').find(e => e.name.endsWith('/api/state'));
            return {redirect: nav.redirectEnd - nav.redirectStart, page: nav.responseEnd - nav.startTime,
                    state: st ? st.responseEnd - st.startTime : null, state_kb: st ? st.transferSize / 1024 : null};
        }""")
        lat, total = [], []
        for k in range(args.events):
            last = page.evaluate("Math.max(0, ...Object.keys(window.vpclabSeen).map(Number))")
            verb = "add" if k % 2 == 0 else "del"
            t_cli = time.time()
            vpclab("route", verb, "vpc-00", "--destination", "10.1.5.0/24", "--next-hop", "pcx-00-01", "-l", LAB)
            sel = f"#events li[data-id='{last + 1}']"
            page.wait_for_selector(sel, state="attached", timeout=10000)
            wall = float(page.get_attribute(sel, "data-wall"))
            seen = page.evaluate(f"window.vpclabSeen[{last + 1}]") / 1000.0
            lat.append((seen - wall) * 1000)
            total.append((seen - t_cli) * 1000)
    print(f"\nvpclab ui bench, lab {LAB}: 50 VPCs, 200 instances, 100 peerings"
          f"{' + version 2 (Internet, groups, ACLs, EIPs, NAT)' if args.v2 else ''} (median (min-max), ms)")
    print(f"{'what':52} {'figure':>26} {'goal':>8} {'ratio':>7}")
    print(f"{'first full render (first load)':52} {first:8.1f} {'':17} {RENDER_GOAL_MS:8.0f} {first / RENDER_GOAL_MS:7.2f}")
    print(f"{'first full render (next %d loads)' % len(rest):52} {fmt(rest):>26} {RENDER_GOAL_MS:8.0f} "
          f"{statistics.median(rest) / RENDER_GOAL_MS:7.2f}")
    print(f"{'  of the last load: redirect, page, /api/state (KB)':52} {parts['redirect']:8.1f} {parts['page']:6.1f} "
          f"{parts['state'] or 0:6.1f} ({parts['state_kb'] or 0:.0f} KB)")
    print(f"{'  baseline: vpclab status --json (same lab)':52} {fmt(status_ms):>26} "
          f"{'':8} {statistics.median(rest) / statistics.median(status_ms):6.2f}x")
    print(f"{'event: committed -> on the page (%d events)' % len(lat):52} {fmt(lat):>26} {EVENT_GOAL_MS:8.0f} "
          f"{statistics.median(lat) / EVENT_GOAL_MS:7.2f}")
    print(f"{'  for context: CLI started -> on the page':52} {fmt(total):>26}")
    ok = first <= RENDER_GOAL_MS and statistics.median(lat) <= EVENT_GOAL_MS
    print("goals met" if ok else "GOALS MISSED")
    return {"render_first_ms": first, "last_load_parts": parts, "render_ms": rest, "status_cli_ms": status_ms, "event_ms": lat,
            "cli_to_page_ms": total}


if __name__ == "__main__":
    main()
