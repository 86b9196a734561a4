"""The process's stamp writer (csms/stamps.py): last-seen and Heartbeat times of many
stations in one transaction, the later time winning, nothing else coalesced."""
import asyncio
from datetime import timedelta

import pytest
from django.utils import timezone

from csms import stamps
from csms.models import Station
from tests.factories import make_tenant

pytestmark = pytest.mark.django_db(transaction=True)


def test_many_stations_are_written_in_one_flush_and_the_later_time_wins():
    tenant = make_tenant()
    Station.objects.bulk_create([Station(tenant=tenant, identity=f"CP{i}") for i in range(300)])
    rows = list(Station.objects.order_by("pk"))
    early, late = timezone.now() - timedelta(seconds=5), timezone.now()

    async def scenario():
        for row in rows:
            stamps.note(row.pk, {"last_seen_at": early, "last_heartbeat_at": early})
        stamps.note(rows[0].pk, {"last_seen_at": late})
        return await stamps.flush()

    written = asyncio.run(scenario())
    assert written == 300
    first = Station.objects.get(pk=rows[0].pk)
    assert first.last_seen_at == late and first.last_heartbeat_at == early
    assert Station.objects.filter(last_heartbeat_at=early).count() == 300
    assert asyncio.run(stamps.flush()) == 0  # nothing left over


def test_only_timestamp_fields_may_be_coalesced():
    async def scenario():
        stamps.note(1, {"registration_status": "Accepted"})

    with pytest.raises(ValueError, match="registration_status"):
        asyncio.run(scenario())
