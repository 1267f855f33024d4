"""Commands on topology files, no lab and no root: `validate`, `schema`, `import terraform`."""
from __future__ import annotations

import json
import sys

import click

from ..errors import Refused
from .options import json_option
from .output import emit, plural, warn


@click.command(short_help="Check a topology file (FILE:LINE: CODE).",
               epilog="\b\nExample:\n  vpclab validate topologies/01-two-vpcs.yaml")
@click.argument("file", type=click.Path(dir_okay=False))
@json_option
def validate(file, as_json):
    """Check a topology file; print every problem as FILE:LINE: CODE: message (exit 2)."""
    from ..controller import static
    from ..errors import TopologyInvalid

    try:
        lab = static.validate(file)
    except TopologyInvalid as e:
        if as_json:
            raise
        for line in e.lines():
            click.echo(line)
        sys.exit(e.exit_code)
    doc = {"file": file, "valid": True, "lab": lab.name, "vpcs": len(lab.vpcs), "instances": len(lab.instances()),
           "peerings": len(lab.peerings), "expectations": len(lab.expectations)}
    emit(doc, as_json, lambda: click.echo(
        f"{file}: ok: lab {lab.name}, {plural(len(lab.vpcs), 'VPC')}, {plural(len(lab.instances()), 'instance')}, "
        f"{plural(len(lab.peerings), 'peering')}, {plural(len(lab.expectations), 'expectation')}"))


@click.command(short_help="The topology format as JSON Schema.",
               epilog="\b\nExamples:\n  vpclab schema > topology.schema.json\n"
                      "  # then, first line of a topology file, for yaml-language-server (VS Code, Neovim...):\n"
                      "  # yaml-language-server: $schema=./topology.schema.json")
def schema():
    """The JSON Schema of the topology format, for editors (completion and checks as you type)."""
    from ..controller import files

    click.echo(json.dumps(files.schema(), indent=2))


@click.group("import", epilog="\b\nExamples:\n  terraform plan -out plan.out && terraform show -json plan.out > plan.json\n"
                              "  vpclab import terraform plan.json -o lab.yaml && vpclab validate lab.yaml")
def import_group():
    """A topology from another tool's description of the network."""


@import_group.command("terraform", short_help="A topology from `terraform show -json`.",
                      epilog="\b\nExamples:\n"
                             "  terraform show -json plan.out > plan.json\n"
                             "  vpclab import terraform plan.json -o lab.yaml\n"
                             "  vpclab import terraform state.json --lab prod > prod.yaml")
@click.argument("plan", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the topology here (default: stdout).")
@click.option("--lab", "lab", metavar="NAME", help="The lab name (default: from the file name).")
@json_option
def import_terraform(plan, output, lab, as_json):
    """A topology from `terraform show -json` of a plan or a state (tencentcloud provider).

    Imports VPCs, subnets, route tables and their associations, routes (to peerings, NAT
    gateways and CCNs), peerings with their accept/reject operations, instances, security groups
    and their rules, network ACLs, EIPs, NAT gateways and CCNs (docs/ci.md has the table), each
    VPC in its provider's account, named from its Terraform address. Every resource or attribute
    it cannot carry is listed on stderr with its address. A configuration that breaks a cloud
    rule is refused (exit 2), naming the resource.
    """
    from ..controller import files

    _check_lab_name(lab)
    _report_import(files.import_terraform(plan, lab), output, as_json, "address")


def _check_lab_name(lab) -> None:
    from ..model.types import LAB_NAME

    if lab is not None and not LAB_NAME.match(lab):
        raise Refused(f"--lab '{lab}' is not a lab name (1-8 characters, [a-z][a-z0-9]*)",
                      code="InvalidParameterValue")


def _report_import(r, output, as_json, key: str) -> None:
    """An import's topology (to OUTPUT, or stdout), its notes on stderr, and its summary;
    `key`: what a note names its object by (a Terraform `address`, a cloud `id`)."""
    from ..controller import outfiles

    if output:
        outfiles.write_text(output, r.text, "the topology")
    for n in r.notes:
        warn(str(n))
    doc = {"lab": r.lab, "output": output, **r.counts, "notes": [{key: n.address, "what": n.what} for n in r.notes]}
    if not output:
        doc["topology"] = r.text
    emit(doc, as_json, lambda: click.echo(
        f"{output}: lab {r.lab}, {plural(r.counts['vpcs'], 'VPC')}, {plural(r.counts['instances'], 'instance')}, "
        f"{plural(r.counts['peerings'], 'peering')}" + (f"; {plural(len(r.notes), 'note')} above" if r.notes else "")
        if output else r.text, nl=bool(output)))


@import_group.command("tencentcloud", short_help="A topology from the JSON of Tencent Cloud describe calls.",
                      epilog="\b\nExamples (docs/import-tencentcloud.md has the whole dump):\n"
                             "  tccli vpc DescribeVpcs --region ap-guangzhou --Limit 100 > snap/vpcs.json\n"
                             "  vpclab import tencentcloud snap/ --region ap-guangzhou -o net.yaml\n"
                             "  vpclab import tencentcloud --live --region ap-guangzhou -o net.yaml")
@click.argument("dirs", metavar="DIR...", nargs=-1, type=click.Path(file_okay=False))
@click.option("--region", metavar="REGION", help="The region of the files at a DIR's top (a response never names "
                                                 "it; a subfolder of DIR is the region it is named for).")
@click.option("--live", is_flag=True, help="Read the same calls through the SDK (TENCENTCLOUD_SECRET_ID/KEY; "
                                           "--region required) instead of from files.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the topology here (default: stdout).")
@click.option("--lab", "lab", metavar="NAME", help="The lab name (default: from the first DIR's name).")
@json_option
def import_tencentcloud(dirs, region, live, output, lab, as_json):
    """A topology from the JSON that `tccli` (or the API) returns for the describe calls of an
    account: one file per call (or per page), recognised by content, one DIR per account.

    Imports VPCs, subnets, route tables and routes, peerings (ACTIVE, PENDING, REJECTED), CVM
    instances, security groups and their policies, network ACLs, EIPs and NAT gateways. Every
    object it cannot carry, and every call with missing pages, is listed on stderr with its id.
    Needs the SDK's models: pip install 'vpclab[tencentcloud]'.
    """
    from ..controller import tencent

    _check_lab_name(lab)
    if live and (dirs or not region):
        raise Refused("--live reads the API, not folders: give --region and no DIR", code="InvalidParameter")
    if not live and not dirs:
        raise Refused("give the folder(s) the describe calls were saved in (one per account), or --live",
                      code="InvalidParameter", hint="docs/import-tencentcloud.md lists the tccli commands")
    r = tencent.import_live(region, lab) if live else tencent.import_snapshot(list(dirs), region, lab)
    _report_import(r, output, as_json, "id")


COMMANDS = [validate, schema, import_group]
