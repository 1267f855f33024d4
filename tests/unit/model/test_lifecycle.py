"""The peering lifecycle of CLOUD-RULES.md: the transitions table, who may, the lab clock.

Every (state, event) pair over the 5 states x 5 events is checked: the allowed
ones give the table's new state, every other one is refused with
`UnsupportedOperation.VpcPeerInvalidStateChange`. Refusals never change the
model (compared through `store.lab_to_dict`).
"""
from __future__ import annotations

import copy
import random
import re

import pytest

from topobuild import GZ, SG, load, peer, topo, vpc
from vpclab.errors import NotFound, Refused
from vpclab.model import lifecycle
from vpclab.model.types import ACTIVE, DELETED, EXPIRED, PENDING, REJECTED, STATES
from vpclab.state.store import lab_to_dict

STATE_CHANGE = "UnsupportedOperation.VpcPeerInvalidStateChange"
PURVIEW = "UnsupportedOperation.VpcPeerPurviewError"
COMBINATION = "InvalidParameterValue.Combination"
DAY = 86400

EVENTS = ("accept", "reject", "expire", "delete", "modify")
# CLOUD-RULES.md "Peering lifecycle", written out: (state, event) -> new state.
TABLE = {
    (PENDING, "accept"): ACTIVE,
    (PENDING, "reject"): REJECTED,
    (PENDING, "expire"): EXPIRED,
    (PENDING, "delete"): DELETED,
    (ACTIVE, "delete"): DELETED,
    (PENDING, "modify"): PENDING,
    (ACTIVE, "modify"): ACTIVE,
}
ALL_PAIRS = [(s, e) for s in STATES for e in EVENTS]


def alice_bob(cross_region=True, **peering):
    """alice's vpc-a (gz) requests pcx-ab to bob's vpc-b (sg or gz), left PENDING; carol owns vpc-c."""
    bw = "100Mbps" if cross_region else None
    return load(topo({"vpc-a": vpc(0, account="alice", region=GZ),
                      "vpc-b": vpc(1, account="bob", region=SG if cross_region else GZ),
                      "vpc-c": vpc(2, account="carol", region=GZ)},
                     {"pcx-ab": peer("vpc-a", "vpc-b", bw, accepted=False)}, accounts=["alice", "bob", "carol"]))


def in_state(state: str, cross_region=True):
    lab = alice_bob(cross_region)
    lab.peerings["pcx-ab"].state = state
    return lab, lab.peerings["pcx-ab"]


def actor(event: str):
    """The account allowed to trigger `event` on alice -> bob (None: the clock)."""
    return {"accept": "bob", "reject": "bob", "expire": None, "delete": "alice", "modify": "alice"}[event]


def refused(fn, *args, **kw) -> str:
    with pytest.raises(Refused) as e:
        fn(*args, **kw)
    return e.value.code


def unchanged(lab, fn, *args, **kw) -> str:
    """Run a refused operation; assert the model did not move; return its code."""
    before = copy.deepcopy(lab_to_dict(lab))
    code = refused(fn, lab, *args, **kw)
    assert lab_to_dict(lab) == before
    return code


# ---- the table --------------------------------------------------------------------------------


def test_the_table_is_the_one_of_cloud_rules():
    assert {k: v[0] for k, v in lifecycle.TRANSITIONS.items()} == TABLE
    assert {e for _, e in lifecycle.TRANSITIONS} == set(EVENTS)
    who = {k: v[1] for k, v in lifecycle.TRANSITIONS.items()}
    assert who == {(PENDING, "accept"): "accepter", (PENDING, "reject"): "accepter", (PENDING, "expire"): "clock",
                   (PENDING, "delete"): "either", (ACTIVE, "delete"): "either", (PENDING, "modify"): "requester",
                   (ACTIVE, "modify"): "requester"}


@pytest.mark.parametrize("state,event", ALL_PAIRS, ids=[f"{s}-{e}" for s, e in ALL_PAIRS])
def test_transition(state, event):
    lab, p = in_state(state)
    if (state, event) in TABLE:
        assert lifecycle.transition(lab, p, event, actor(event)) == TABLE[(state, event)]
    else:
        assert refused(lifecycle.transition, lab, p, event, actor(event)) == STATE_CHANGE
    assert p.state == state  # transition() only decides


@pytest.mark.parametrize("state,event", ALL_PAIRS, ids=[f"{s}-{e}" for s, e in ALL_PAIRS])
def test_operation(state, event):
    """The live operations follow the same table and set the new state (or change nothing)."""
    lab, p = in_state(state)
    if event == "expire":
        lab.clock = p.created_at + 7 * DAY - 1
        expired = lifecycle.advance_clock(lab, 1)
        assert p.state == TABLE.get((state, event), state)
        assert expired == ([p] if (state, event) in TABLE else [])
        return
    if event == "modify":
        op = lambda: lifecycle.modify(lab, "pcx-ab", 50_000, account=actor(event))  # noqa: E731
    else:
        op = lambda: lifecycle.apply_event(lab, "pcx-ab", event, account=actor(event))  # noqa: E731
    if (state, event) in TABLE:
        assert op().state == TABLE[(state, event)]
        assert p.state == TABLE[(state, event)]
    else:
        before = copy.deepcopy(lab_to_dict(lab))
        with pytest.raises(Refused) as e:
            op()
        assert e.value.code == STATE_CHANGE
        assert lab_to_dict(lab) == before


def test_only_the_clock_expires():
    lab, p = in_state(PENDING)
    for who in ("alice", "bob"):
        assert refused(lifecycle.transition, lab, p, "expire", who) == STATE_CHANGE
    assert unchanged(lab, lifecycle.apply_event, "pcx-ab", "expire") == STATE_CHANGE
    assert p.state == PENDING


def test_unknown_peering_id():
    lab = alice_bob()
    with pytest.raises(NotFound) as e:
        lifecycle.apply_event(lab, "pcx-abc", "accept", account="bob")
    assert e.value.code == "ResourceNotFound"
    assert "pcx-ab" in (e.value.hint or "")


# ---- who may --------------------------------------------------------------------------------------


@pytest.mark.parametrize("event", ["accept", "reject"])
def test_accept_and_reject_only_by_the_accepter(event):
    lab = alice_bob()
    assert unchanged(lab, lifecycle.apply_event, "pcx-ab", event, account="alice") == PURVIEW
    assert unchanged(lab, lifecycle.apply_event, "pcx-ab", event, account="carol") == PURVIEW
    assert lifecycle.apply_event(lab, "pcx-ab", event, account="bob").state == TABLE[(PENDING, event)]


def test_modify_only_by_the_requester():
    lab = alice_bob()
    assert unchanged(lab, lifecycle.modify, "pcx-ab", 50_000, account="bob") == PURVIEW
    assert unchanged(lab, lifecycle.modify, "pcx-ab", 50_000, account="carol") == PURVIEW
    p = lifecycle.modify(lab, "pcx-ab", 50_000, account="alice")
    assert (p.state, p.bandwidth_kbps) == (PENDING, 50_000)
    lifecycle.apply_event(lab, "pcx-ab", "accept", account="bob")
    p = lifecycle.modify(lab, "pcx-ab", 20_000)  # default --as: the requester
    assert (p.state, p.bandwidth_kbps) == (ACTIVE, 20_000)


@pytest.mark.parametrize("who", ["alice", "bob"])
@pytest.mark.parametrize("state", [PENDING, ACTIVE])
def test_delete_by_either_account(state, who):
    lab, p = in_state(state)
    assert lifecycle.apply_event(lab, "pcx-ab", "delete", account=who).state == DELETED


@pytest.mark.parametrize("event", ["accept", "reject", "delete"])
def test_an_unrelated_account_is_refused(event):
    lab = alice_bob()
    assert unchanged(lab, lifecycle.apply_event, "pcx-ab", event, account="carol") == PURVIEW
    assert unchanged(lab, lifecycle.apply_event, "pcx-ab", event, account="mallory") == PURVIEW


@pytest.mark.parametrize("event, new", [("accept", ACTIVE), ("reject", REJECTED)])
def test_accept_and_reject_default_to_the_accepter(event, new):
    """Without --as, accept/reject act as the account entitled to them: the accepter's (bob)."""
    lab = alice_bob()
    assert lifecycle.default_account(lab, lab.peerings["pcx-ab"], event) == "bob"
    assert lifecycle.apply_event(lab, "pcx-ab", event).state == new


@pytest.mark.parametrize("event", ["accept", "reject"])
def test_an_explicit_wrong_account_is_still_refused(event):
    lab = alice_bob()
    assert unchanged(lab, lifecycle.apply_event, "pcx-ab", event, account="alice") == PURVIEW


def test_delete_and_modify_default_to_the_requester():
    lab = alice_bob()
    p = lab.peerings["pcx-ab"]
    assert lifecycle.default_account(lab, p, "delete") == "alice"
    assert lifecycle.default_account(lab, p, "modify") == "alice"
    assert lifecycle.apply_event(lab, "pcx-ab", "delete").state == DELETED


def test_cli_accept_without_as_acts_as_the_accepter(monkeypatch):
    """`vpclab peering accept ID` without --as passes no account down; the accepter's applies."""
    from click.testing import CliRunner

    from vpclab.cli import main as cli
    from vpclab.controller import operate

    seen = {}

    def fake_event(lab, event, pid, account=None):
        seen.update(event=event, pid=pid, account=account)
        model = alice_bob()
        return lifecycle.apply_event(model, pid, event, account)

    monkeypatch.setattr(operate, "peering_event", fake_event)
    r = CliRunner().invoke(cli.cli, ["peering", "accept", "pcx-ab"])
    assert seen == {"event": "accept", "pid": "pcx-ab", "account": None}
    assert r.exit_code == 0, r.output
    assert r.output.strip() == "pcx-ab ACTIVE"


def test_create_only_by_the_requester_account():
    lab = alice_bob()
    lab.peerings.clear()
    assert unchanged(lab, lifecycle.create, "vpc-a", "vpc-b", 100_000, account="bob") == PURVIEW
    assert unchanged(lab, lifecycle.create, "vpc-a", "vpc-b", 100_000, account="carol") == PURVIEW
    assert lifecycle.create(lab, "vpc-a", "vpc-b", 100_000, account="alice").state == PENDING


def test_create_same_account_is_active_across_accounts_pending():
    lab = load(topo({"vpc-a": vpc(0, account="alice"), "vpc-b": vpc(1, account="alice"),
                     "vpc-c": vpc(2, account="bob")}, accounts=["alice", "bob"]))
    lab.clock = 1234.0
    same = lifecycle.create(lab, "vpc-a", "vpc-b")
    cross = lifecycle.create(lab, "vpc-a", "vpc-c")
    assert (same.state, cross.state) == (ACTIVE, PENDING)
    assert cross.created_at == 1234.0 and cross.expires_at == 1234.0 + 7 * DAY
    assert same.expires_at is None
    assert cross.index != same.index


def test_file_accepted_flag():
    lab = load(topo({"vpc-a": vpc(0, account="alice"), "vpc-b": vpc(1, account="bob"),
                     "vpc-c": vpc(2, account="alice"), "vpc-d": vpc(3, account="bob")},
                    {"p1": peer("vpc-a", "vpc-b", accepted=False), "p2": peer("vpc-a", "vpc-c", accepted=False),
                     "p3": peer("vpc-a", "vpc-d")},
                    accounts=["alice", "bob"]))
    states = {n: p.state for n, p in lab.peerings.items()}
    # across accounts: accepted false -> PENDING, default (true) -> ACTIVE; same account: ACTIVE always
    assert states == {"p1": PENDING, "p2": ACTIVE, "p3": ACTIVE}


# ---- the lab clock ------------------------------------------------------------------------------------


def test_expiry_after_seven_days_of_lab_clock():
    lab = alice_bob()
    p = lab.peerings["pcx-ab"]
    assert lifecycle.advance_clock(lab, 6 * DAY + 23 * 3600) == []
    assert p.state == PENDING
    assert lifecycle.advance_clock(lab, 3599) == []
    assert p.state == PENDING
    assert lifecycle.advance_clock(lab, 1) == [p]
    assert p.state == EXPIRED
    assert lab.clock == 7 * DAY
    assert unchanged(lab, lifecycle.apply_event, "pcx-ab", "accept", account="bob") == STATE_CHANGE
    assert "pcx-ab" in lab.peerings


def test_expiry_counts_from_creation_on_the_lab_clock():
    lab = alice_bob()
    lab.peerings.clear()
    lifecycle.advance_clock(lab, 3 * DAY)
    p = lifecycle.create(lab, "vpc-a", "vpc-b", 100_000, name="pcx-late")
    assert lifecycle.advance_clock(lab, 6 * DAY) == []
    assert p.state == PENDING
    assert lifecycle.advance_clock(lab, 1 * DAY) == [p]


def test_eight_days_at_once():
    lab = alice_bob()
    assert [p.name for p in lifecycle.advance_clock(lab, 8 * DAY)] == ["pcx-ab"]
    assert lifecycle.advance_clock(lab, 8 * DAY) == []  # already expired: nothing more happens


def test_expiry_leaves_active_peerings_alone():
    lab = alice_bob()
    lifecycle.apply_event(lab, "pcx-ab", "accept", account="bob")
    lifecycle.advance_clock(lab, 30 * DAY)
    assert lab.peerings["pcx-ab"].state == ACTIVE


def test_clock_only_moves_forward():
    lab = alice_bob()
    assert unchanged(lab, lifecycle.advance_clock, -1) == "InvalidParameterValue"


# ---- terminal states stay listed -------------------------------------------------------------------------


@pytest.mark.parametrize("end", [REJECTED, EXPIRED, DELETED])
def test_terminal_states_stay_listed(end):
    from vpclab.controller.status import peering_rows

    lab = alice_bob()
    if end == EXPIRED:
        lifecycle.advance_clock(lab, 7 * DAY)
    else:
        lifecycle.apply_event(lab, "pcx-ab", {"REJECTED": "reject", "DELETED": "delete"}[end], account="bob")
    assert lab.peerings["pcx-ab"].state == end
    rows = peering_rows(lab)
    assert [(r["id"], r["state"]) for r in rows] == [("pcx-ab", end)]
    assert set(rows[0]) >= {"id", "vpc", "peer_vpc", "state", "bandwidth_mbps", "created_at", "expires_at"}
    assert rows[0]["expires_at"] is None and rows[0]["bandwidth_mbps"] == 100
    for event in EVENTS:
        if event != "expire":
            assert refused(lifecycle.transition, lab, lab.peerings["pcx-ab"], event, actor(event)) == STATE_CHANGE


# ---- refusals change nothing -------------------------------------------------------------------------------


def test_refused_operations_leave_the_model_unchanged():
    lab = alice_bob()
    lifecycle.add_route(lab, "vpc-a", "10.1.0.0/16", "pcx-ab")
    cases = [
        (lifecycle.create, ("vpc-a", "vpc-b", 100_000)),  # already exists
        (lifecycle.create, ("vpc-a", "vpc-a")),  # self
        (lifecycle.create, ("vpc-a", "vpc-nope")),  # unknown VPC
        (lifecycle.create, ("vpc-a", "vpc-c"), {"account": "carol"}),  # wrong account
        (lifecycle.apply_event, ("pcx-ab", "accept"), {"account": "alice"}),  # the requester may not
        (lifecycle.apply_event, ("pcx-zz", "delete")),
        (lifecycle.modify, ("pcx-ab", 0)),  # out of range
        (lifecycle.modify, ("pcx-ab", 50_000), {"account": "bob"}),
        (lifecycle.add_route, ("vpc-a", "10.1.0.0/16", "pcx-ab")),  # duplicate
        (lifecycle.add_route, ("vpc-a", "10.2.0.0/16", "pcx-ab")),
        (lifecycle.del_route, ("vpc-a", "10.9.0.0/16")),
        (lifecycle.advance_clock, (-5,)),
    ]
    for fn, args, *kw in cases:
        unchanged(lab, fn, *args, **(kw[0] if kw else {}))


def test_modify_on_a_regional_peering_is_refused():
    lab, p = in_state(ACTIVE, cross_region=False)
    assert unchanged(lab, lifecycle.modify, "pcx-ab", 50_000) == COMBINATION
    assert p.bandwidth_kbps is None


# ---- ids ---------------------------------------------------------------------------------------------------


def test_generated_ids_look_like_tencents():
    lab = load(topo({f"v{i}": vpc(i) for i in range(12)}))
    ids = set()
    for i in range(1, 11):
        p = lifecycle.create(lab, "v0", f"v{i}")
        assert re.fullmatch(r"pcx-[a-z0-9]{8}", p.name), p.name
        ids.add(p.name)
    assert len(ids) == 10 and set(lab.peerings) == ids


def test_new_peering_id_avoids_taken_ids():
    lab = alice_bob()
    rng = random.Random(7)
    first = lifecycle.new_peering_id(lab, random.Random(7))
    lab.peerings[first] = lab.peerings["pcx-ab"]
    assert lifecycle.new_peering_id(lab, rng) != first


def test_a_given_name_is_kept():
    lab = alice_bob()
    lab.peerings.clear()
    assert lifecycle.create(lab, "vpc-a", "vpc-b", 100_000, name="pcx-mine").name == "pcx-mine"


@pytest.mark.parametrize("name", ["pcx ab", "pcx/ab", "-x", "x" * 61])
def test_a_given_name_must_be_a_valid_peering_name(name):
    """`--name` becomes an interface name (`<lab>-p-<name>`): the file's naming rule must hold live too."""
    lab = alice_bob()
    lab.peerings.clear()
    assert unchanged(lab, lifecycle.create, "vpc-a", "vpc-b", 100_000, name=name).startswith("InvalidParameter")


# ---- route state follows the peering -------------------------------------------------------------------------


def test_route_state_follows_the_peering():
    lab = alice_bob()
    r = lifecycle.add_route(lab, "vpc-a", "10.1.0.0/16", "pcx-ab")
    assert lifecycle.route_state(lab, r) == "blackhole"  # PENDING
    lifecycle.apply_event(lab, "pcx-ab", "accept", account="bob")
    assert lifecycle.route_state(lab, r) == "active"
    lifecycle.apply_event(lab, "pcx-ab", "delete", account="bob")
    assert lifecycle.route_state(lab, r) == "blackhole"
    assert r in lab.vpcs["vpc-a"].route_tables["default"].routes  # it stays in the table


def test_route_becomes_active_only_with_the_same_peering():
    lab = alice_bob()
    r = lifecycle.add_route(lab, "vpc-a", "10.1.0.0/16", "pcx-ab")
    lifecycle.apply_event(lab, "pcx-ab", "reject", account="bob")
    lifecycle.create(lab, "vpc-a", "vpc-b", 100_000, name="pcx-new")
    lifecycle.apply_event(lab, "pcx-new", "accept", account="bob")
    assert lifecycle.route_state(lab, r) == "blackhole"


@pytest.mark.parametrize("state,expected", [(PENDING, "blackhole"), (ACTIVE, "active"), (REJECTED, "blackhole"),
                                            (EXPIRED, "blackhole"), (DELETED, "blackhole")])
def test_route_state_per_peering_state(state, expected):
    lab, p = in_state(PENDING)
    r = lifecycle.add_route(lab, "vpc-a", "10.1.0.0/16", "pcx-ab")  # added while it can still carry traffic
    p.state = state
    assert lifecycle.route_state(lab, r) == expected


@pytest.mark.parametrize("state", [REJECTED, EXPIRED, DELETED])
def test_a_new_route_via_a_terminal_peering_is_refused(state):
    """A terminal peering can never carry traffic again: a new route via it is refused."""
    lab, p = in_state(state)
    assert unchanged(lab, lifecycle.add_route, "vpc-a", "10.1.0.0/16", "pcx-ab") == \
        "InvalidParameterValue.RouteNextHopInvalid"
