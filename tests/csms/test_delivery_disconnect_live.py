"""A station that goes away while the CSMS is delivering its queued calls: an ordinary
event, logged as such, and the calls it did not get wait for its next connection."""
import pytest

from csms import services
from csms.models import Station, StationCall
from tests.factories import AL1000_KEY, make_station, make_tenant
from tests.stations import open_socket, station
from tests.waiting import async_eventually

pytestmark = pytest.mark.django_db(transaction=True)


def unfinished(station_id):
    return list(StationCall.objects.filter(station_id=station_id).exclude(
        state__in=[StationCall.State.ANSWERED, StationCall.State.LOST]).values_list("state", flat=True))


def test_station_leaving_while_its_calls_are_delivered_loses_none_and_logs_no_error(csms, run):
    row = make_station(make_tenant(), "CP-GONE", AL1000_KEY)
    for i in range(12):
        services.queue_call(row, "ChangeConfiguration",
                            {"key": "HeartbeatInterval", "value": str(60 + i)}, requested_by="test")

    async def scenario():
        # Gone the moment it is in: the CSMS is claiming and sending its first call.
        for _ in range(6):
            ws = await open_socket(csms, "acme", "CP-GONE", AL1000_KEY)
            ws.transport.abort()
            await async_eventually(lambda: not Station.objects.get(pk=row.pk).connected)
        async with station(csms, "acme", "CP-GONE", AL1000_KEY):
            await async_eventually(lambda: unfinished(row.pk) == [], timeout=30)

    run(scenario())
    assert unfinished(row.pk) == []
    answered = StationCall.objects.filter(station=row, state=StationCall.State.ANSWERED).count()
    assert answered >= 12 - 6  # at most one call per aborted connection was on the wire
    log = csms.log()
    assert "Traceback" not in log and " ERROR " not in log, f"see {csms.log_path}"
