"""The database being unreachable, said once: not as a traceback per station message.

While PostgreSQL restarts, every station write, handshake, reconcile pass, stamp flush
and node beat of a process fails, each with the same connection error; logged one by
one, a 4-second restart under six stations wrote 489 tracebacks (the PostgreSQL drill,
tests/csms/test_postgres_outage.py). Here the first such failure of an outage is one
WARNING naming what failed and why (the driver's first line: host and port, never the
password), the others are counted, and the first commit after it (the station writer's,
csms/group_commit.py, which commits at least every stamp flush) says "reachable again"
with the count. Any other failure is logged as before, by its caller, traceback and all.
"""
import logging
import threading
import time

from django.db import InterfaceError, OperationalError

log = logging.getLogger(__name__)

# SQLSTATEs of a server that is going away or not there yet (class 08 is "connection
# exception"): admin_shutdown, crash_shutdown, cannot_connect_now.
GOING_AWAY = {"57P01", "57P02", "57P03"}

_lock = threading.Lock()
_down_since: float | None = None  # monotonic; None while the database is reachable
_unlogged = 0


def is_outage(exc: BaseException | None) -> bool:
    """Whether `exc` (or what caused it) says the database cannot be reached, as opposed
    to a query that failed (a deadlock, a constraint, SQLite's "database is locked")."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, InterfaceError):  # "connection already closed"
            return True
        if isinstance(exc, OperationalError) and _connection_lost(exc.__cause__):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _connection_lost(cause: BaseException | None) -> bool:
    if cause is None or not type(cause).__module__.startswith("psycopg"):
        return False  # SQLite's OperationalErrors are queries that failed, the file is there
    state = getattr(cause, "sqlstate", None)
    # No SQLSTATE: psycopg's own, client-side error ("connection refused", "server closed
    # the connection unexpectedly", "consuming input failed").
    return state is None or state.startswith("08") or state in GOING_AWAY


def failed(logger: logging.Logger, exc: BaseException, what: str, *args,
           level: int = logging.ERROR) -> None:
    """Log that `what % args` failed with `exc`: once per outage if the database is
    unreachable (then counted), otherwise at `level` with its traceback."""
    global _down_since, _unlogged
    if not is_outage(exc):
        logger.log(level, what + " failed", *args, exc_info=exc)
        return
    with _lock:
        first = _down_since is None
        if first:
            _down_since = time.monotonic()
        else:
            _unlogged += 1
    if first:
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        log.warning("database unreachable (%s): " + what + " failed; further failures are counted "
                    "until it is back", reason, *args)


def reachable() -> None:
    """A commit went through: if the database had been unreachable, say it is back."""
    global _down_since, _unlogged
    if _down_since is None:  # the usual case: no lock taken
        return
    with _lock:
        if _down_since is None:
            return
        took, unlogged = time.monotonic() - _down_since, _unlogged
        _down_since, _unlogged = None, 0
    log.info("database reachable again after %.1f s; %d more failures meanwhile were not logged",
                took, unlogged)


def down() -> bool:
    return _down_since is not None
