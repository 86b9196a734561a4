"""Housekeeping tasks."""
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from csms.models import StationCall
from csms.tasks import reap_orphaned_calls
from portal.celery import app
from tests.factories import make_station, make_tenant

pytestmark = pytest.mark.django_db


def test_sent_calls_abandoned_by_a_dead_server_are_marked_lost():
    station = make_station(make_tenant())
    old = StationCall.objects.create(tenant=station.tenant, station=station, action="Reset",
                                     payload={"type": "Soft"}, state="sent",
                                     sent_at=timezone.now() - timedelta(minutes=10))
    fresh = StationCall.objects.create(tenant=station.tenant, station=station, action="Reset",
                                       payload={"type": "Soft"}, state="sent", sent_at=timezone.now())
    assert reap_orphaned_calls.apply().get() == 1
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert old.state == "lost" and old.completed_at is not None
    assert fresh.state == "sent"


def test_beat_schedules_the_reaper():
    assert "csms.tasks.reap_orphaned_calls" in app.tasks
    schedule = app.conf.beat_schedule
    assert schedule["reap-orphaned-calls"]["task"] == "csms.tasks.reap_orphaned_calls"


@pytest.mark.django_db(transaction=True)
def test_periodic_command_runs_the_beat_schedule_in_process():
    # As `make run` starts it: its own process, nothing imported for it beforehand.
    import os
    import subprocess
    import sys

    from django.db import connection

    from tests.live import REPO

    station = make_station(make_tenant())
    StationCall.objects.create(tenant=station.tenant, station=station, action="Reset",
                               payload={"type": "Soft"}, state="sent",
                               sent_at=timezone.now() - timedelta(minutes=10))
    env = {**os.environ, "CHARGEGATE_DB_NAME": str(connection.settings_dict["NAME"])}
    done = subprocess.run([sys.executable, "manage.py", "periodic", "--once"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"running {len(settings.CELERY_BEAT_SCHEDULE)} periodic tasks" in done.stdout
    assert " ERROR " not in done.stderr, done.stderr
    assert StationCall.objects.get().state == "lost"  # the reaper ran
