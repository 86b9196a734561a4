"""One CPU core per server process: its event loop and its threads on the same core.

Why: a server process's threads (the station database pool, the station writer, the
admission threads) hand the GIL back and forth with the event loop hundreds of times a
second. On two cores each hand-over moved the interpreter's hot memory (reference
counts of shared objects, the type and code caches) from one core's cache to the
other's, and every piece of work cost 2-3x its CPU time alone: a station read took
0.15 ms of CPU alone and 0.45 ms beside a busy event loop, 0.25 ms with both on one
core. Pinned, a Basic handshake through the application cost 1.8-2.0 ms of CPU instead
of 3.2 ms (docs/performance.md, 2026-12-03 21:58). What is given up: work that releases
the GIL (SQLite's C code, argon2) no longer runs beside the loop on another core, which
with WEB_CONCURRENCY at the number of cores each process has its own anyway.

Process-wide state by nature: applied once per server process (portal/serve.py),
`WEB_CPU_PIN`; `off` leaves the scheduler free.
"""
import logging
import os

log = logging.getLogger(__name__)


def core_for(worker: int, allowed: set[int]) -> int:
    """The core of the `worker`-th server process (0 for a single one): round robin over
    the cores this process may use."""
    cores = sorted(allowed)
    return cores[worker % len(cores)]


def _threads() -> list[int]:
    try:
        return [int(task) for task in os.listdir("/proc/self/task")]
    except OSError:
        return [0]  # no /proc: this thread


def pin(worker: int) -> int | None:
    """Pin this process to its core; the core, or None where the platform cannot."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    allowed = os.sched_getaffinity(0)
    if len(allowed) < 2:
        return None  # nothing to choose
    core = core_for(worker, allowed)
    # On Linux the call sets one thread's mask (new threads inherit it): every thread
    # the process has so far, then.
    for task in _threads():
        try:
            os.sched_setaffinity(task, {core})
        except ProcessLookupError:  # that thread ended meanwhile
            pass
    log.info("pinned to CPU core %d (WEB_CPU_PIN)", core)
    return core
