"""Real packets: `probe` (one pair, with what each capture point saw), `matrix` (every pair)
and `test` (the topology's `expect:` list)."""
from __future__ import annotations

import json
import sys

import click

from ..errors import ExpectationFailed
from .options import json_option, lab_option, proto_options
from .output import console, emit, progress_bar, warn


@click.command(short_help="Send one real probe and show its path.",
               epilog="\b\nExamples:\n  sudo vpclab probe vpc-a/cvm-1 vpc-b/cvm-1\n"
                      "  sudo vpclab probe vpc-a/cvm-1 vpc-b/db-1 --proto tcp --port 3306 --expect reachable\n"
                      "  sudo vpclab probe vpc-a/cvm-1 vpc-b/cvm-1 --pcap probe.pcapng && tcpdump -r probe.pcapng\n"
                      "  sudo vpclab probe vpc-c/cvm-1 internet/web --proto tcp --port 80   # over the lab's Internet\n"
                      "  sudo vpclab probe internet/web vpc-a/web-1 --proto tcp --port 443  # from it, to web-1's EIP")
@click.argument("src")
@click.argument("dst")
@proto_options
@click.option("--expect", type=click.Choice(["reachable", "no-return", "unreachable"]),
              help="Exit 1 unless the verdict is this.")
@click.option("--pcap", "pcap", metavar="FILE",
              help="Also write every captured packet of the probe (all capture points) to FILE (pcapng).")
@lab_option
@json_option
def probe(src, dst, proto, port, expect, pcap, lab, as_json):
    """Send one real probe SRC -> DST (scapy) and show what each capture point saw, and when.

    SRC is VPC/INSTANCE or internet/<host> (an Internet host reaches an instance through its
    EIP only); DST is VPC/INSTANCE, internet/<host> or an address.

    Captures run at the source, at every VPC router on the way and at the destination;
    the lines under the verdict are those packets, timed from the send.
    """
    from ..controller import probing
    from .render.verdict import render_verdict

    doc = probing.probe(src, dst, proto, port, expect, lab, pcap)
    emit(doc, as_json, lambda: render_verdict(doc, "probe"))
    if doc.get("mismatch") and as_json:
        warn(doc["mismatch"])
    if expect is not None and not doc["ok"]:
        if as_json:  # the verdict document already says "ok": false; stdout holds one document
            sys.exit(ExpectationFailed.exit_code)
        raise ExpectationFailed(f"expected {expect}, got {doc['result']}" + (
            ": the packets could not tell (the reason above says what they showed)"
            if doc["result"] == "inconclusive" else ""), code="ExpectationFailed")


@click.command(short_help="Probe every instance pair.",
               epilog="\b\nExamples:\n  sudo vpclab matrix\n  sudo vpclab matrix -l demo --json > matrix.json\n"
                      "  sudo vpclab matrix -l big --jsonl | grep -v '\"reachable\"'\n"
                      "  sudo vpclab matrix -l big --by-class              # one probe per class, 1% sampled\n"
                      "  sudo vpclab matrix -l big --by-class --sample 0.1 --seed 7")
@lab_option
@json_option
@click.option("--jsonl", "as_jsonl", is_flag=True,
              help="Print JSON lines: one pair per line as it is probed, then one line with the summary.")
@click.option("--by-class", "by_class", is_flag=True,
              help="Group the pairs whose verdict must be equal; probe one per class plus a random sample, "
                   "infer the rest from their class's representative (each row says which).")
@click.option("--sample", type=click.FloatRange(0, 1), default=None, metavar="FRACTION",
              help="With --by-class: the fraction of the other pairs probed too (default 0.01).")
@click.option("--seed", type=int, default=None, help="With --by-class: the sample's random seed (printed).")
def matrix(lab, as_json, as_jsonl, by_class, sample, seed):
    """Probe every ordered instance pair (ICMP, plus the service port of service instances).

    With EIPs or Internet hosts, also every EIP and Internet host from every instance, and
    every EIP from every Internet host.

    Rows stream out as they are probed, a chunk of sources at a time, so memory stays
    flat on large labs; --json still prints one document.
    """
    from ..controller import probing
    from .render.matrix import MatrixView, stream_matrix_json

    quiet = as_json or as_jsonl
    if by_class or sample is not None or seed is not None:
        if not by_class:
            raise click.UsageError("--sample and --seed go with --by-class")
        return _matrix_by_class(lab, as_json, as_jsonl, sample, seed)
    with progress_bar("probing all pairs", quiet=quiet) as cb:
        run = probing.MatrixRun(lab, progress=cb)
        if as_jsonl:
            for r in run.rows():
                click.echo(json.dumps(r))
            click.echo(json.dumps(run.document()))
        elif as_json:
            stream_matrix_json(run)
        else:
            view = MatrixView(run)
            for r in run.rows():
                view.add(r)
    if not quiet:
        view.render()
    if run.mismatches:
        warn(f"{run.mismatches} pair(s) where the packets and explain disagree: one of them has a bug")
    if run.summary.get("inconclusive"):
        warn(f"{run.summary['inconclusive']} pair(s) inconclusive: the packets could not tell, even probed "
             f"again (each row's reason says what they showed)")


def _matrix_by_class(lab, as_json, as_jsonl, sample, seed):
    from ..controller import classes
    from .render.classes import render_classes

    quiet = as_json or as_jsonl
    with progress_bar("probing one pair per class", quiet=quiet) as cb:
        run = classes.ClassRun(lab, classes.DEFAULT_SAMPLE if sample is None else sample, seed, progress=cb).run()
    if as_jsonl:
        for r in run.rows():
            click.echo(json.dumps(r))
        click.echo(json.dumps({k: v for k, v in run.document().items() if k != "classes"}))
    elif as_json:
        click.echo(json.dumps(run.document(), indent=2))
    else:
        render_classes(run)
    if run.mismatches:
        warn(f"{run.mismatches} probed pair(s) where the packets and explain disagree: one of them has a bug")
    if run.class_mismatches:
        warn(f"{run.class_mismatches} sampled pair(s) whose verdict differs from their class's representative: "
             f"the classing has a bug (their rows say which)")


@click.command(short_help="Check the topology's expect: list with probes.",
               epilog="\b\nExamples:\n  sudo vpclab test                 # the running lab's expect: list\n"
                      "  sudo vpclab test topologies/02-one-way-route.yaml --junit report.xml")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False), help="Write JUnit XML here.")
@lab_option
@json_option
def test(file, junit_path, lab, as_json):
    """Check the topology's `expect:` list with real probes (building FILE first, removing it after)."""
    from ..controller import outfiles, probing

    if junit_path:  # before any probe: a bad path is refused at once, not after the run
        outfiles.check_writable(junit_path, probing.JUNIT)
    doc = probing.test(file, lab)
    if junit_path:
        probing.junit(doc, junit_path)

    def human():
        c = console()
        for case in doc["cases"]:
            what = case["proto"] + (f"/{case['port']}" if case["port"] else "")
            mark = "[green]PASS[/]" if case["ok"] else "[bold red]FAIL[/]"
            line = f"{mark} {case['from']} -> {case['to']} {what}: expected {case['expected']}, got {case['got']}"
            r = case["reason"] or {}
            if r.get("code"):
                line += f" ({r['code']} at {r['where']})"
            c.print(line)
            if case["got"] == "inconclusive":
                c.print(f"  [bold magenta]INCONCLUSIVE[/]: {r.get('detail')}")
            if case.get("mismatch"):
                c.print(f"  [bold red]MISMATCH[/]: {case['mismatch']}")
        click.echo(f"{doc['passed']} passed, {doc['failed']} failed")

    emit(doc, as_json, human)
    if doc["failed"]:
        sys.exit(ExpectationFailed.exit_code)


COMMANDS = [probe, matrix, test]
