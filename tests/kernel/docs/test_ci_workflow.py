"""docs/examples/reachability.yml, the GitHub Actions workflow of docs/ci.md, run here as far
as this machine allows.

A team's repository is made in a temporary git repository: `network/` (Terraform), `net.yaml`
(imported from the base branch's plan, committed) and `team.yaml` (`include: [net.yaml]` and
the team's expectations); `origin/main` is the base. A pull request's plan removes a route.
Then the workflow's steps run in order, each `run:` in bash as GitHub runs it (`bash
--noprofile --norc -eo pipefail`, the workflow's env, `working-directory`, `if:` evaluated
with the outcomes so far), except:
- `uses:` steps (checkout, setup-terraform, upload-artifact) are not run; the checkout is the
  temporary repository, and for upload-artifact the test checks that its `if:` is always()
  and that every path it uploads exists when its turn comes;
- the install step needs apt and the package index: it is checked, not run (its apt line has
  libnftables1 and iperf3, it installs `vpclab[ci]`, and neither it nor the `ci` extra
  names Chromium, Playwright or matplotlib); this suite's venv stands in for its venv;
- there is no Terraform provider to plan with (no network): the plan step is replaced by
  copying a committed plan JSON (tests/fixtures/ci/plan-change.json) to where its
  `terraform show -json` writes;
- `sudo` runs the command as it is (the suite runs as root);
- the cleanup step runs `vpclab cleanup` for this run's labs only: other tests share this
  machine, and a bare `vpclab cleanup` would also remove their labs.
The diff must fail (the change breaks an expectation), the tests must still run and fail
with a JUnit report, the report and the diff must be there for the upload, and the cleanup
must run and leave nothing of the run's labs.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

from labkit import REPO, assert_gone, needs_root

pytestmark = needs_root

WORKFLOW = REPO / "docs" / "examples" / "reachability.yml"
FIXTURES = REPO / "tests" / "fixtures" / "ci"
VENV = Path(sys.prefix)

TEAM = """\
# The team's file: the imported network plus what must hold. An import never touches it.
include: [net.yaml]
lab: reach
expect:
  - {from: a/a, to: b/b}
  - {from: b/b, to: a/a}
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def team_repository(root: Path) -> Path:
    repo = root / "team"
    (repo / "network").mkdir(parents=True)
    (repo / "network" / "main.tf").write_text("# the tencentcloud resources of tests/fixtures/ci/plan-base.json\n")
    (repo / "team.yaml").write_text(TEAM)
    subprocess.run([str(VENV / "bin" / "vpclab"), "import", "terraform", str(FIXTURES / "plan-base.json"),
                    "-o", str(repo / "net.yaml")], check=True, capture_output=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "base")
    git(repo, "update-ref", "refs/remotes/origin/main", "HEAD")  # the base branch, as fetched
    git(repo, "checkout", "-q", "-b", "drop-return-route")
    (repo / "network" / "main.tf").write_text("# b_to_a removed\n")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-am", "drop b_to_a")
    return repo


def expression(text: str, outcomes: dict, event: str, env: dict) -> object:
    """A GitHub expression of the kinds the workflow uses (`${{ }}` optional)."""
    text = text.strip()
    m = re.fullmatch(r"\$\{\{(.*)\}\}", text, re.S)
    text = (m.group(1) if m else text).strip()
    failed = any(o == "failure" for o in outcomes.values())
    py = (text.replace("&&", " and ").replace("||", " or ").replace("!cancelled()", "True")
          .replace("always()", "True").replace("success()", str(not failed)).replace("failure()", str(failed)))
    py = re.sub(r"!(?!=)", " not ", py)
    py = re.sub(r"steps\.([A-Za-z_][\w-]*)\.outcome", lambda s: repr(outcomes.get(s.group(1), "")), py)
    py = py.replace("github.event_name", repr(event))
    py = re.sub(r"env\.(\w+)", lambda s: repr(env[s.group(1)]), py)
    return eval(py, {"__builtins__": {}}, {"True": True, "False": False})


def test_the_workflow_runs_plan_import_diff_pytest_and_always_uploads_and_cleans_up(tmp_path):
    doc = yaml.safe_load(WORKFLOW.read_text())
    on = doc.get("on", doc.get(True))  # PyYAML reads a bare `on:` as True
    assert "pull_request" in on
    assert doc["defaults"]["run"]["shell"] == "bash"
    steps = doc["jobs"]["reachability"]["steps"]
    repo = team_repository(tmp_path)
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "sudo").write_text('#!/bin/sh\nexec "$@"\n')
    (shim / "sudo").chmod(0o755)
    runner_temp = tmp_path / "runner"
    runner_temp.mkdir()
    env = dict(os.environ)
    env.update({k: str(v) for k, v in doc["env"].items()})
    env.update(VPCLAB_VENV=str(VENV), GITHUB_WORKSPACE=str(repo), GITHUB_EVENT_NAME="pull_request",
               GITHUB_BASE_REF="main", RUNNER_TEMP=str(runner_temp), GITHUB_PATH=str(tmp_path / "github_path"),
               PATH=f"{shim}{os.pathsep}{VENV / 'bin'}{os.pathsep}{os.environ['PATH']}")
    env.pop("PYTHONPATH", None)
    outcomes, order, outputs, labs = {}, [], {}, []
    for i, step in enumerate(steps):
        sid = step.get("id", f"step{i}")
        name = step.get("name", step.get("uses", ""))
        if not expression(step.get("if", "success()"), outcomes, "pull_request", env):
            outcomes[sid] = "skipped"
            continue
        if "uses" in step:
            action = step["uses"].split("@")[0]
            assert action in ("actions/checkout", "hashicorp/setup-terraform", "actions/upload-artifact"), action
            if action == "actions/upload-artifact":
                assert step["if"] == "always()"
                paths = [p for p in step["with"]["path"].split("\n") if p.strip()]
                assert {"reachability.xml", "diff.txt"} <= set(paths)
                for p in paths:
                    assert (repo / p).is_file(), f"{p} is not there for the upload"
                order.append("upload")
            outcomes[sid] = "success"
            continue
        script = step["run"]
        if "apt-get install" in script:  # the install step: checked, not run (apt, the package index)
            apt = next(l for l in script.splitlines() if "apt-get install" in l).split()
            assert {"libnftables1", "iperf3"} <= set(apt)
            assert "'vpclab[ci]'" in script
            assert not re.search(r"chromium|playwright|matplotlib", script, re.I)
            extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
            assert not re.search(r"chromium|playwright|matplotlib", " ".join(extras["ci"]), re.I)
            assert {"pytest", "pytest-xdist"} <= {re.split(r"[<>=\[ ]", r)[0] for r in extras["ci"]}
            outcomes[sid] = "success"
            continue
        if "terraform show -json" in script:
            # No provider to plan with here: the committed plan JSON stands for the plan's JSON.
            last = script.strip().splitlines()[-1]
            assert last.strip() == 'terraform show -json plan.out > "$GITHUB_WORKSPACE/plan.json"'
            shutil.copy(FIXTURES / "plan-change.json", repo / "plan.json")
            order.append("plan")
            outcomes[sid] = "success"
            continue
        if re.search(r"\bvpclab\"? cleanup\b", script):
            order.append("cleanup")
            assert step["if"] == "always()"
            assert labs, "the tests built no lab"
            script = script.rstrip() + " " + " ".join(labs)  # this run's labs only: the machine is shared
        cwd = repo / expression(step["working-directory"], outcomes, "pull_request", env) \
            if "working-directory" in step else repo
        p = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=cwd,
                           env=env, capture_output=True, text=True, timeout=600)
        outcomes[sid] = "success" if p.returncode == 0 else "failure"
        outputs[sid] = p.stdout + p.stderr
        for word in ("import", "diff", "pytest"):
            if re.search(rf"\bvpclab\"? {word}\b|-m {word}\b", script):
                order.append(word)
        labs += re.findall(r"lab ([a-z0-9]{1,8}) built and removed", p.stdout)
    assert order == ["plan", "import", "diff", "pytest", "upload", "cleanup"], order
    assert outcomes["import"] == "success", outputs["import"]
    assert "::notice file=net.yaml::" in outputs["import"]  # this plan changed the committed net.yaml
    assert "10.0.0.0/16" not in (repo / "net.yaml").read_text().split("b-private:")[1]
    # the diff fails: the change breaks both expectations, and it names the route
    assert outcomes["diff"] == "failure", outputs["diff"]
    assert "because route 10.0.0.0/16 via ab removed from b/b-private" in (repo / "diff.txt").read_text()
    # the tests still ran, with real packets, and failed with a JUnit report
    assert outcomes["test"] == "failure", outputs["test"]
    cases = list(ET.parse(repo / "reachability.xml").getroot().iter("testcase"))
    assert sorted(c.get("name") for c in cases) == ["a/a->b/b/icmp", "b/b->a/a/icmp"]
    failures = {c.get("name"): c.find("failure").get("message", "") + (c.find("failure").text or "")
                for c in cases if c.find("failure") is not None}
    assert set(failures) == {"a/a->b/b/icmp", "b/b->a/a/icmp"}
    assert all("NO_ROUTE" in text for text in failures.values()), failures
    assert outcomes[steps[-1].get("id", f"step{len(steps) - 1}")] == "success", outputs
    for lab in labs:
        assert_gone(lab)
