"""Shared helpers for the handler tests: a station that says things, and what we kept."""
from datetime import datetime, timedelta

from django.utils import timezone

from csms.models import Station, StationEvent
from tests.factories import AL1000_KEY, make_station, make_tenant
from tests.stations import station
from tests.waiting import eventually


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def acme_station(identity, heartbeat_interval=300, **fields) -> Station:
    tenant = make_tenant("acme", heartbeat_interval=heartbeat_interval)
    return make_station(tenant, identity, AL1000_KEY, **fields)


def converse(csms, run, version, identity, tenant, *payloads):
    """Send `payloads` in order on one connection; the station's answers, in order."""

    async def scenario():
        async with station(csms, tenant, identity, AL1000_KEY, version=version) as cp:
            return [await cp.call(p, suppress=False) for p in payloads]

    return run(scenario())


def assert_ocpp_utc_now(text: str):
    assert text.endswith("Z"), text
    moment = at(text)
    assert moment.utcoffset() == timedelta(0)
    assert abs(moment - timezone.now()) < timedelta(seconds=30)


def events(station_row, kind):
    return list(StationEvent.objects.filter(station=station_row, kind=kind).order_by("id"))


def heartbeat_written(station_row) -> datetime:
    """The station's last Heartbeat time, once the process's stamp writer has written it
    (csms/stamps.py flushes every CSMS_STAMP_FLUSH_SECONDS, 0.1 s in tests)."""
    return eventually(lambda: Station.objects.get(pk=station_row.pk).last_heartbeat_at)
