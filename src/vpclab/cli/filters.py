"""The `sg`, `acl` and `eip` commands: security groups, network ACLs and elastic IPs, live.

Each calls one operation of controller/operate.py; errors go up to `cli.main` like every
command's (a refusal: exit 2 with the cloud's code, nothing changed)."""
from __future__ import annotations

from typing import Optional

import click

from ..errors import Refused
from .options import Whole, json_option, lab_option
from .output import emit


def _emit(doc: dict, as_json: bool, text: str) -> None:
    emit(doc, as_json, lambda: click.echo(text))


PORT_HELP = "The packet's destination port: a port, a range A-B or all (tcp/udp only; default all)."
ACL_PORT_HELP = (PORT_HELP + " ACLs are stateless: a reply goes to the client's ephemeral port "
                 "(32768-65535 for vpclab's probes), so a rule for replies needs e.g. 1024-65535.")


def _rule_options(action: str, groups: bool = True):
    """The rule options of `rule add` or `rule del` (same names and behaviour, each with its own help)."""
    adding = action == "add"
    peer_forms = "a CIDR" + (", or a security group of the same VPC" if groups else "")

    def deco(f):
        f = click.option("--action", "rule_action", type=click.Choice(["accept", "drop"]),
                         help="accept or drop (required)." if adding else
                         "The rule's action, accept or drop (required to delete by fields).")(f)
        for name, direction in reversed((("source", "ingress" if groups else "inbound"),
                                         ("destination", "egress" if groups else "outbound"))):
            f = click.option(f"--{name}", name, metavar="CIDR|GROUP" if groups else "CIDR",
                             help=(f"The rule's {name} ({direction} only, required there): {peer_forms}." if adding
                                   else f"The rule's {name} ({direction} only; required to delete by fields)."))(f)
        f = click.option("--port", metavar="N|A-B|all", help=(ACL_PORT_HELP if not groups else PORT_HELP) if adding else
                         "The rule's destination port: a port, a range A-B or all (tcp/udp only; default all).")(f)
        f = click.option("--proto", type=click.Choice(["tcp", "udp", "icmp", "all"]),
                         help="The protocol (default all)." if adding else "The rule's protocol (default all).")(f)
        f = click.option("--index", type=Whole(0), metavar="N",
                         help="Insert the rule at N: rules are numbered from 0, 0 is first (default: last)."
                         if adding else "Delete the rule at N (numbered from 0, as `rule list` and `vpclab status` "
                         "list them). With fields too, that rule must have them.")(f)
        return f
    return deco


def _peer(direction: str, source, destination, incoming: str) -> Optional[str]:
    """The one of --source/--destination the direction takes; the other is refused."""
    want, other = ("source", destination) if direction == incoming else ("destination", source)
    if other is not None:
        wrong = "--destination" if want == "source" else "--source"
        raise Refused(f"a {direction} rule takes --{want}, not {wrong}", code="InvalidParameterCombination")
    return source if want == "source" else destination


def _change_doc(c, **extra) -> dict:
    return dict({"target": c.name, "change": c.state}, **c.data, **extra)


# ---- sg ---------------------------------------------------------------------------------------------


@click.group(short_help="Security groups, live: rules, attach, detach.",
             epilog="\b\nExamples:\n"
             "  sudo vpclab sg rule add vpc-a/sg-web --direction ingress --proto tcp --port 80 \\\n"
             "      --source 10.1.0.0/16 --action accept\n"
             "  sudo vpclab sg rule del vpc-a/sg-web --direction ingress --index 0\n"
             "  sudo vpclab sg attach vpc-a/cvm-1 sg-web\n"
             "  sudo vpclab sg detach vpc-a/cvm-1 sg-web")
def sg():
    """Security groups, live: edit their rules, attach them to instances or detach them.

    Stateful, at the instance: rules per direction are ordered, the first match decides,
    no match drops; the reply of an allowed flow always passes.
    """


@sg.group("rule", short_help="Add, delete or list the rules of a security group.",
          epilog="\b\nExamples:\n"
          "  sudo vpclab sg rule list vpc-a/sg-web\n"
          "  sudo vpclab sg rule add vpc-a/sg-web --direction ingress --proto icmp \\\n"
          "      --source sg-web --action accept\n"
          "  sudo vpclab sg rule add vpc-a/sg-web --direction egress --index 0 \\\n"
          "      --destination 10.9.0.0/16 --action drop\n"
          "  sudo vpclab sg rule del vpc-a/sg-web --direction ingress --index 0")
def sg_rule():
    """Add or delete a rule of a security group (VPC/GROUP), live, or list the rules with their counters."""


SG_HELP = {
    "add": ("Add a rule to a security group, live.",
            """Add a rule to security group VPC/GROUP, live.

            An ingress rule (traffic arriving at the instance) names --source, an egress rule
            (traffic it sends) --destination; --action is required. The rules of a direction
            are numbered from 0 and checked in order: the first match decides, no match drops.
            The new rule goes last, or at --index N (the rules from N on move down one).
            Stateful: the reply of an allowed flow passes without a rule of its own."""),
    "del": ("Delete a rule of a security group, live.",
            """Delete a rule of security group VPC/GROUP, live.

            Either the rule at --index N (rules are numbered from 0 in each direction, as
            `rule list` lists them), or the rule with exactly the given fields: --source
            (ingress) or --destination (egress), and --action, are required then; --proto and
            --port left out mean all. The rules after it move up one."""),
}
SG_EXAMPLES = {
    "add": "  sudo vpclab sg rule add vpc-a/sg-web --direction ingress --proto tcp --port 80 \\\n"
           "      --source 10.1.0.0/16 --action accept\n"
           "  sudo vpclab sg rule add vpc-a/sg-web --direction ingress --index 0 --proto icmp \\\n"
           "      --source sg-web --action accept",
    "del": "  sudo vpclab sg rule del vpc-a/sg-web --direction ingress --index 0\n"
           "  sudo vpclab sg rule del vpc-a/sg-web --direction egress --proto all \\\n"
           "      --destination 0.0.0.0/0 --action accept",
}
ACL_HELP = {
    "add": ("Add a rule to a network ACL, live.",
            """Add a rule to network ACL VPC/ACL, live.

            An inbound rule (traffic entering a bound subnet) names --source, an outbound rule
            (traffic leaving it) --destination, a CIDR; --action is required. The rules of a
            direction are numbered from 0 and checked in order: the first match decides, no
            match drops. The new rule goes last, or at --index N (the rules from N on move
            down one). Stateless: a reply needs a rule of its own in the other direction, for
            the client's ephemeral ports (e.g. --port 1024-65535), else no-return."""),
    "del": ("Delete a rule of a network ACL, live.",
            """Delete a rule of network ACL VPC/ACL, live.

            Either the rule at --index N (rules are numbered from 0 in each direction, as
            `rule list` lists them), or the rule with exactly the given fields: --source
            (inbound) or --destination (outbound), and --action, are required then; --proto
            and --port left out mean all. The rules after it move up one."""),
}
ACL_EXAMPLES = {
    "add": "  sudo vpclab acl rule add vpc-a/acl-app --direction inbound --proto tcp --port 80 \\\n"
           "      --source 10.1.0.0/16 --action accept\n"
           "  # the replies to those requests, to the client's ephemeral port:\n"
           "  sudo vpclab acl rule add vpc-a/acl-app --direction outbound --proto tcp \\\n"
           "      --port 1024-65535 --destination 10.1.0.0/16 --action accept",
    "del": "  sudo vpclab acl rule del vpc-a/acl-app --direction inbound --index 0\n"
           "  sudo vpclab acl rule del vpc-a/acl-app --direction outbound --proto tcp \\\n"
           "      --port 1024-65535 --destination 10.1.0.0/16 --action accept",
}


def _rule_command(parent, kind: str, action: str):
    """`sg rule add|del` and `acl rule add|del`: the same command over a group or an ACL."""
    groups = kind == "sg"
    short, text = (SG_HELP if groups else ACL_HELP)[action]
    examples = (SG_EXAMPLES if groups else ACL_EXAMPLES)[action]
    incoming, outgoing = ("ingress", "egress") if groups else ("inbound", "outbound")
    ways = ("ingress (arriving, takes --source) or egress (sent, takes --destination)." if groups else
            "inbound (entering the subnet, takes --source) or outbound (leaving it, takes --destination).")

    @parent.command(action, short_help=short, help=text, epilog="\b\nExamples:\n" + examples)
    @click.argument("ref", metavar="VPC/GROUP" if groups else "VPC/ACL")
    @click.option("--direction", required=True, type=click.Choice([incoming, outgoing]), help=ways)
    @_rule_options(action, groups=groups)
    @lab_option
    @json_option
    def command(ref, direction, index, proto, port, source, destination, rule_action, lab, as_json):
        from ..controller import operate

        peer = _peer(direction, source, destination, incoming)
        c = operate.run(lab, f"{kind} rule {action}", ref, direction, index, proto, port, peer, rule_action)
        _emit(_change_doc(c, **{"group" if groups else "acl": ref}, direction=direction), as_json,
              f"{c.name}: {c.state}")

    return command


_rule_command(sg_rule, "sg", "add")
_rule_command(sg_rule, "sg", "del")


def _list_command(parent, kind: str):
    """`sg rule list [VPC/GROUP]` and `acl rule list [VPC/ACL]`: the rules in order, with their counters."""
    groups = kind == "sg"
    what, meta = ("security group", "VPC/GROUP") if groups else ("network ACL", "VPC/ACL")
    where = ("summed over the instances that carry the group" if groups
             else "summed over the subnets the ACL is bound to")

    @parent.command("list", short_help=f"List the rules of a {what}, with their counters.",
                    epilog="\b\nExamples:\n  sudo vpclab %s rule list\n  sudo vpclab %s rule list %s --json"
                    % (kind, kind, "vpc-a/sg-web" if groups else "vpc-a/acl-app"),
                    help=f"""List the rules of {meta} (of every {what} of the lab if left out), in order.

                    Each rule shows its direction, its index (what `{kind} rule add|del --index` takes:
                    rules are numbered from 0 in each direction, the first match decides), the rule as
                    written, and its counter: the packets and bytes the kernel's nftables rule for it has
                    counted since it was installed, {where} (--json: each one's too). The row with index
                    `-` is the drop when no rule matched.""")
    @click.argument("ref", metavar=f"[{meta}]", required=False)
    @lab_option
    @json_option
    def command(ref, lab, as_json):
        from ..controller import rulelist
        from .render.rulelist import render

        doc = rulelist.rule_list(kind, ref, lab)
        emit(doc, as_json, lambda: render(doc))

    return command


_list_command(sg_rule, "sg")


def _pair_command(group, op: str, args, short: str, help_text: str, example: str):
    """`sg attach|detach VPC/INSTANCE GROUP`, `acl bind|unbind VPC/ACL SUBNET`: one live operation
    (controller/operate.py) on a pair; `args`: the two arguments' (name, metavar)."""
    (first, first_meta), (second, second_meta) = args

    @group.command(op.split()[1], short_help=short, help=help_text,
                   epilog="\b\nExample:\n  sudo vpclab %s" % example)
    @click.argument(first, metavar=first_meta)
    @click.argument(second, metavar=second_meta)
    @lab_option
    @json_option
    def command(lab, as_json, **pair):
        from ..controller import operate

        c = operate.run(lab, op, pair[first], pair[second])
        _emit(_change_doc(c, **{first: pair[first], second: pair[second]}), as_json, f"{c.name}: {c.state}")

    return command


_ATTACH = (("instance", "VPC/INSTANCE"), ("group", None))
_pair_command(sg, "sg attach", _ATTACH, "Attach a security group to an instance.",
              "Attach GROUP, a security group of the instance's VPC, to VPC/INSTANCE, live. Its rules are "
              "checked after those of the groups the instance already carries.", "sg attach vpc-a/cvm-1 sg-web")
_pair_command(sg, "sg detach", _ATTACH, "Detach a security group from an instance.",
              "Detach security group GROUP from VPC/INSTANCE, live. With no group left, the instance is "
              "not filtered.", "sg detach vpc-a/cvm-1 sg-web")


# ---- acl --------------------------------------------------------------------------------------------


@click.group(short_help="Network ACLs, live: rules, bind, unbind.",
             epilog="\b\nExamples:\n"
             "  sudo vpclab acl rule add vpc-a/acl-app --direction outbound --proto tcp \\\n"
             "      --port 1024-65535 --destination 10.1.0.0/16 --action accept\n"
             "  sudo vpclab acl rule del vpc-a/acl-app --direction inbound --index 2\n"
             "  sudo vpclab acl bind vpc-a/acl-app db\n"
             "  sudo vpclab acl unbind vpc-a/acl-app db")
def acl():
    """Network ACLs, live: edit their rules, bind them to subnets or unbind them.

    Stateless, at the subnet boundary: a reply needs a rule of its own (else: no-return);
    rules are ordered, the first match decides, no match drops.
    """


@acl.group("rule", short_help="Add, delete or list the rules of a network ACL.",
           epilog="\b\nExamples:\n"
           "  sudo vpclab acl rule list vpc-a/acl-app\n"
           "  sudo vpclab acl rule add vpc-a/acl-app --direction inbound --index 0 --proto tcp \\\n"
           "      --port 22 --source 10.1.0.0/16 --action drop\n"
           "  sudo vpclab acl rule del vpc-a/acl-app --direction inbound --index 0")
def acl_rule():
    """Add or delete a rule of a network ACL (VPC/ACL), live, or list the rules with their counters."""


_rule_command(acl_rule, "acl", "add")
_rule_command(acl_rule, "acl", "del")
_list_command(acl_rule, "acl")


_BIND = (("acl", "VPC/ACL"), ("subnet", None))
_pair_command(acl, "acl bind", _BIND, "Bind the ACL to a subnet of its VPC.",
              "Bind network ACL VPC/ACL to SUBNET, a subnet of its VPC, live (a subnet takes at most one ACL).",
              "acl bind vpc-a/acl-app app")
_pair_command(acl, "acl unbind", _BIND, "Unbind the ACL from a subnet.",
              "Unbind network ACL VPC/ACL from SUBNET, live (the subnet is then not filtered).",
              "acl unbind vpc-a/acl-app app")


# ---- eip -------------------------------------------------------------------------------------------


@click.group(short_help="Elastic IPs, live: associate, disassociate.",
             epilog="\b\nExamples:\n  sudo vpclab eip associate vpc-a/cvm-1 203.0.113.10\n"
             "  sudo vpclab eip associate vpc-b/cvm-1          # the next free address\n"
             "  sudo vpclab eip disassociate vpc-a/cvm-1")
def eip():
    """Elastic IPs, live: give an instance a public address (1:1 NAT at its VPC router) or take it."""


EIP_EXAMPLES = {"associate": "  sudo vpclab eip associate vpc-a/cvm-1 203.0.113.10\n"
                             "  sudo vpclab eip associate vpc-a/cvm-1          # the next free address",
                "disassociate": "  sudo vpclab eip disassociate vpc-a/cvm-1"}
EIP_HELP = {
    "associate": ("Give an instance an EIP.",
                  """Give VPC/INSTANCE an EIP, live: ADDRESS, or the next free address of the lab's Internet.

                  ADDRESS must be inside the lab's `internet.cidr`, not its network or broadcast
                  address, and not used by an Internet host, a NAT gateway or another EIP. A lab
                  whose file has no `internet:` key gets the range 203.0.113.0/24."""),
    "disassociate": ("Take an instance's EIP away.",
                     "Take VPC/INSTANCE's EIP away, live (ADDRESS, when given, must be it)."),
}


def _eip_command(action: str):
    short, text = EIP_HELP[action]

    @eip.command(action, short_help=short, help=text, epilog="\b\nExamples:\n" + EIP_EXAMPLES[action])
    @click.argument("instance", metavar="VPC/INSTANCE")
    @click.argument("address", required=False)
    @lab_option
    @json_option
    def command(instance, address, lab, as_json):
        from ..controller import operate

        c = operate.run(lab, f"eip {action}", instance, address)
        _emit(_change_doc(c, instance=instance), as_json, f"{c.name}: {c.state}")

    return command


_eip_command("associate")
_eip_command("disassociate")


COMMANDS = [sg, acl, eip]
