"""Every option that writes a file, against hostile output paths (issue 19, items 8 and 9).

vpclab runs as root in directories other users can write. For each writer -- `graph -o`
(.dot, and .svg/.png through Graphviz), `import terraform -o`, `test --junit`, `usage
--plot` and `probe --pcap` -- the path is: a symbolic link to a file (which must stay as
it was), a dangling link (whose target must not appear), a FIFO (which must not block: a
SIGALRM ends a hung call), a directory, /dev/full, a path in a missing directory, and a
plain new or existing file (which must work, leave no temporary file, and keep an old
file's permission bits). No lab and no root are needed: the live parts are replaced by
their results (`probing.test`, `query.usage`), and `--pcap` runs the two calls `probe`
makes (check first, write last).
"""
from __future__ import annotations

import errno
import io
import os
import shutil
import signal
import stat
import threading
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from scapy.utils import rdpcap

from vpclab.cli import main as cli
from vpclab.cli.render import graph
from vpclab.controller import outfiles as outpath, probing, verdicts as probe_report
from vpclab.topology import load as loader
from vpclab.errors import Refused, VpclabError

ROOT = Path(__file__).resolve().parents[3]
TWO = ROOT / "topologies" / "01-two-vpcs.yaml"
PLAN = ROOT / "tests" / "fixtures" / "terraform" / "full-plan.json"
HANG_S = 10

BILL = """\
lab: bill
accounts: [alice, bob]
regions: {ap-guangzhou: {}, ap-singapore: {}}
vpcs:
  vpc-a: {account: alice, region: ap-guangzhou, cidr: 10.0.0.0/16}
  vpc-b: {account: bob, region: ap-singapore, cidr: 10.1.0.0/16}
peerings:
  pcx-ab: {vpc: vpc-a, peer_vpc: vpc-b, bandwidth: 20Mbps}
billing: {window: 10s}
"""
JUNIT_DOC = {"lab": "x", "passed": 1, "failed": 0, "source": None,
             "cases": [{"from": "vpc-a/cvm-1", "to": "vpc-b/cvm-1", "proto": "icmp", "port": None,
                        "expected": "reachable", "got": "reachable", "ok": True, "reason": None, "line": 3,
                        "mismatch": None, "forward": None, "return": None}]}


class Hung(Exception):
    pass


def _usage_result():
    from vpclab.usage import report
    from vpclab.usage.samples import Sample

    model = loader.loads(BILL, "bill.yaml")
    rows = [Sample(float(t), 0.0, "pcx-ab", t * 125_000, t * 1_000, 20_000) for t in range(0, 60, 10)]
    doc = report.build(model, 0.0, rows, model.billing)
    doc["metering"] = True
    return doc, report.series(rows, 0.0, doc["window_s"])


def _cli(capsys, argv):
    try:
        cli.main(argv)
        code = 0
    except SystemExit as e:
        code = e.code or 0
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, err


def _pcap(capsys, path):
    """What `probe --pcap PATH` does with the path: checked before the probe, written after it."""
    try:
        probe_report.check_pcap_path(path)
        probe_report.write_pcap(path, SimpleNamespace(packets=[]))
    except VpclabError as e:
        return e.exit_code, "\n".join(e.lines())
    return 0, ""


# name: (file name, what the messages call it, how to run it, what a whole good file is, needs)
WRITERS = {
    "graph -o .dot": ("lab.dot", "the graph", lambda c, p: _cli(c, ["graph", "-f", str(TWO), "-o", p]),
                      lambda b: b.startswith(b"graph ") and b.rstrip().endswith(b"}"), None),
    "graph -o .svg": ("lab.svg", "the graph", lambda c, p: _cli(c, ["graph", "-f", str(TWO), "-o", p]),
                      lambda b: b.startswith(b"<?xml") and b.rstrip().endswith(b"</svg>"), "dot"),
    "graph -o .png": ("lab.png", "the graph", lambda c, p: _cli(c, ["graph", "-f", str(TWO), "-o", p]),
                      lambda b: b.startswith(b"\x89PNG\r\n\x1a\n") and b.endswith(b"IEND\xaeB`\x82"), "dot"),
    "import terraform -o": ("lab.yaml", "the topology",
                            lambda c, p: _cli(c, ["import", "terraform", str(PLAN), "-o", p]),
                            lambda b: "vpcs" in yaml.safe_load(b), None),
    "test --junit": ("report.xml", "JUnit XML", lambda c, p: _cli(c, ["test", "--junit", p]),
                     lambda b: ET.fromstring(b).find("testcase") is not None, None),
    "usage --plot": ("usage.png", "the plot", lambda c, p: _cli(c, ["usage", "-l", "bill", "--plot", p]),
                     lambda b: b.startswith(b"\x89PNG\r\n\x1a\n") and b.endswith(b"IEND\xaeB`\x82"), "matplotlib"),
    "probe --pcap": ("probe.pcapng", "the capture file", _pcap,
                     lambda b: b.startswith(b"\x0a\x0d\x0d\x0a") and len(rdpcap(io.BytesIO(b))) == 0, None),
}


@pytest.fixture
def writers(monkeypatch):
    from vpclab.controller import usage as query

    monkeypatch.setattr(probing, "test", lambda *a, **k: JUNIT_DOC)  # `test` without probes
    monkeypatch.setattr(query, "usage", lambda *a, **k: _usage_result())  # `usage` without a lab
    return WRITERS


def _needs(what):
    if what == "dot" and shutil.which("dot") is None:
        pytest.skip("Graphviz is not installed")
    if what == "matplotlib":
        pytest.importorskip("matplotlib")


def _timed(fn, *a):
    """fn(*a), or Hung after HANG_S seconds (an open() of a FIFO with no reader blocks forever)."""
    assert threading.current_thread() is threading.main_thread()  # SIGALRM reaches the main thread only

    def ring(*_):
        raise Hung(f"blocked for {HANG_S} s")

    old = signal.signal(signal.SIGALRM, ring)
    signal.alarm(HANG_S)
    try:
        return fn(*a)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _left(d: Path):
    return sorted(p.name for p in d.iterdir())


def _snapshot(p: Path):
    st = os.lstat(p)
    return stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), p.read_bytes() if p.is_file() else None


HOSTILE = ["symlink to a file", "dangling symlink", "FIFO", "directory", "/dev/full", "missing directory"]


@pytest.mark.parametrize("case", HOSTILE)
@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_hostile_output_path_is_refused_and_left_alone(writers, writer, case, tmp_path, capsys):
    name, what, run, _, needs = writers[writer]
    _needs(needs)
    d = tmp_path / "out"
    d.mkdir()
    victim = tmp_path / "victim"  # a root-only file a planted link points to
    victim.write_bytes(b"keep me\n")
    victim.chmod(0o600)
    before = _snapshot(victim)
    path = d / name
    if case == "symlink to a file":
        path.symlink_to(victim)
        why = "it is a symbolic link"
    elif case == "dangling symlink":
        path.symlink_to(tmp_path / "created-through-the-link")
        why = "it is a symbolic link"
    elif case == "FIFO":
        os.mkfifo(path)
        why = "it is a FIFO, not a regular file"
    elif case == "directory":
        path.mkdir()
        why = "is a directory"  # click's Path(dir_okay=False) may say it first: "File '...' is a directory"
    elif case == "/dev/full":
        if not os.path.exists("/dev/full"):
            pytest.skip("no /dev/full")
        path = Path("/dev/full")
        why = "it is a device, not a regular file"
    else:
        path = d / "no-such-dir" / name
        why = f"no such directory {d / 'no-such-dir'}"
    kind = stat.S_IFMT(os.lstat(path).st_mode) if os.path.lexists(path) else None
    try:
        code, err = _timed(run, capsys, str(path))
    except Hung as e:
        pytest.fail(f"{writer} to a {case}: {e}")
    assert code == 2, err
    assert "InvalidParameterValue: " in err and why in err, err
    if case not in ("directory",):
        assert f"cannot write {what} to {path}: {why}" in err, err
    assert _snapshot(victim) == before  # nothing written through a link
    assert not (tmp_path / "created-through-the-link").exists()
    assert not (d / "no-such-dir").exists()
    if kind is not None:
        assert stat.S_IFMT(os.lstat(path).st_mode) == kind  # the link, FIFO or directory is still there
    if path.parent == d:
        assert _left(d) == [name]  # no temporary file left behind


@pytest.mark.parametrize("existing", [False, True])
@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_plain_path_is_written_whole_with_its_mode(writers, writer, existing, tmp_path, capsys):
    name, what, run, whole, needs = writers[writer]
    _needs(needs)
    path = tmp_path / name
    if existing:
        path.write_bytes(b"old")
        path.chmod(0o640)
        mode = 0o640  # an old file keeps its permission bits
    else:
        mask = os.umask(0)
        os.umask(mask)
        mode = 0o644 & ~mask
    code, err = _timed(run, capsys, str(path))
    assert code == 0, err
    data = path.read_bytes()
    assert whole(data), data[:60]
    assert stat.S_IMODE(os.lstat(path).st_mode) == mode and path.is_file() and not path.is_symlink()
    assert _left(tmp_path) == [name]


@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(writers, writer, tmp_path, capsys,
                                                                     monkeypatch):
    name, what, run, _, needs = writers[writer]
    _needs(needs)
    path = tmp_path / name
    path.write_bytes(b"old")

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(outpath.os, "fsync", full)
    code, err = _timed(run, capsys, str(path))
    assert code == 2 and f"cannot write {what} to {path}: No space left on device" in err, err
    assert path.read_bytes() == b"old" and _left(tmp_path) == [name]


def test_a_link_planted_after_the_check_is_replaced_not_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep")
    path = tmp_path / "out.dot"
    with outpath.replacing(str(path), "the graph") as f:
        path.symlink_to(victim)  # the race: a link put there between the check and the write
        f.write(b"digraph {}\n")
    assert victim.read_text() == "keep"
    assert not path.is_symlink() and path.read_bytes() == b"digraph {}\n"
    assert _left(tmp_path) == ["out.dot", "victim"]


def test_graphviz_never_gets_the_users_path(tmp_path, monkeypatch):
    """`dot` writes to its stdout, piped into the opener's temporary file: no `-o PATH` to follow."""
    seen = []

    def fake_run(argv, **kw):
        seen.append((argv, kw))
        kw["stdout"].write(b"<svg/>")
        return SimpleNamespace(returncode=0, stderr=b"")

    monkeypatch.setattr(graph.shutil, "which", lambda _: "/usr/bin/dot")
    monkeypatch.setattr(graph.subprocess, "run", fake_run)
    path = tmp_path / "g.svg"
    graph.write("digraph {}", str(path))
    [(argv, kw)] = seen
    assert argv == ["dot", "-Tsvg"] and all(str(path) not in a for a in argv)
    assert kw["stdout"].name != str(path) and path.read_bytes() == b"<svg/>"


def test_graphviz_failing_keeps_the_old_file(tmp_path):
    if shutil.which("dot") is None:
        pytest.skip("Graphviz is not installed")
    path = tmp_path / "g.nosuchformat"
    path.write_bytes(b"old")
    with pytest.raises(Refused) as e:
        graph.write("digraph {}", str(path))
    assert e.value.code == "InvalidParameterValue" and "Graphviz could not write" in e.value.message
    assert path.read_bytes() == b"old" and _left(tmp_path) == [path.name]


@pytest.mark.parametrize("bad", ["", "dir/", ".", ".."])
def test_a_path_that_names_no_file_is_refused(bad, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dir").mkdir()
    with pytest.raises(Refused) as e:
        outpath.check_writable(bad, "the graph")
    assert e.value.code == "InvalidParameterValue" and "give a file name" in e.value.message
    assert _left(tmp_path) == ["dir"]
