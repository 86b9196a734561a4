"""The production path: a Celery worker process and a uvicorn process sharing Redis.

A task sent through the broker runs in the worker, which records the intent and nudges
the station's channel-layer group in Redis; the uvicorn process holding the socket
performs the CALL. Only meaningful with Redis, so it runs where REDIS_URL is set (CI's
PostgreSQL + Redis pass); the embedded pass reports it as skipped, with this reason.
"""
import os
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.db import connection

from csms import tasks
from csms.models import CredentialChange, Station
from tests import keyed_station as ks
from tests.factories import AL1000_KEY, make_station, make_tenant
from tests.live import REPO
from tests.waiting import async_eventually, in_thread_db

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("REDIS_URL"),
                       reason="production path: needs REDIS_URL (runs in CI's Redis pass)"),
]


@pytest.fixture
def celery_worker(csms, live_log_dir):
    log = open(live_log_dir / "celery-worker.log", "ab")
    env = {**os.environ, "CHARGEGATE_DB_NAME": str(connection.settings_dict["NAME"]),
           "DJANGO_SETTINGS_MODULE": "portal.settings"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool", "solo",
         "--loglevel", "INFO", "-Q", settings.CELERY_TASK_DEFAULT_QUEUE, "-n", f"test-{os.getpid()}@%h"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while b"ready" not in (live_log_dir / "celery-worker.log").read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError((live_log_dir / "celery-worker.log").read_text())
        time.sleep(0.2)
    yield proc
    proc.terminate()
    proc.wait(10)
    log.close()


def test_rotation_requested_through_the_broker_reaches_the_station(csms, celery_worker, run):
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
