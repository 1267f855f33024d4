"""`vpclab ui`: the live web view (ui/), served on 127.0.0.1 until Ctrl-C."""
from __future__ import annotations

import click

from .options import Whole, lab_option


@click.command(short_help="A live web view on 127.0.0.1.",
               epilog="\b\nExamples:\n  sudo vpclab ui\n  sudo vpclab ui -l demo --port 8471")
@lab_option
@click.option("--port", type=Whole(0, 65535), default=8470, show_default=True,
              help="Port on 127.0.0.1 (0: any free one).")
def ui(lab, port):
    """A live web view of the lab on 127.0.0.1 only; prints its URL (with a token) and serves until Ctrl-C."""
    try:
        from ..ui import server
    except ImportError as e:
        from ..errors import EnvironmentProblem

        raise EnvironmentProblem(f"the web view needs aiohttp ({e.name} is missing)", code="ToolMissing",
                                 hint="pip install 'vpclab[ui]'")

    def ready(url):
        click.echo(url)
        click.echo("serving on 127.0.0.1 only; open the URL above in a browser, Ctrl-C stops", err=True)

    server.serve(lab, port, ready=ready)
    click.echo("stopped", err=True)


COMMANDS = [ui]
