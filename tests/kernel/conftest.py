"""Fixtures for kernel tests: a unique lab name per test whose namespaces are always removed."""
from __future__ import annotations

import random
import string

import pytest
from hypothesis import Phase, settings

from kernlab import TinyLab
from vpclab.plan import names as N

# `pytest --hypothesis-profile=vpclab-noshrink`: the differential tests report the first failing
# lab as drawn (shrinking a lab that is built for every try can take many minutes)
settings.register_profile("vpclab-noshrink", phases=[Phase.explicit, Phase.reuse, Phase.generate])


@pytest.fixture
def lab():
    """A fresh lab name `t` + 6 random [a-z0-9]; every namespace with its prefix goes at the end."""
    from vpclab.kernel import netns, teardown

    name = "t" + "".join(random.choices(string.ascii_lowercase + string.digits, k=6))
    prefix = N.lab_prefix(name)
    try:
        yield name
    finally:
        teardown.remove_lab_namespaces(prefix)
        assert netns.list_names(prefix) == []


@pytest.fixture
def tiny(lab):
    return TinyLab(lab)
