"""Netlink sockets share their thread's receive buffer (issue 24, a 20,000-instance estate).

`up` keeps a socket per namespace it works in; each had its own 256 kB receive buffer, so
`up` of 10,000 namespaces grew to 2.4 GB RSS (measured) and spent ~10% of its time zeroing
them (perf: memset). Every socket reads its answer to the end before another receive, so
one buffer per thread serves them all. No root: rtnetlink sockets need none to open.
"""
from __future__ import annotations

import threading
import tracemalloc

from vpclab.kernel import rtnl


def test_a_hundred_sockets_cost_less_than_one_buffer_each():
    rtnl.Socket().close()  # the thread's buffer, once
    tracemalloc.start()
    try:
        socks = [rtnl.Socket() for _ in range(100)]
        grown, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    for s in socks:
        s.close()
    assert grown < 100 * (1 << 18) // 10, f"{grown} bytes for 100 sockets"


def test_sockets_still_answer_in_turn_and_from_two_threads():
    from vpclab.kernel import pack

    # RTM_GETLINK of ifindex 1 (lo) as a plain request: each socket gets its own answer
    req = pack.message(rtnl.RTM_GETLINK, 0, pack.IFINFO.pack(0, 0, 1, 0, 0))
    a, b = rtnl.Socket(), rtnl.Socket()
    try:
        assert a.get(req)[0]["index"] == 1 and b.get(req)[0]["index"] == 1
        out = []
        th = threading.Thread(target=lambda: out.append(rtnl.Socket().get(req)[0]["index"]))
        th.start()
        th.join()
        assert out == [1] and a.get(req)[0]["index"] == 1
    finally:
        a.close()
        b.close()
