"""Services: the lab's listener processes, run by one supervised daemon (vpclab.kernel.services).

Every service action of an apply ends in one call to the supervisor with the
whole desired set: it keeps the daemon if it serves exactly that set and every
namespace it serves is still the one it bound in, else restarts it. A full
reconcile (`up`) asks even without a service action. Read back: what the
daemon serves, from the lab's run directory.
"""
from __future__ import annotations

from .. import services
from .base import Handler


class ServiceHandler(Handler):
    kind = "service"
    stage = "process"

    def create(self, s, a) -> None:
        s.state[self.kind] = s.state.get(self.kind, 0) + 1

    def delete(self, s, a) -> None:
        self.create(s, a)

    def after(self, s) -> None:
        n = s.state.pop(self.kind, 0)
        ctx = s.ctx
        if ctx is None or not (n or ctx.full):
            return
        services.reconcile(ctx.lab, [o for o in ctx.desired if o.key[0] == self.kind], ctx.run_dir)
        s.result.done += n

    def read_lab(self, views, ctx):
        return services.current(ctx.run_dir) if ctx is not None and ctx.run_dir is not None else ()


HANDLER = ServiceHandler()
