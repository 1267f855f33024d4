"""probe.fast.parts: a run of probes cut so that each part works in at most `cap` namespaces
(issue 24: a matrix of 10,000 namespaces held a socket in each at once, past the file limit)."""
from __future__ import annotations

from hypothesis import given, strategies as st

from vpclab.probe.fast import parts


def test_all_fit_in_one_part():
    assert parts([("a",), ("b", "a"), ("b",)], 2) == [[0, 1, 2]]


def test_cut_where_the_next_would_pass_the_cap():
    assert parts([("a", "b"), ("c",), ("a", "d"), ("d",)], 3) == [[0, 1], [2, 3]]


@given(st.lists(st.lists(st.sampled_from("abcdefghij"), min_size=1, max_size=3), max_size=40),
       st.integers(min_value=3, max_value=12))
def test_every_probe_once_in_order_and_no_part_over_the_cap(nss, cap):
    cut = parts(nss, cap)
    assert [i for p in cut for i in p] == list(range(len(nss)))
    for p in cut:
        assert len({n for i in p for n in nss[i]}) <= cap
