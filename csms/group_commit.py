"""Station writes of a whole process, committed together: one writer thread, one
transaction per batch, every caller answered after the commit that made its rows durable.

Why: SQLite admits one writer at a time, so the pool's threads (csms/db.py) queued on its
lock, one commit (and fsync) per message: a connect storm spent most of its time there,
and MeterValues reached 0.4x the `ocpp`-library baseline (bench/versus.py). Here
whatever arrived while the previous batch ran goes into the next one: under load a
batch holds many stations' work and costs one commit; alone, a call is committed at once.
PostgreSQL gains fewer commits too.

A batch first runs as one plain transaction. If one of its calls raises, the batch is
rolled back and run again with each call in a savepoint: the one that raises is rolled
back alone and gets its exception, the others commit. (A savepoint per call from the
start cost two more round trips per call, a quarter of a PostgreSQL handshake's, for a
failure that hardly ever comes.) `transaction.on_commit` callbacks run after the batch
commits. A call whose failure broke the connection (its savepoint cannot be rolled
back) fails the whole batch: nobody is told "committed" of a transaction that was
rolled back. Large frames do not come here (the consumer sends
frames of `protocol.limits.OFFLOAD_BYTES` or more to the pool), so one station's big
report cannot hold up everyone else's small writes.

Two processes' batches can deadlock on PostgreSQL: each holds its rows' locks until its
commit, so batch A updating station 1 then 2 while batch B updates 2 then 1 wait in a
circle until PostgreSQL (after `deadlock_timeout`, 1 s) fails one statement. Running
that call again in its batch cannot help: the locks in the circle were taken by the
calls before it, and stay held. So the losing batch is rolled back whole, which lets
the other commit, and is run once more from its first call, after a pause of 20–100 ms
(without it, the rerun could take a lock back before the other batch had woken up to
take it, and close the same circle again: the two-writer drill in
tests/csms/test_group_commit.py saw that). Calls must therefore be database work that may run again after
a rollback (after a deadlock, or another call's failure); the `on_commit` callbacks of a
rolled-back attempt are dropped with it.
"""
import asyncio
import logging
import queue
import random
import threading
import time

from django.db import IntegrityError, OperationalError, close_old_connections, transaction

from . import db_outage

log = logging.getLogger(__name__)

MAX_BATCH = 256
# SQLSTATEs after which a rolled-back batch may simply run again: deadlock_detected,
# serialization_failure.
RETRYABLE = {"40P01", "40001"}


class _RunAgain(Exception):
    """The batch lost a deadlock: roll it back whole and run it once more."""


class _CallFailed(Exception):
    """A call of a batch run without savepoints raised (its exception is the cause): the
    batch is rolled back whole."""


_WITH_SAVEPOINTS = object()  # `_attempt`: run the batch again, a savepoint per call

_queue: "queue.SimpleQueue[tuple]" = queue.SimpleQueue()
_writer: threading.Thread | None = None
_writer_lock = threading.Lock()


def _ensure_writer() -> None:
    global _writer
    with _writer_lock:
        if _writer is None or not _writer.is_alive():
            _writer = threading.Thread(target=_write_forever, name="csms-writer", daemon=True)
            _writer.start()


async def run(func, *args, **kwargs):
    """`func(*args, **kwargs)` in the next batch; returns (or raises) once committed."""
    _ensure_writer()
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    _queue.put((func, args, kwargs, loop, future))
    return await future


def _settle(loop, future, ok: bool, value) -> None:
    def settle():
        if future.done():  # the caller was cancelled meanwhile
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    try:
        loop.call_soon_threadsafe(settle)
    except RuntimeError:  # that event loop is closed (a test's, say): nobody is waiting
        pass


def _write_forever() -> None:
    while True:
        batch = [_queue.get()]
        while len(batch) < MAX_BATCH:
            try:
                batch.append(_queue.get_nowait())
            except queue.Empty:
                break
        _write(batch)


def _write(batch: list[tuple]) -> None:
    outcomes = _attempt(batch, last=False, savepoints=False)
    if outcomes is _WITH_SAVEPOINTS:
        outcomes = _attempt(batch, last=False, savepoints=True)
    if outcomes is None:
        time.sleep(random.uniform(0.02, 0.1))  # the other batch commits meanwhile
        outcomes = _attempt(batch, last=True, savepoints=True)
    for (_func, _args, _kwargs, loop, future), (ok, value) in zip(batch, outcomes, strict=True):
        _settle(loop, future, ok, value)


def _attempt(batch: list[tuple], last: bool, savepoints: bool):
    """The batch in one transaction: each call's (ok, value). None: it lost a deadlock
    and was rolled back whole, to be run again (unless this was the `last` attempt).
    Without `savepoints`, a call that raises rolls back the batch: `_WITH_SAVEPOINTS`
    (a batch of one call simply gets its exception)."""
    outcomes = []
    try:
        close_old_connections()
        with transaction.atomic():
            for func, args, kwargs, _loop, _future in batch:
                if not savepoints:
                    outcomes.append((True, _plain(func, args, kwargs, last)))
                    continue
                try:
                    with transaction.atomic():
                        outcomes.append((True, func(*args, **kwargs)))
                except Exception as exc:  # this call's own failure: rolled back alone
                    if not last and _lost_a_conflict(exc):
                        raise _RunAgain from exc
                    outcomes.append((False, exc))
                    if transaction.get_rollback():
                        # Its savepoint could not be rolled back (the connection broke):
                        # the whole transaction is lost, the calls before it included.
                        # Left to `atomic`, it would roll back without a word and they
                        # would be answered as committed.
                        raise
        db_outage.reachable()
    except _CallFailed as failed:
        return [(False, failed.__cause__)] if len(batch) == 1 else _WITH_SAVEPOINTS
    except _RunAgain as again:
        log.info("a batch of %d station writes lost a %s to another transaction; running it again",
                 len(batch), "deadlock" if _sqlstate(again.__cause__) == "40P01" else "serialization conflict")
        return None
    except IntegrityError as exc:
        if len(batch) == 1:
            log.warning("a station write failed at its commit: %s", exc)
            return [(False, exc)]
        # A deferred constraint (PostgreSQL and SQLite check foreign keys at the commit)
        # broke no savepoint, so no call was told; the commit failed for all. Each call
        # again, alone: only the one that broke it fails, and the others are not held
        # hostage to it (one buffered audit event of a removed station failed every
        # batch after it).
        log.warning("a batch of %d station writes failed at its commit (%s); writing them one by one",
                    len(batch), type(exc).__name__)
        return [outcome for call in batch for outcome in _attempt([call], last=True, savepoints=False)]
    except Exception as exc:  # the commit itself failed: nothing of the batch is durable
        db_outage.failed(log, exc, "a batch of %d station writes", len(batch), level=logging.WARNING)
        outcomes = [(False, exc)] * len(batch)
    return outcomes


def _plain(func, args, kwargs, last: bool):
    """A call outside any savepoint of its own: what it raises decides the batch's fate."""
    try:
        return func(*args, **kwargs)
    except Exception as exc:
        if not last and _lost_a_conflict(exc):
            raise _RunAgain from exc
        if db_outage.is_outage(exc):
            raise  # nothing of the batch can commit: every call fails with it
        raise _CallFailed from exc


def _lost_a_conflict(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError) and _sqlstate(exc) in RETRYABLE


def _sqlstate(exc: BaseException | None) -> str | None:
    return getattr(getattr(exc, "__cause__", None), "sqlstate", None)
