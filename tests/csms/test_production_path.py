"""The production path: a Celery worker process and a uvicorn process sharing Redis.

A task sent through the broker runs in the worker, which records the intent and nudges
the station's channel-layer group in Redis; the uvicorn process holding the socket
performs the CALL. Only meaningful with Redis, so it runs where REDIS_URL is set (CI's
PostgreSQL + Redis pass); the embedded pass reports it as skipped, with this reason.
"""
import os
import time

import pytest

from csms import tasks
from csms.models import CredentialChange, Station
from tests import keyed_station as ks
from tests.celery_worker import start_worker, stop_worker
from tests.factories import AL1000_KEY, make_station, make_tenant
from tests.waiting import async_eventually, in_thread_db

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("REDIS_URL"),
                       reason="production path: needs REDIS_URL (runs in CI's Redis pass)"),
]


def test_rotation_requested_through_the_broker_reaches_the_station(csms, tasks_run, run):
    row = make_station(make_tenant("acme"), "CP1", AL1000_KEY)
    st = ks.KeyedStation(csms, "acme", "CP1", AL1000_KEY, behaviour=ks.APPLY)

    async def scenario():
        await st.connect()
        await st.boot()
        # Through the broker: this process only publishes the task.
        await in_thread_db(lambda: tasks.rotate_station.delay(row.pk, "operator"))()
        change = await async_eventually(
            lambda: CredentialChange.objects.filter(requested_by="operator", state="succeeded").first(),
            timeout=20)
        await st.disconnect()
        return change

    change = run(scenario())
    assert change.requested_by == "operator" and change.outcome == "Accepted"
    assert st.password != AL1000_KEY
    assert Station.objects.get(pk=row.pk).credential.current_origin == "rotation"


@pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("postgres"),
                    reason="production path: needs REDIS_URL (runs in CI's Redis pass)")
def test_a_task_whose_worker_is_killed_mid_way_runs_again_and_once(csms, live_log_dir):
    # The drill: a worker takes the task and is killed (-9) while it runs (held here on
    # the station's credential row lock); nothing it did is committed. A new worker gets
    # the task again once the broker's visibility timeout has passed, and it runs once.
    import threading

    from django.db import connections, transaction

    from csms.models import StationCredential

    row = make_station(make_tenant("acme"), "CP1", AL1000_KEY)
    log_path = live_log_dir / "celery-killed.log"
    first = start_worker(log_path, CELERY_VISIBILITY_TIMEOUT="3")
    locked, release = threading.Event(), threading.Event()

    def hold_the_row():
        try:
            with transaction.atomic():
                StationCredential.objects.select_for_update().get(station_id=row.pk)
                locked.set()
                release.wait(30)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    second = None
    try:
        assert locked.wait(10)
        tasks.rotate_station.delay(row.pk, "operator")
        deadline = time.monotonic() + 20
        while b"rotate_station[" not in log_path.read_bytes():  # taken, and waiting on the lock
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        time.sleep(0.5)
        first.kill()
        first.wait(10)
        release.set()
        holder.join(10)
        assert not CredentialChange.objects.filter(station=row).exists()  # nothing of it committed
        second = start_worker(log_path, CELERY_VISIBILITY_TIMEOUT="3")
        deadline = time.monotonic() + 40
        while not CredentialChange.objects.filter(station=row).exists():
            assert time.monotonic() < deadline, "the killed worker's task was never run again"
            time.sleep(0.2)
        time.sleep(2)  # a duplicate delivery would show by now
        assert CredentialChange.objects.filter(station=row).count() == 1
        assert CredentialChange.objects.get(station=row).requested_by == "operator"
    finally:
        release.set()
        holder.join(10)
        first.kill()
        if second is not None:
            stop_worker(second)
