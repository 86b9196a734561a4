"""Station writes committed together (csms/group_commit.py): one transaction per batch,
one failing call rolled back alone (its batch runs again, a savepoint per call), and
everyone answered after the commit."""
import asyncio
import threading

import pytest
from django.db import IntegrityError, OperationalError, connection, transaction

from csms import group_commit
from csms.models import AuditEvent, Station
from tests.factories import make_tenant

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_failing_call_is_rolled_back_alone_and_the_others_commit():
    tenant = make_tenant()
    committed = []

    def create(identity):
        station = Station.objects.create(tenant=tenant, identity=identity)
        transaction.on_commit(lambda: committed.append(identity))
        return station.pk

    def create_then_fail(identity):
        Station.objects.create(tenant=tenant, identity=identity)
        raise ValueError("refused")

    async def scenario():
        calls = [group_commit.run(create, f"CP{i}") for i in range(50)]
        calls.insert(25, group_commit.run(create_then_fail, "BAD"))
        return await asyncio.gather(*calls, return_exceptions=True)

    results = asyncio.run(scenario())
    assert isinstance(results[25], ValueError)
    assert sum(isinstance(r, int) for r in results) == 50
    assert set(Station.objects.values_list("identity", flat=True)) == {f"CP{i}" for i in range(50)}
    assert sorted(committed) == sorted(f"CP{i}" for i in range(50))  # after the commit, not for BAD


def run_batch(calls: list) -> list:
    """One batch as the writer thread runs it, here in the test's thread: each call's
    result or exception."""
    loop = asyncio.new_event_loop()
    futures = [loop.create_future() for _ in calls]
    try:
        group_commit._write([(call, (), {}, loop, future) for call, future in zip(calls, futures, strict=True)])
        loop.run_until_complete(asyncio.sleep(0))  # run the settling callbacks
        return [f.exception() or f.result() for f in futures]
    finally:
        loop.close()


def test_a_batch_without_failures_runs_without_savepoints():
    """A savepoint per call cost two more round trips each (a quarter of a PostgreSQL
    handshake's): only a batch where a call failed is run again with them."""
    from django.test.utils import CaptureQueriesContext

    tenant = make_tenant()
    calls = [lambda i=i: Station.objects.create(tenant=tenant, identity=f"CP{i}").identity for i in range(3)]
    with CaptureQueriesContext(connection) as queries:
        assert run_batch(calls) == ["CP0", "CP1", "CP2"]
    assert not [q for q in queries if "SAVEPOINT" in q["sql"].upper()]

    def refused():
        Station.objects.create(tenant=tenant, identity="BAD")
        raise ValueError("refused")

    with CaptureQueriesContext(connection) as queries:
        results = run_batch([lambda: Station.objects.create(tenant=tenant, identity="CP3").identity, refused])
    assert results[0] == "CP3" and isinstance(results[1], ValueError)
    assert [q for q in queries if "SAVEPOINT" in q["sql"].upper()]  # the second run
    assert set(Station.objects.values_list("identity", flat=True)) == {"CP0", "CP1", "CP2", "CP3"}


def test_a_write_that_breaks_a_foreign_key_at_the_commit_fails_alone():
    """Foreign keys are checked at the commit (deferred), after every savepoint was
    released: the batch is written again call by call, so only the offender fails."""
    tenant = make_tenant()

    def create(identity):
        return Station.objects.create(tenant=tenant, identity=identity).pk

    def audit_a_vanished_station():  # what a buffered audit event of a removed station did
        AuditEvent.objects.create(tenant=tenant, station_id=999_999, actor="station", action="station.auth")

    async def scenario():
        calls = [group_commit.run(create, f"CP{i}") for i in range(20)]
        calls.insert(10, group_commit.run(audit_a_vanished_station))
        return await asyncio.gather(*calls, return_exceptions=True)

    results = asyncio.run(scenario())
    assert isinstance(results[10], IntegrityError)
    assert sum(isinstance(r, int) for r in results) == 20
    assert Station.objects.count() == 20 and not AuditEvent.objects.filter(action="station.auth").exists()


def test_a_caller_that_gave_up_does_not_break_the_batch():
    tenant = make_tenant()

    async def scenario():
        slow = asyncio.ensure_future(group_commit.run(Station.objects.create, tenant=tenant, identity="A"))
        slow.cancel()
        return await group_commit.run(lambda: Station.objects.create(tenant=tenant, identity="B").identity)

    assert asyncio.run(scenario()) == "B"
    assert Station.objects.filter(identity="B").exists()


def test_a_call_that_breaks_the_connection_fails_the_whole_batch():
    """A database gone mid-batch (PostgreSQL restarting): a call's query fails and its
    savepoint cannot be rolled back, so the batch's transaction is lost. The calls that
    ran before it in that batch must hear so, not be answered as committed (the station
    would get a CALLRESULT for a MeterValues that is not stored); the next batch
    reconnects."""
    tenant = make_tenant()
    running = threading.Event()
    release = threading.Event()

    def hold_the_writer():
        running.set()
        release.wait(5)

    def create(identity):
        return Station.objects.create(tenant=tenant, identity=identity).identity

    def lose_the_connection():
        connection.close()  # what a broken connection leaves: Django can only drop it
        raise OperationalError("server closed the connection unexpectedly")

    async def scenario():
        holder = asyncio.ensure_future(group_commit.run(hold_the_writer))
        await asyncio.to_thread(running.wait, 5)
        # Both queued while the writer is busy: they go into the next batch together.
        calls = [asyncio.ensure_future(group_commit.run(create, "EARLY")),
                 asyncio.ensure_future(group_commit.run(lose_the_connection))]
        await asyncio.sleep(0.05)
        release.set()
        await holder
        results = await asyncio.gather(*calls, return_exceptions=True)
        after = await group_commit.run(create, "AFTER")
        return results, after

    (early, broken), after = asyncio.run(scenario())
    assert isinstance(broken, OperationalError)
    exists = Station.objects.filter(identity="EARLY").exists()
    assert isinstance(early, Exception) and not exists, f"answered {early!r}, stored: {exists}"
    assert after == "AFTER" and Station.objects.filter(identity="AFTER").exists()


needs_postgres = pytest.mark.skipif(connection.vendor != "postgresql",
                                    reason="needs a PostgreSQL DATABASE_URL (row locks held to the commit)")


@needs_postgres
def test_two_writers_that_deadlock_both_commit_every_call():
    """Two processes' writer batches that take the same stations' row locks in opposite
    orders (a fleet moving between two nodes both ways at once): PostgreSQL fails one
    statement after deadlock_timeout; that call runs again once the other batch has
    committed, so no station's message is refused and both batches' writes are stored."""
    tenant = make_tenant()
    one, two = (Station.objects.create(tenant=tenant, identity=name) for name in ("ONE", "TWO"))
    holding = {"a": threading.Event(), "b": threading.Event()}
    runs = {"a": 0, "b": 0}

    def writer(first, second, label):
        # What each process's writer thread runs: one batch of two calls.
        def lock_first():
            runs[label] += 1
            Station.objects.filter(pk=first.pk).update(firmware_version=f"{label}-first")
            holding[label].set()
            # Both hold one lock now: each batch's next update closes the circle.
            holding["b" if label == "a" else "a"].wait(10)
            return "first"

        def then_second():
            Station.objects.filter(pk=second.pk).update(model=f"{label}-second")
            return "second"

        loop = asyncio.new_event_loop()
        futures = [loop.create_future(), loop.create_future()]
        try:
            group_commit._write([(lock_first, (), {}, loop, futures[0]), (then_second, (), {}, loop, futures[1])])
            loop.run_until_complete(asyncio.sleep(0))  # run the settling callbacks
            return [f.result() if not f.exception() else f.exception() for f in futures]
        finally:
            loop.close()
            connection.close()

    results = {}
    threads = [threading.Thread(target=lambda: results.update(a=writer(one, two, "a"))),
               threading.Thread(target=lambda: results.update(b=writer(two, one, "b")))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == {"a": ["first", "second"], "b": ["first", "second"]}, results
    assert sorted(runs.values()) == [1, 2]  # the batch that lost ran again, whole, once
    one.refresh_from_db()
    two.refresh_from_db()
    # Every update of both batches is stored.
    assert {one.firmware_version, two.firmware_version} == {"a-first", "b-first"}
    assert {one.model, two.model} == {"a-second", "b-second"}
