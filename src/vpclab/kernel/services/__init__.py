"""A lab's listener processes: one daemon serves them all, a supervisor keeps it right.

supervisor.py is the caller side (start, stop, running, current, reconcile),
daemon.py the process itself, spec.py the files they share in the run directory.
The kernel layer's service handler (kernel/handlers/service.py) calls reconcile.
"""
from .daemon import WATCH_INTERVAL
from .spec import LOG_FILE, PID_FILE, SPEC_FILE, STATE_FILE
from .supervisor import current, reconcile, running, start, stop

__all__ = ["current", "reconcile", "running", "start", "stop",
           "LOG_FILE", "PID_FILE", "SPEC_FILE", "STATE_FILE", "WATCH_INTERVAL"]
