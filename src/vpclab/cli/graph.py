"""`vpclab graph`: the topology as a diagram (DOT, SVG, PNG) or as JSON, with `--probe SRC DST`
the verdict drawn on it.

On a running lab the verdict is a real probe (packets, root); with `-f FILE` it is
`explain`'s answer from the model (no lab, no root). Both have the same JSON shape
(forward and return legs with their path and last hop, the reason), which is all
the diagram's overlay (render/dot.py) reads.
"""
from __future__ import annotations

from typing import Optional, Tuple

import click

from ..errors import Refused
from .options import lab_option, proto_options
from .output import emit


@click.command(short_help="A topology diagram (DOT, SVG, PNG).",
               epilog="\b\nExamples:\n  vpclab graph -f topologies/03-hub-spokes.yaml -o hub.png\n  sudo vpclab graph > lab.dot\n"
                      "  vpclab graph -f topologies/02-one-way-route.yaml --probe vpc-a/cvm-1 vpc-b/cvm-1 -o why.png\n"
                      "  sudo vpclab graph --probe vpc-a/cvm-1 vpc-b/db-1 --proto tcp --port 3306 -o probe.svg")
@click.option("-f", "--file", "file", type=click.Path(dir_okay=False), help="From a topology file instead of a lab.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write DOT, or SVG/PNG by extension (Graphviz).")
@lab_option
@click.option("--probe", nargs=2, metavar="SRC DST",
              help="Draw this probe's path both ways and where it stopped (a real probe on a lab; explain's "
                   "answer with -f).")
@proto_options
@click.option("--json", "as_json", is_flag=True,
              help="Print the graph as one JSON document: its nodes (regions, VPCs, subnets, instances) and edges.")
def graph(file, output, lab, probe, proto, port, as_json):
    """A topology diagram: DOT always; SVG or PNG when Graphviz is installed.

    Each VPC's router lists its route tables; each peering is a box joined to both
    routers, the side with no route back red and dashed; CLBs point at their
    backends; a legend explains it all. With --json, the same graph as data (and -o
    still writes the diagram); with --probe, --json adds the probe's result.
    """
    from ..controller import static
    from ..controller import outfiles
    from .render import graph as drawing

    if output:  # before the model is read and a probe is run: a bad path is refused at once
        outfiles.check_writable(output, drawing.WHAT)
    model = static.model_for(lab, file, None if file else _settled())
    overlay = verdict(probe, proto, port, file, lab)
    text = drawing.dot(model, overlay)
    if output:
        drawing.write(text, output)
    if as_json:
        doc = dict(drawing.to_json(model), output=output)
        if overlay is not None:
            doc["probe"] = overlay
        emit(doc, True)
    elif output:
        click.echo(output)
    else:
        click.echo(text, nl=False)


def verdict(probe: Optional[Tuple[str, str]], proto: str, port: Optional[int], file: Optional[str],
            lab: Optional[str]) -> Optional[dict]:
    """The probe's (or explain's) JSON result to overlay, or None without --probe."""
    from ..controller import explaining

    if probe is None:
        if proto != "icmp" or port is not None:
            raise Refused("--proto and --port go with --probe SRC DST", code="InvalidParameter")
        return None
    src, dst = probe
    if file:
        return explaining.explain(src, dst, proto, port, file=file).to_json()
    from ..controller import probing

    return probing.probe(src, dst, proto, port, None, lab)


def _settled():
    from ..controller import settle

    return settle.load_model


COMMANDS = [graph]
