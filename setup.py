"""Packaging: where the wheel's files come from (everything else is in pyproject.toml).

The exercises (`lab/`) and the shipped topologies (`topologies/`) stay at the top of the
repository, where students and teams read them, yet a wheel must carry them for
`vpclab lab list` / `vpclab lab start 03` to work from `pip install vpclab`. Rather than
copying them under `src/` (two copies in git) or a build hook (code that copies files),
setuptools' package-dir mapping makes each directory a data-only package of vpclab:
`vpclab.lab` is read from `lab/`, `vpclab.topologies` from `topologies/`, and their files
are package data. So the wheel installs `vpclab/lab/NN-*/...` and `vpclab/topologies/*.yaml`
beside the code, and nothing is duplicated. pyproject.toml cannot add mapped packages to the
ones `packages.find` discovers, hence these few lines here. The code finds the installed
copy first, then a checkout's (vpclab/exercises/shipped.py).
An editable install (`pip install -e .`) maps the two packages to the checkout's directories.
"""
from setuptools import find_namespace_packages, setup

DATA_PACKAGES = {"vpclab.lab": "lab", "vpclab.topologies": "topologies"}

setup(
    packages=find_namespace_packages("src", include=["vpclab", "vpclab.*"], exclude=["*.__pycache__"]) + sorted(DATA_PACKAGES),
    package_dir={"": "src", **DATA_PACKAGES},  # their files: [tool.setuptools.package-data]
)
