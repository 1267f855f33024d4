"""The pytest plugin (entry point `pytest11`): reachability expectations as pytest tests.

- `pytest --vpclab FILE...` collects every `expect:` entry of each topology file as
  its own test item, id `FROM->TO/proto` (`/PORT` added for tcp and udp). The file's
  lab is built once per process (per xdist worker, under a unique name), all its
  expectations are probed in one batch as `vpclab test` does, and each item reports
  its own case. A failure shows the verdict, both paths and the reason. Under
  `pytest -n` (xdist) the controller builds each file's lab under a unique name while
  the workers start, and the items of one file go to one worker, which probes them.
- The `vpclab_lab` fixture factory builds labs for hand-written tests:
  `lab = vpclab_lab("topo.yaml")`; every lab it built is removed after the test.

Every lab is removed at the end of the session, also on Ctrl-C or a crash of a test
(pytest runs `pytest_sessionfinish` then), when pytest unconfigures (Ctrl-C before the
session started), and at interpreter exit at the latest. A removal, once begun, runs to its
end: Ctrl-C during it is held off until the lab is gone (api/interrupts.py).
Without `--vpclab` and without the fixture the plugin does nothing: it imports
only `vpclab` itself until it is used.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional

import pytest

KEY = "_vpclab_plugin"


def pytest_addoption(parser):
    group = parser.getgroup("vpclab", "vpclab reachability expectations")
    group.addoption("--vpclab", action="extend", nargs="+", default=[], metavar="FILE", dest="vpclab_files",
                    help="collect every `expect:` entry of these topology files as a test (builds each lab once "
                         "per worker, as root)")


def pytest_configure(config):
    files = config.getoption("vpclab_files", default=None)
    if not files:
        return
    base = Path(config.invocation_params.dir)
    paths = [(base / f).resolve() for f in files]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise pytest.UsageError(f"--vpclab: no such file: {', '.join(missing)}")
    plugin = ExpectationsPlugin(paths, config)
    config.pluginmanager.register(plugin, KEY)
    # `pytest --vpclab FILE` runs the expectations, not the project's test paths; with
    # explicit test paths, both.
    wanted = [str(p) for p in paths]
    if config.args_source == pytest.Config.ArgsSource.ARGS:
        config.args[:] = list(config.args) + [w for w in wanted if w not in config.args]
    else:
        config.args[:] = wanted


class ExpectationsPlugin:
    def __init__(self, paths: List[Path], config):
        self.paths = paths
        self.runs: Dict[Path, _Run] = {p: _Run(p) for p in paths}
        self.signals: Optional[str] = None
        self.stopping = None  # the controller's: set when the session closes, no more builds
        worker = getattr(config, "workerinput", None)
        if worker is not None:  # an xdist worker: the controller may be building the labs
            for path, name in worker.get("vpclab_labs", {}).items():
                if Path(path) in self.runs:
                    self.runs[Path(path)].attach_to(name, worker["vpclab_signals"])
        elif _has_workers(config):
            # The controller builds each lab while the workers start (seconds that would
            # otherwise be spent waiting), then hands the names to them.
            import tempfile

            import threading

            self.signals = tempfile.mkdtemp(prefix="vpclab-pytest-")
            runs = list(self.runs.values())
            for r in runs:
                r.name_for_workers(self.signals)
            # One thread builds the labs one after the other (namespace switches are per
            # thread, and the kernel serializes most of the work anyway); once the session
            # closes (Ctrl-C during the builds) it builds no more.
            stopping = self.stopping = threading.Event()

            def build_all():
                for r in runs:
                    if stopping.is_set():
                        r.fail(f"lab {r.name} of {r.path} was not built: the session ended first")
                    else:
                        r.build()

            builder = threading.Thread(target=build_all, name="vpclab-up", daemon=True)
            for r in runs:
                r.thread = builder
            builder.start()

    def pytest_collect_file(self, file_path: Path, parent):
        if file_path.resolve() in self.runs:
            return ExpectationsFile.from_parent(parent, path=file_path)
        return None

    def run(self, path: Path) -> "_Run":
        return self.runs[path]

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node):
        if self.signals is not None:
            node.workerinput["vpclab_labs"] = {str(p): r.name for p, r in self.runs.items()}
            node.workerinput["vpclab_signals"] = self.signals

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config, log):
        """Under `-n` (xdist's default `--dist load`), send all the items of one file to one
        worker, so that a file's expectations are probed in one batch by one process.
        Other `--dist` modes are left alone."""
        if config.getoption("dist", None) == "load":
            from xdist.scheduler import LoadFileScheduling

            return LoadFileScheduling(config, log)
        return None

    def pytest_terminal_summary(self, terminalreporter):
        for r in self.runs.values():
            if r.built:  # by this process (not a worker's: the controller builds and removes those)
                terminalreporter.write_line(f"vpclab: {r.path}: lab {r.name} built and removed")

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session):
        self.close()

    def pytest_unconfigure(self, config):
        """Also here: pytest runs no `pytest_sessionfinish` when Ctrl-C comes before the
        session has started, e.g. while xdist brings up its workers and the controller's
        thread builds the lab (`close` waits for that build, then removes the lab; execnet's
        exit handler ends the workers)."""
        self.close()

    def close(self) -> None:
        """Remove every lab this process built; each run is closed even if another fails,
        and closing twice is harmless. Ctrl-C meanwhile does not stop it (the session is
        ending anyway: a KeyboardInterrupt here would leave a lab half-removed, `deleting`)."""
        from .interrupts import held

        with held("removing the labs of this run", reraise=False):
            if self.stopping is not None:
                self.stopping.set()
            failed: Optional[BaseException] = None
            for r in self.runs.values():
                try:
                    r.close()
                except BaseException as e:  # noqa: BLE001 - the other labs go too; the first error is raised
                    failed = failed or e
            if self.signals is not None:
                import shutil

                shutil.rmtree(self.signals, ignore_errors=True)
        if failed is not None:
            raise failed


def _has_workers(config) -> bool:
    n = config.getoption("numprocesses", None)
    return bool(n) and config.getoption("dist", "no") != "no"


class BuildFailed(Exception):
    """The controller could not build a lab; its error, as the CLI would print it."""


class _Run:
    """One topology file in this process: its lab and the batch of its cases.

    Without xdist the lab is built on first use and removed at the end of the session.
    Under xdist the controller builds it in a thread (`build`, one lab after the other), signals
    `NAME.ready` or `NAME.error` in a directory it shares with the workers, and removes
    it at the end; a worker waits for the signal and probes the lab (`attach_to`).
    """

    WAIT_S = 900

    def __init__(self, path: Path):
        self.path = path
        self.name: Optional[str] = None
        self.lab = None
        self.cases: Optional[list] = None
        self.error: Optional[BaseException] = None
        self.thread = None
        self.signals: Optional[str] = None
        self.built = False  # this process built the lab (and removes it)

    def name_for_workers(self, signals: str) -> None:
        from .lab import unique_name

        self.name, self.signals = unique_name(), signals

    def build(self) -> None:
        from .lab import Lab
        from ..errors import VpclabError

        try:
            self.lab = Lab.up(self.path, name=self.name)
        except BaseException as e:  # noqa: BLE001 - handed to the workers, which report it per item
            self.fail(*(e.lines() if isinstance(e, VpclabError) else [f"{type(e).__name__}: {e}"]))
            return
        self.built = True
        self._signal(".ready", "")

    def fail(self, *lines: str) -> None:
        """Tell the workers that this lab will not be there (they report `lines` per item)."""
        self._signal(".error", "\n".join(lines))

    def _signal(self, suffix: str, text: str) -> None:
        """Write NAME.ready or NAME.error whole (a worker polls for it: it never sees half)."""
        import os

        sig = (Path(self.signals) / self.name).with_suffix(suffix)
        part = sig.with_suffix(suffix + ".part")
        part.write_text(text)
        os.replace(part, sig)

    def attach_to(self, name: str, signals: str) -> None:
        self.name, self.signals = name, signals

    def _wait(self) -> None:
        import time

        sig = Path(self.signals) / self.name
        deadline = time.monotonic() + self.WAIT_S
        while time.monotonic() < deadline:
            if sig.with_suffix(".error").exists():
                raise BuildFailed(sig.with_suffix(".error").read_text())
            if sig.with_suffix(".ready").exists():
                return
            time.sleep(0.02)
        raise BuildFailed(f"lab {self.name} of {self.path} was not built within {self.WAIT_S} s")

    def case(self, index: int):
        if self.error is not None:
            raise self.error
        if self.cases is None:
            from .lab import Lab

            try:
                if self.signals is not None:  # a worker: the controller builds and removes the lab
                    self._wait()
                    lab = Lab(self.name, str(self.path))
                else:
                    lab = self.lab = Lab.up(self.path, unique=True)
                    self.name, self.built = lab.name, True
                self.cases = lab.test().cases
            except Exception as e:  # noqa: BLE001 - every item of the file reports the same error
                self.error = e
                raise
        return self.cases[index]

    def close(self) -> None:
        if self.thread is not None:
            self.thread.join()  # an `up` under way finishes (or fails) before it is undone
        if self.lab is not None:
            lab, self.lab = self.lab, None
            lab.down()


class ExpectationsFile(pytest.File):
    def collect(self):
        from ..controller import static

        try:
            model = static.validate(self.path)
        except static.TopologyInvalid as e:  # the loader's own class (pytester may reload modules)
            raise TopologyError(e.lines())
        seen: Dict[str, int] = {}
        for i, e in enumerate(model.expectations):
            name = f"{e.src}->{e.dst}/{e.proto}" + (f"/{e.port}" if e.port else "")
            seen[name] = seen.get(name, 0) + 1
            if seen[name] > 1:  # the same question asked twice: tell them apart by line
                name += f"@{e.line}"
            yield ExpectationItem.from_parent(self, name=name, index=i, expectation=e)

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, TopologyError):
            return "\n".join(excinfo.value.lines)
        return super().repr_failure(excinfo)


class TopologyError(Exception):
    def __init__(self, lines):
        super().__init__("\n".join(lines))
        self.lines = lines


class ExpectationFailed(AssertionError):
    """An expectation that did not hold; the message is the whole story."""


class ExpectationItem(pytest.Item):
    def __init__(self, *, index: int, expectation, **kw):
        super().__init__(**kw)
        self.index = index
        self.expectation = expectation
        self.user_properties.append(("expected", expectation.result))

    def runtest(self):
        plugin = self.config.pluginmanager.get_plugin(KEY)
        c = plugin.run(self.path.resolve()).case(self.index)
        self.user_properties.append(("got", c.got))
        if not c.ok:
            raise ExpectationFailed(self.describe(c))

    def describe(self, c) -> str:
        from .lab import story

        what = c.proto + (f"/{c.port}" if c.port else "")
        return "\n".join([f"{c.src} -> {c.dst} ({what}): expected {c.expected}, got {c.got}"]
                         + story(c.forward, c.ret, c.reason, mismatch=c.mismatch)
                         + [f"  expectation: {self.written_in()}:{self.expectation.line}"])

    def written_in(self):
        """The file the expectation was written in: this one, or a file it includes (`include:`)."""
        return getattr(self.expectation.line, "file", None) or self.path

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, ExpectationFailed):
            return str(excinfo.value)
        if any(c.__name__ == "VpclabError" for c in type(excinfo.value).__mro__):  # by name: see collect()
            return "\n".join(excinfo.value.lines())
        if isinstance(excinfo.value, BuildFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        e = self.expectation
        return self.written_in(), e.line - 1, f"{self.name} is {e.result}"


@pytest.fixture
def vpclab_lab():
    """A factory: `vpclab_lab(path, name=None)` builds a lab (a unique name unless `name`)
    and returns a `vpclab.Lab`; every lab it built is removed after the test. A `name`
    that is already running is refused (`Lab.up`), so no other lab is ever removed."""
    from .lab import Lab

    made = []

    def make(path, name: Optional[str] = None):
        lab = Lab.up(path, name=name, unique=name is None)
        made.append(lab)
        return lab

    try:
        yield make
    finally:
        from .interrupts import held

        with held("removing the test's labs"):  # all of them, then Ctrl-C interrupts
            for lab in reversed(made):
                lab.down()
