"""kernel.engine.apply finds each action's handler once (issue 24 item 5: a scale lab's `up`
has ~3,000 actions and looked each one's handler up ~14 times), and still runs every stage's
actions in their order, deletions first, and hands each kind its create/change actions."""
from __future__ import annotations

from dataclasses import dataclass

from vpclab.kernel import engine
from vpclab.plan.objects import Action


@dataclass(frozen=True)
class Thing:
    name: str
    kind: str

    @property
    def key(self):
        return (self.kind, self.name)


class Recorder:
    def __init__(self, kind, stage, log):
        self.kind, self.stage, self.log = kind, stage, log

    def create(self, s, a):
        self.log.append(("create", a.obj.name))

    change = create

    def delete(self, s, a):
        self.log.append(("delete", a.obj.name))

    def after(self, s):
        self.log.append(("after", self.kind))

    def prepare(self, s, actions):
        self.log.append(("prepare", self.kind, [a.obj.name for a in actions]))

    def finish(self, s):
        pass

    def close(self, s):
        pass


def test_each_handler_is_found_once_and_the_order_is_kept(monkeypatch):
    log = []
    early, late = Recorder("early", "namespace", log), Recorder("late", "object", log)
    by_kind = {"early": early, "late": late}
    calls = []

    def handler(obj):
        calls.append(obj.name)
        return by_kind[obj.kind]

    monkeypatch.setattr(engine, "handler", handler)
    monkeypatch.setattr(engine, "REGISTRY", [early, late])
    acts = [Action("delete", Thing("old", "late")), Action("create", Thing("n1", "early")),
            Action("create", Thing("o1", "late")), Action("change", Thing("o2", "late")),
            Action("create", Thing("n2", "early"))]
    result = engine.apply(acts)
    assert sorted(calls) == sorted(a.obj.name for a in acts)  # once per action
    assert log == [("delete", "old"),
                   ("create", "n1"), ("create", "n2"), ("after", "early"),
                   ("prepare", "early", ["n1", "n2"]), ("prepare", "late", ["o1", "o2"]),
                   ("create", "o1"), ("create", "o2"), ("after", "late")]
    assert result.done == 0  # the recorders count nothing; no request was sent
