"""Rate caps (tbf, under netem where a delay is wanted) on the root of a link; see kernel/tc.py.

create and change = replace (a live re-cap, the link stays); delete tolerates a
link already gone. A delay is planned only where the kernel has netem.
"""
from __future__ import annotations

from ...plan.objects import Qdisc
from .. import tc
from .base import Handler, Req, delete, on_link


def DUMP():
    return tc.dump_request(), {tc.RTM_NEWQDISC: tc.classes()["qdiscmsg"]}


class QdiscHandler(Handler):
    kind = "qdisc"

    def create(self, s, a) -> None:
        o = a.obj
        reqs = tc.requests(s.need_index(o.ns, o.ifname, a), o.rate_kbit, o.burst_bytes, o.limit_bytes, o.delay_ms)
        for j, r in enumerate(reqs):
            s.add(o.ns, Req(r, a, last=(j == len(reqs) - 1)))

    def delete(self, s, a) -> None:
        delete(s, a, on_link(s, a, tc.delete_request))

    def read(self, view):
        for index, (rate, burst, limit, delay) in tc.decode(view.dump(DUMP)).items():
            if index in view.byindex:
                yield Qdisc(view.ns, view.byindex[index], rate, burst, limit, delay)


HANDLER = QdiscHandler()
