"""The tools: `doctor` (what this machine's kernel offers) and `exec` (a command inside a lab)."""
from __future__ import annotations

import os
from typing import List, Optional

from ..errors import EnvironmentProblem, NotFound, Refused, did_you_mean, shown
from ..kernel import features, netns
from ..kernel.nsenter import own_hostname
from ..plan import names
from ..state import labs
from . import host, settle, static


def doctor() -> List[tuple]:
    """[(check, ok, what degrades without it)]: kernel features, tools, privileges."""
    return features.detect()


def exec_in(ref: str, argv: List[str], lab: Optional[str] = None):
    """Replace this process with `argv` inside the instance's (or VPC router's) namespace."""
    check_command(argv)
    host.require_root("exec")
    name = labs.resolve_lab(lab)
    model = settle.load_model(name)
    if "/" in ref:
        static.find_ref(model, ref, "instance")
        vpc, _, inst = ref.partition("/")
        ns, hostname = names.instance_ns(name, vpc, inst), f"{inst}.{vpc}"
    elif ref in model.vpcs:
        ns, hostname = names.vpc_ns(name, ref), ref
    else:
        refs = [i.ref for i in model.instances()] + list(model.vpcs)
        raise NotFound(f"'{shown(ref)}' is neither an instance (<vpc>/<instance>) nor a VPC of lab {name}",
                       code="InstanceNotFound", hint=did_you_mean(ref, refs))
    try:
        netns.enter(ns)
    except FileNotFoundError:
        raise NotFound(f"namespace {ns} of lab {name} is missing", code="ResourceNotFound",
                       hint="`vpclab up FILE` rebuilds what is missing")
    netns.private_sysfs()
    own_hostname(hostname)  # its own UTS namespace: `hostname` and a shell's prompt say cvm-1.vpc-a
    env = dict(os.environ, VPCLAB_LAB=name)  # the mark by which `down` knows the process is the lab's
    try:
        os.execvpe(argv[0], argv, env)
    except FileNotFoundError:
        raise EnvironmentProblem(f"command not found: {shown(argv[0])}", code="ToolMissing",
                                 hint="install it, e.g. `apt-get install iputils-ping iperf3 netcat-openbsd`")
    except OSError as e:
        raise Refused(f"cannot run {shown(argv[0])}: {e.strerror}", code="InvalidParameter")


def check_command(argv: List[str]) -> None:
    """What `exec` runs: a command name, and no argument the kernel cannot pass (a NUL)."""
    if not argv:
        raise Refused("nothing to run: vpclab exec INSTANCE -- CMD ...", code="MissingParameter")
    if not argv[0]:
        raise Refused("the command to run is empty: vpclab exec INSTANCE -- CMD ...", code="InvalidParameterValue")
    bad = next((a for a in argv if "\0" in a), None)
    if bad is not None:
        raise Refused(f"an argument holds a NUL character, which no command can receive: {shown(bad)}",
                      code="InvalidParameterValue")
