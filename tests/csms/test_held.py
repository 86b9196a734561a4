"""The per-process reconcile pass (csms/held.py): one look at the database for every
station connection a process holds, not a poll per connection (issue 9)."""
import asyncio

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from csms import credentials, held, services
from csms.models import Station, StationCall
from tests.factories import AL1000_KEY, make_station, make_tenant

pytestmark = pytest.mark.django_db(transaction=True)


class FakeConsumer:
    def __init__(self, station_id, connection_id):
        self.station_id, self.connection_id = station_id, connection_id
        self.told = []

    def reconcile_soon(self, findings):
        self.told.append(findings)


def test_a_thousand_idle_connections_cost_a_few_queries_and_hear_nothing():
    tenant = make_tenant()
    Station.objects.bulk_create([Station(tenant=tenant, identity=f"CP{i}", connection_id=f"c{i}")
                                 for i in range(1_100)])
    consumers = [FakeConsumer(s.pk, s.connection_id) for s in Station.objects.all()]
    with CaptureQueriesContext(connection) as queries:
        found = held.look([c.station_id for c in consumers])
    assert len(queries) == 2 * 3  # two per chunk of 500, whatever each station's state
    assert all(found[c.station_id].holder == c.connection_id for c in consumers)
    assert not any(f.queued or f.change_open for f in found.values())


def test_only_connections_with_something_to_do_are_told():
    tenant = make_tenant()
    quiet, replaced, busy, rotating, gone = (make_station(tenant, f"CP{i}", AL1000_KEY) for i in range(5))
    for station in (quiet, replaced, busy, rotating, gone):
        Station.objects.filter(pk=station.pk).update(connection_id=f"mine-{station.pk}")
    Station.objects.filter(pk=replaced.pk).update(connection_id="a newer one")
    services.queue_call(busy, "Reset", {"type": "Soft"}, requested_by="test")
    credentials.request_change(rotating, "demand", "test")
    credentials.prepare_call(StationCall.objects.get(station=rotating, purpose="credential").pk, "ocpp1.6")
    StationCall.objects.filter(station=rotating).delete()  # only the open change is left to notice
    consumers = {s.identity: FakeConsumer(s.pk, f"mine-{s.pk}") for s in (quiet, replaced, busy, rotating, gone)}
    gone.delete()

    async def one_pass():
        for consumer in consumers.values():
            held._held.add(consumer)
        try:
            return await held.reconcile_once()
        finally:
            held._held.clear()

    assert asyncio.run(one_pass()) == 4
    assert consumers["CP0"].told == []
    assert consumers["CP1"].told[0].holder == "a newer one"
    assert consumers["CP2"].told[0].queued
    assert consumers["CP3"].told[0].change_open
    assert consumers["CP4"].told == [held.GONE]
