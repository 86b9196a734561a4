"""How soon the server's threads get the interpreter back from the event loop.

Why: every database round trip of the station writer (csms/group_commit.py) and of the
pool's threads (csms/db.py) gives up the GIL while it waits on the socket, and the event
loop, busy with a reconnect storm, takes it. CPython lets a thread that wants the GIL
back ask for it only after the switch interval, 5 ms by default, so each round trip
cost about 5 ms more than PostgreSQL took to answer: a handshake's seven statements on
the one writer thread made PostgreSQL storms admit 11-42 stations/s where SQLite, whose
calls do not wait on a socket, admitted 195/s (bench/storm.py --postgres). Measured on
this machine (a thread doing `SELECT 1` in a loop while another computes): 16-17 ms per
query at 5 ms, 8 ms at 1 ms, 3.6-5.6 ms at 0.5 ms, 3.9 ms with nobody computing (the
machine was loaded; quiet, PostgreSQL answers in 0.1 ms, which the 5 ms wait dwarfs).

A shorter interval costs the event loop a forced hand-over (microseconds) each time a
waiting thread asks, and nothing when no thread wants the interpreter.

Process-wide state (`sys.setswitchinterval`) by nature: applied once by the server
(portal/serve.py), `WEB_GIL_SWITCH_MS`; 0 keeps CPython's default.
"""
import logging
import sys

log = logging.getLogger(__name__)

DEFAULT_MS = 0.5


def apply(milliseconds: float) -> float:
    """Set the switch interval to `milliseconds` (0: leave CPython's); return the one in force, in s."""
    if milliseconds > 0:
        sys.setswitchinterval(milliseconds / 1000)
        log.info("thread switch interval: %g ms", milliseconds)
    return sys.getswitchinterval()
