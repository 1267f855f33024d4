"""Kernel benchmark (issue 3): `vpclab up` / `vpclab down` of the scale topology against
two baselines, all in the same run, methods in random order within each repetition.

    sudo .venv/bin/python bench/up_bench.py [--reps N]

Scale topology (bench/scale_topology.py): 50 VPCs in 5 regions, 2 subnets and
4 instances each, 100 peerings on a ring, 100 Mbps caps across regions. Its plan
is 250 namespaces, 300 veths, 400 per-interface sysctls, 500 addresses, 300
rules, 1,180 routes and 30 tbf qdiscs (routed subnets: no bridge).

Methods (each builds the lab, then tears it down; every teardown is timed
until the kernel has destroyed the namespaces, see nswatch.py):
  vpclab CLI     `vpclab up FILE` / `vpclab down LAB` as subprocesses, end to end
                 (interpreter start, imports, YAML, plan, state store, apply)
  vpclab lib     vpclab.controller.build.up(FILE), teardown.down(LAB) in this process
  ip-batch       baseline 1, generated from vpclab's own plan objects (so it is
                 the same object set; checked with vpclab's read-back in rep 1):
                 one root `ip -batch` (netns add, veths born in their namespaces),
                 the lab sysctls written in-process (setns, there is no ip/tc
                 syntax for them), one `ip -n NS -batch` per namespace and one
                 `tc -n NS -batch` per namespace with a cap. Script generation is
                 not timed. Teardown: one `ip -batch` of `netns del`.
  Mininet        baseline 2, Mininet 2.3 from Debian on /usr/bin/python3, hosts
                 only (see up_bench_mininet.py); its interpreter start and
                 imports are not timed.

Ratios are taken per repetition, then the median. Raw results go to
bench/out/up_bench-<time>.json. Lab names: ubv, ubw, ubb, ubm (namespaces
vpclab-<lab>-*); only those are created, and removed at the end.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from scale_topology import scale_yaml  # noqa: E402

import bytecode  # noqa: E402
import nswatch  # noqa: E402
from vpclab.controller import build, teardown
from vpclab.topology import load as loader  # noqa: E402
from vpclab.kernel import netns, teardown  # noqa: E402
from vpclab.kernel.inspect import read_lab  # noqa: E402
from vpclab.plan import names  # noqa: E402
from vpclab.kernel.handlers import sysctl as ksysctl  # noqa: E402
from vpclab.plan.objects import ORDER, RTPROT_VPCLAB  # noqa: E402

VPCLAB = str(Path(sys.executable).parent / "vpclab")
SYS_PY = "/usr/bin/python3"
LAB = {"cli": "ubv", "lib": "ubw", "ipbatch": "ubb", "mininet": "ubm"}
OUT = HERE / "out"


# ------------------------------------------------------------------ helpers

def med(xs):
    return statistics.median(xs) if xs else float("nan")


def fmt(xs, unit="s", digits=3):
    if not xs:
        return "n/a"
    return f"{med(xs):.{digits}f} ({min(xs):.{digits}f}-{max(xs):.{digits}f}){unit and ' ' + unit}"


def run(argv, **kw):
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} -> rc {r.returncode}: {r.stderr.strip()[-600:]}")
    return r


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def kernel_objects(plan):
    return [o for o in plan.objects if o.key[0] != "service"]


def lab_plan(path: Path):
    """Exactly what `vpclab up` wants for this file (netem follows the kernel)."""
    return build.desired(loader.load(path))


def sysctls_of(ns_obj) -> dict:
    s = dict(netns.LAB_SYSCTLS)
    s[netns.FORWARDING] = "1" if ns_obj.forwarding else "0"
    return s


# ------------------------------------------------------------------ baseline 1: ip -batch

def batch_lines(plan):
    """(root lines, {ns: ip lines}, {ns: tc lines}, {ns: sysctls}) creating the plan's kernel objects.

    Mirrors vpclab's kernel mapping (kernel/handlers): lo up; veths born in their
    namespaces, both ends up, alias vpclab:<lab> on both; proxy_arp and proxy_delay
    written like the other sysctls; routes and rules with protocol 77, gateways
    onlink; tbf with the plan's rate, burst and limit.
    """
    alias = f"vpclab:{plan.lab}"
    rank = {k: i for i, k in enumerate(ORDER)}
    objs = sorted(kernel_objects(plan), key=lambda o: rank[o.key[0]])  # stable: plan order within a kind
    root, per, tcl, sysc, late = [], {}, {}, {}, {}
    for o in objs:
        k = o.key[0]
        if k == "netns":
            root.append(f"netns add {o.name}")
            per[o.name] = ["link set dev lo up"]
            sysc[o.name] = sysctls_of(o)
        elif k == "veth":
            root.append(f"link add {o.ifname} netns {o.ns} type veth peer name {o.peer_ifname} netns {o.peer_ns}")
            per[o.ns].append(f"link set dev {o.ifname} up alias {alias}")
            per[o.peer_ns].append(f"link set dev {o.peer_ifname} up alias {alias}")
        elif k == "address":
            per[o.ns].append(f"address add {o.cidr} dev {o.ifname}")
        elif k == "sysctl":  # written after the batches (the links must exist)
            path = ksysctl.SETTINGS[o.name][0].format(o.ifname)
            late.setdefault(o.ns, {})[path.replace("/", ".")] = o.value
        elif k == "rule":
            sel = (f" from {o.src}" if o.src else "") + (f" iif {o.iif}" if o.iif else "")
            per[o.ns].append(f"rule add priority {o.priority}{sel} lookup {o.table} protocol {RTPROT_VPCLAB}")
        elif k == "route":
            tail = f"table {o.table} protocol {RTPROT_VPCLAB}"
            if o.type != "unicast":
                per[o.ns].append(f"route add {o.type} {o.dst} {tail}")
            elif o.via:
                per[o.ns].append(f"route add {o.dst} via {o.via} dev {o.dev} onlink {tail}")
            else:
                per[o.ns].append(f"route add {o.dst} dev {o.dev} {tail}")
        elif k == "qdisc":
            if o.delay_ms:
                raise SystemExit("the plan has netem delays: this baseline only writes tbf")
            tcl.setdefault(o.ns, []).append(f"qdisc replace dev {o.ifname} root handle 1: tbf "
                                            f"rate {o.rate_kbit}kbit burst {o.burst_bytes} limit {o.limit_bytes}")
    return root, per, tcl, sysc, late


class IpBatch:
    def __init__(self, path: Path, work: Path):
        self.plan = lab_plan(path)
        self.lab = self.plan.lab
        root, per, tcl, self.sysctls, self.late = batch_lines(self.plan)
        d = work / f"ipbatch-{self.lab}"
        d.mkdir()
        self.root = d / "root.ip"
        self.root.write_text("\n".join(root) + "\n")
        self.files = []
        for i, (ns, lines) in enumerate(per.items()):
            f = d / f"{i}.ip"
            f.write_text("\n".join(lines) + "\n")
            self.files.append((["ip", "-n", ns, "-batch", str(f)]))
        for i, (ns, lines) in enumerate(tcl.items()):
            f = d / f"{i}.tc"
            f.write_text("\n".join(lines) + "\n")
            self.files.append((["tc", "-n", ns, "-batch", str(f)]))
        self.processes = 1 + len(self.files)
        self.delete = d / "del.ip"

    def up(self) -> dict:
        t0 = time.perf_counter()
        run(["ip", "-batch", str(self.root)])
        t1 = time.perf_counter()
        for ns, settings in self.sysctls.items():
            netns.sysctl_write(ns, settings)
        t2 = time.perf_counter()
        for argv in self.files:
            run(argv)
        t3 = time.perf_counter()
        for ns, settings in self.late.items():
            netns.sysctl_write(ns, settings)
        t4 = time.perf_counter()
        return {"up": t4 - t0, "root_batch": t1 - t0, "sysctls": t2 - t1 + t4 - t3, "per_ns": t3 - t2}

    def verify(self) -> dict:
        want = set(kernel_objects(self.plan))
        have = read_lab(self.lab)
        return {"objects": len(want), "missing": sorted(o.describe() for o in want - have)[:10],
                "extra": sorted(o.describe() for o in have - want)[:10],
                "same": want == have}

    def down(self) -> dict:
        order = netns.list_names(names.lab_prefix(self.lab))
        self.delete.write_text("".join(f"netns del {n}\n" for n in order))
        w = nswatch.Watcher()  # untimed: a sentinel in the namespace deleted last, as vpclab does
        try:
            w.add_path(netns.path_of(order[-1]))
            t0 = time.perf_counter()
            run(["ip", "-batch", str(self.delete)])
            t1 = time.perf_counter()
            ok = w.wait(120)
            t2 = time.perf_counter()
        finally:
            w.close()
        return {"down": t2 - t0, "del_batch": t1 - t0, "complete": ok}


# ------------------------------------------------------------------ baseline 2: Mininet

def mininet_spec(path: Path, work: Path, verify: bool) -> Path:
    plan = lab_plan(path)
    _, per, tcl, sysc, late = batch_lines(plan)
    host = {ns: f"{plan.lab}{i}" for i, ns in enumerate(per)}
    d = work / f"mininet-{plan.lab}"
    d.mkdir(exist_ok=True)
    cmds = {}
    for ns, lines in per.items():
        h = host[ns]
        f = d / f"{h}.ip"
        f.write_text("\n".join(lines) + "\n")
        parts = [f"echo {v} > /proc/sys/{k.replace('.', '/')}" for k, v in sysc[ns].items()]
        parts.append(f"ip -batch {f}")
        if ns in tcl:
            g = d / f"{h}.tc"
            g.write_text("\n".join(tcl[ns]) + "\n")
            parts.append(f"tc -batch {g}")
        parts += [f"echo {v} > /proc/sys/{k.replace('.', '/')}" for k, v in late.get(ns, {}).items()]
        cmds[h] = " && ".join(parts)
    links = [[host[o.ns], host[o.peer_ns], o.ifname, o.peer_ifname]
             for o in kernel_objects(plan) if o.key[0] == "veth"]
    spec = {"hosts": list(host.values()), "links": links, "cmds": cmds, "verify": verify}
    p = d / f"spec-{int(verify)}.json"
    p.write_text(json.dumps(spec))
    return p


def mininet_available() -> str:
    if not Path(SYS_PY).exists():
        return f"{SYS_PY} missing"
    r = subprocess.run([SYS_PY, "-c", "import mininet.net, mininet.node"], capture_output=True, text=True)
    if r.returncode != 0 or not shutil.which("mnexec"):
        return "Debian's mininet is not installed (apt-get install -y mininet)"
    return ""


def run_mininet(spec: Path) -> dict:
    r = run([SYS_PY, str(HERE / "up_bench_mininet.py"), str(spec)], timeout=600)
    return json.loads(r.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ main

def leftovers():
    return [n for lab in LAB.values() for n in netns.list_names(names.lab_prefix(lab))]


def clean_all():
    for key in ("cli", "lib"):
        try:
            teardown.down(LAB[key])
        except Exception as e:  # noqa: BLE001
            print(f"warning: down {LAB[key]}: {e}", file=sys.stderr)
    teardown.remove_lab_namespaces(names.lab_prefix(LAB["ipbatch"]))


def root_links():
    out = run(["ip", "-o", "link", "show"]).stdout.splitlines()
    return sorted(line.split(":")[1].strip().split("@")[0] for line in out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1, help="unrecorded repetitions first (default 1)")
    ap.add_argument("--no-mininet", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: it creates network namespaces")

    print(bytecode.ensure(), flush=True)
    mn_missing = "skipped (--no-mininet)" if args.no_mininet else mininet_available()
    work = Path(tempfile.mkdtemp(prefix="up_bench-"))
    files = {}
    for key, lab in LAB.items():
        files[key] = work / f"scale-{lab}.yaml"
        files[key].write_text(scale_yaml(lab=lab))
    if leftovers():
        print(f"removing leftovers of an earlier run: {len(leftovers())} namespaces")
        clean_all()
    ns_before = set(netns.list_names())
    links_before = root_links()

    plan = lab_plan(files["cli"])
    counts = {}
    for o in kernel_objects(plan):
        counts[o.key[0]] = counts.get(o.key[0], 0) + 1
    ipb = IpBatch(files["ipbatch"], work)
    specs = {} if mn_missing else {v: mininet_spec(files["mininet"], work, v) for v in (True, False)}

    R = {k: [] for k in ("cli_up", "cli_down", "cli_down_nowait", "cli_down_nowait_done", "lib_up", "lib_down",
                         "ipb_up", "ipb_sysctls", "ipb_down",
                         "mn_up", "mn_stop", "mn_down", "cli_start")}
    raw = []
    checks = {}

    def m_cli():
        up = timed(lambda: run([VPCLAB, "up", str(files["cli"])]))
        if "vpclab" not in checks:
            want = set(kernel_objects(plan))
            have = read_lab(LAB["cli"])
            checks["vpclab"] = {"same": want == have, "missing": len(want - have), "extra": len(have - want)}
        down = timed(lambda: run([VPCLAB, "down", LAB["cli"]]))
        return {"cli_up": up, "cli_down": down}

    def m_cli_nowait():
        """`vpclab down --no-wait`: when it returns, and when the kernel has really finished."""
        run([VPCLAB, "up", str(files["cli"])])
        w = nswatch.Watcher()
        try:
            for ns in netns.list_names(names.lab_prefix(LAB["cli"])):
                w.add_path(netns.path_of(ns))
            t0 = time.perf_counter()
            run([VPCLAB, "down", "--no-wait", LAB["cli"]])
            t1 = time.perf_counter()
            if not w.wait(120):
                raise RuntimeError("vpclab down --no-wait: namespaces not destroyed after 120 s")
            t2 = time.perf_counter()
        finally:
            w.close()
        return {"cli_down_nowait": t1 - t0, "cli_down_nowait_done": t2 - t0}

    def m_lib():
        up = timed(lambda: build.up(str(files["lib"])))
        down = timed(lambda: teardown.down(LAB["lib"]))
        return {"lib_up": up, "lib_down": down}

    def m_ipb():
        u = ipb.up()
        if "ipbatch" not in checks:
            checks["ipbatch"] = ipb.verify()
        d = ipb.down()
        if not d["complete"]:
            raise RuntimeError("ip-batch teardown: namespaces not gone after 120 s")
        return {"ipb_up": u["up"], "ipb_sysctls": u["sysctls"], "ipb_down": d["down"], "ipb_detail": {**u, **d}}

    def m_mn():
        r = run_mininet(specs["mininet" not in checks])
        if "counts" in r:
            checks["mininet"] = r["counts"]
        if not r.get("down_complete"):
            raise RuntimeError("Mininet teardown: namespaces not gone after 120 s")
        return {"mn_up": r["up"], "mn_stop": r["stop"], "mn_down": r["down"], "mn_detail": r}

    def m_start():
        return {"cli_start": timed(lambda: run([VPCLAB, "--help"]))}

    methods = [m_cli, m_cli_nowait, m_lib, m_ipb, m_start]
    if not mn_missing:
        methods.append(m_mn)

    started = time.time()
    try:
        for rep in range(args.warmup + args.reps):
            rec = {"rep": rep - args.warmup, "order": []}
            for m in random.sample(methods, len(methods)):
                rec["order"].append(m.__name__)
                rec.update(m())
                time.sleep(0.3)  # let the kernel's deferred work settle
            if rep >= args.warmup:
                raw.append(rec)
                for k in R:
                    if k in rec:
                        R[k].append(rec[k])
            print(f"rep {rec['rep']:>2}: " + "  ".join(f"{k}={rec[k]:.3f}" for k in R if k in rec), flush=True)
    finally:
        clean_all()

    def ratio(a, b):
        return [x[a] / x[b] for x in raw if a in x and b in x]

    ratios = {
        "cli_up/ipb_up": ratio("cli_up", "ipb_up"),
        "lib_up/ipb_up": ratio("lib_up", "ipb_up"),
        "mn_up/cli_up": ratio("mn_up", "cli_up"),
        "mn_up/lib_up": ratio("mn_up", "lib_up"),
        "mn_down/cli_down": ratio("mn_down", "cli_down"),
        "mn_down/lib_down": ratio("mn_down", "lib_down"),
        "mn_stop/cli_down": ratio("mn_stop", "cli_down"),
        "mn_stop/cli_down_nowait": ratio("mn_stop", "cli_down_nowait"),
        "cli_down/ipb_down": ratio("cli_down", "ipb_down"),
    }

    # ---- report
    print()
    print(f"scale topology: {', '.join(f'{v} {k}' for k, v in counts.items())}")
    print(f"{args.reps} repetitions (+{args.warmup} warm-up), methods in random order in each; "
          f"seconds, median (min-max); {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    want_counts = {"veth_ends": 2 * counts.get("veth", 0), "bridge": 0,
                   "address": counts.get("address", 0), "rule": counts.get("rule", 0),
                   "route": counts.get("route", 0), "qdisc": counts.get("qdisc", 0),
                   "forwarding": sum(1 for o in kernel_objects(plan) if o.key[0] == "netns" and o.forwarding)}
    mn_same = checks["mininet"] == want_counts if "mininet" in checks else mn_missing
    print(f"same objects: ip-batch {checks.get('ipbatch', {}).get('same')} "
          f"(vpclab read-back vs plan, {checks.get('ipbatch', {}).get('objects')} objects); "
          f"vpclab {checks.get('vpclab', {}).get('same')}; Mininet {mn_same} (counted per kind in every host)")
    if "mininet" in checks and not mn_same:
        print(f"  Mininet counts {checks['mininet']} != plan {want_counts}")
    rows = [
        ("build", None),
        ("vpclab up (CLI, end to end)", R["cli_up"]),
        ("vpclab up (build.up, in-process)", R["lib_up"]),
        (f"ip-batch ({ipb.processes} ip/tc processes + sysctls)", R["ipb_up"]),
        ("  of which sysctls (setns, in-process)", R["ipb_sysctls"]),
        ("Mininet 2.3 (hosts + links + cmd)" + (f": {mn_missing}" if mn_missing else ""), R["mn_up"]),
        ("vpclab --help (CLI start-up floor)", R["cli_start"]),
        ("teardown, until the kernel has destroyed the namespaces", None),
        ("vpclab down (CLI, end to end)", R["cli_down"]),
        ("vpclab down (teardown.down, in-process)", R["lib_down"]),
        ("vpclab down --no-wait: returns", R["cli_down_nowait"]),
        ("vpclab down --no-wait: kernel done", R["cli_down_nowait_done"]),
        ("ip -batch netns del", R["ipb_down"]),
        ("Mininet stop() returns", R["mn_stop"]),
        ("Mininet stop() + namespaces destroyed", R["mn_down"]),
    ]
    for label, xs in rows:
        if xs is None:
            print(f"\n{label}")
        elif xs:
            print(f"  {label:<52} {fmt(xs)}")

    parts = [x["mn_detail"]["up_parts"] for x in raw if "mn_detail" in x]
    if parts:
        print("  Mininet up parts: " + ", ".join(f"{k} {med([p[k] for p in parts]):.2f} s" for k in parts[0]))
    ipd = [x["ipb_detail"] for x in raw if "ipb_detail" in x]
    if ipd:
        print("  ip-batch up parts: " + ", ".join(f"{k} {med([p[k] for p in ipd]):.3f} s"
                                               for k in ("root_batch", "sysctls", "per_ns")))

    goals = [
        ("vpclab up CLI / ip-batch", ratios["cli_up/ipb_up"], "<= 1.0", lambda v: v <= 1.0),
        ("vpclab up in-process / ip-batch", ratios["lib_up/ipb_up"], "", None),
        ("Mininet up / vpclab up CLI", ratios["mn_up/cli_up"], ">= 5", lambda v: v >= 5),
        ("Mininet up / vpclab up in-process", ratios["mn_up/lib_up"], "", None),
        ("Mininet down / vpclab down CLI", ratios["mn_down/cli_down"], ">= 20", lambda v: v >= 20),
        ("Mininet down / vpclab down in-process", ratios["mn_down/lib_down"], "", None),
        ("Mininet stop() alone / vpclab down CLI", ratios["mn_stop/cli_down"], "", None),
        ("Mininet stop() returns / vpclab down --no-wait returns", ratios["mn_stop/cli_down_nowait"], "", None),
        ("vpclab down CLI / ip-batch down", ratios["cli_down/ipb_down"], "", None),
        ("vpclab down CLI, seconds", R["cli_down"], "<= 0.3 s", lambda v: v <= 0.3),
        ("vpclab down --no-wait CLI, seconds (returns)", R["cli_down_nowait"], "< 0.5 s", lambda v: v < 0.5),
    ]
    print(f"\n{'ratios (per repetition)':<44} {'median (min-max)':<24} {'goal':<8} met")
    for label, xs, goal, ok in goals:
        if not xs:
            continue
        met = ("yes" if ok(med(xs)) else "NO") if ok else ""
        print(f"  {label:<42} {fmt(xs, '', 2):<24} {goal:<8} {met}")

    ns_after = set(netns.list_names())
    links_after = root_links()
    mine_left = leftovers()
    came, went = len(ns_after - ns_before), len(ns_before - ns_after)
    print(f"\nclean-up: namespaces of this bench left: {len(mine_left)}; root-namespace links "
          f"{'unchanged' if links_after == links_before else f'CHANGED: {links_before} -> {links_after}'}; "
          f"other users' namespaces meanwhile: +{came} -{went}")

    OUT.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = OUT / f"up_bench-{stamp}.json"
    out.write_text(json.dumps({
        "bench": "up_bench", "started": started, "reps": args.reps, "warmup": args.warmup,
        "machine": {"kernel": platform.release(), "cpus": os.cpu_count(), "python": platform.python_version(),
                    "loadavg": os.getloadavg()},
        "objects": counts, "ipbatch_processes": ipb.processes, "checks": checks,
        "mininet": mn_missing or "ok", "raw": raw, "series": R, "ratios": ratios}, indent=1))
    print(f"raw results: {out}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
