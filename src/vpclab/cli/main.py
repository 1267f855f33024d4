"""The `vpclab` command: the root group, the ONE list of command modules, and the ONE place
errors become exit codes.

Data goes to stdout, diagnostics and progress to stderr; with `--json` stdout
holds exactly one JSON document (errors too: `{"error": {...}}`). Exit codes
follow CLI.md: 0 done, 1 expectations failed, 2 refused, 3 environment, 4 kernel.
Each command group lives in a module of its own that lists its commands in `COMMANDS`;
a new command is one such module (or one more command in one) and one entry below.
Heavy modules (pyroute2, scapy, rich) are imported inside the commands that use them.
"""
from __future__ import annotations

import json
import sys

import click

from .. import __version__
from . import (ccn, clock, events, exercises, explain, filters, graph, lifecycle, peering, probing, route, tools,
               topology, ui, usage)
from .options import usage_error
from ..errors import KernelRefused, Refused, VpclabError

EXAMPLES = """
\b
Examples:
  vpclab validate topologies/01-two-vpcs.yaml
  vpclab explain vpc-a/cvm-1 vpc-b/cvm-1 -f topologies/01-two-vpcs.yaml
  sudo vpclab up topologies/01-two-vpcs.yaml
  sudo vpclab probe vpc-a/cvm-1 vpc-b/cvm-1
  sudo vpclab matrix
  sudo vpclab test
  sudo vpclab peering accept pcx-ab --as bob
  sudo vpclab route add vpc-b --destination 10.0.0.0/16 --next-hop pcx-ab
  sudo vpclab down
  vpclab diff old.yaml new.yaml            # what a change gains and loses, no root
  vpclab import terraform plan.json -o lab.yaml
  sudo pytest --vpclab lab.yaml -n auto --junitxml=report.xml
"""

# Every command group, in the order `vpclab` registers them (`--help` lists them sorted).
COMMAND_MODULES = [filters, topology, explain, lifecycle, peering, route, clock, events, probing, tools, graph, ui,
                   exercises, usage, ccn]


@click.group(epilog=EXAMPLES, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="vpclab")
def cli():
    """Cloud VPC peering on Linux network namespaces: real kernel objects, real packets.

    Each VPC is a namespace acting as its router, each instance a namespace of its
    own, each ACTIVE peering a veth between two VPCs. Routes are kernel routes, and
    traffic flows only when BOTH sides route it. Topology format: docs/topology.md.
    """


for _module in COMMAND_MODULES:
    for _command in _module.COMMANDS:
        cli.add_command(_command)


def report(err: VpclabError, as_json: bool) -> None:
    """An error on the channel the user asked for: JSON on stdout, or lines on stderr."""
    if as_json:
        click.echo(json.dumps(err.to_json(), indent=2))
    else:
        for line in err.lines():
            click.echo(line, err=True)


def main(argv=None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in args
    try:
        if any("\0" in a for a in args):  # only in-process callers can pass one; click's paths choke on it
            raise Refused("an argument contains a NUL character", code="InvalidParameterValue")
        cli.main(args=args, prog_name="vpclab", standalone_mode=False)
    except VpclabError as e:
        report(e, as_json)
        sys.exit(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        err = usage_error(e, as_json)
        if not as_json and isinstance(e, click.UsageError) and e.ctx is not None:
            click.echo(f"{e.ctx.get_usage()}\nTry '{e.ctx.command_path} -h' for help.\n", err=True)
        report(err, as_json)
        sys.exit(err.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("interrupted: `vpclab ls` shows a lab left half built; `vpclab cleanup LAB` removes it "
                   "(or `vpclab up FILE` again repairs it)", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except OSError as e:
        # A system call the kernel layer did not expect to fail (e.g. setns on a
        # namespace file that is not a network namespace): exit 4, cleanable.
        err = KernelRefused(f"{e.strerror or e} (errno {e.errno}){': ' + str(e.filename) if e.filename else ''}",
                            errno=e.errno)
        report(err, as_json)
        sys.exit(err.exit_code)
    sys.exit(0)
