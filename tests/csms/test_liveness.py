"""A station whose server process died is not shown connected (issue 8).

After a kill -9 a station that never came back was still `connected` minutes later,
after the reaper and a restart of its process. Server processes beat; the reaper marks
offline the stations of a process that stopped.
"""
from datetime import timedelta

import pytest

from csms import liveness
from csms.models import ServerProcess, Station, StationConnection
from tests.csms.test_rotation_e2e import connection_name
from tests.factories import AL1000_KEY, make_station, make_tenant
from tests.live import LiveServer
from tests.stations import open_socket
from tests.waiting import async_eventually, eventually, in_thread_db

pytestmark = pytest.mark.django_db(transaction=True)


def connected(identity):
    return Station.objects.get(identity=identity).connected


def test_the_stations_of_a_killed_process_are_marked_offline_and_no_others(csms, run, live_log_dir):
    """The reaper runs at a moment when the killed process's last beat is older than the
    cutoff and the live one has beaten since: chosen from the beats themselves, so a busy
    machine delaying the live server's beat cannot make the test lie either way."""
    tenant = make_tenant("acme")
    make_station(tenant, "DOOMED", AL1000_KEY)
    make_station(tenant, "ALIVE", AL1000_KEY)
    doomed = LiveServer(connection_name(), live_log_dir, name="killed").start()

    def nodes():
        return dict(Station.objects.values_list("identity", "connection_node"))

    def last_beats():
        beats = dict(ServerProcess.objects.values_list("node", "beat_at"))
        return beats.get(nodes()["DOOMED"]), beats.get(nodes()["ALIVE"])

    async def scenario():
        lost = await open_socket(doomed, "acme", "DOOMED", AL1000_KEY)
        kept = await open_socket(csms, "acme", "ALIVE", AL1000_KEY)
        await async_eventually(lambda: connected("DOOMED") and connected("ALIVE"))
        node_of = await in_thread_db(nodes)()
        doomed.proc.kill()  # no cleanup runs: the row still says connected
        doomed.proc.wait()
        still_shown = await in_thread_db(connected)("DOOMED")
        final_beat, _ = await in_thread_db(last_beats)()
        # The live process beats on after the killed one's last beat ...
        cutoff = final_beat + timedelta(milliseconds=1)
        await async_eventually(lambda: last_beats()[1] >= cutoff, timeout=30)
        # ... and the reaper looks just past the killed one's patience.
        reaped = await in_thread_db(liveness.reap_stale_connections)(now=cutoff + liveness.stale_after())
        result = (still_shown, reaped, await in_thread_db(connected)("DOOMED"),
                  await in_thread_db(connected)("ALIVE"), node_of)
        await kept.close()
        await lost.close()
        return result

    try:
        still_shown, reaped, doomed_connected, alive_connected, node_of = run(scenario())
    finally:
        doomed.stop()
    assert still_shown is True  # what the operator saw before
    assert reaped == 1 and doomed_connected is False
    assert alive_connected is True, "a live process's stations are left alone"
    # The dead process is forgotten, the live one beats on (other live servers of this
    # test run may beat into the same database too).
    assert not ServerProcess.objects.filter(node=node_of["DOOMED"]).exists()
    assert ServerProcess.objects.filter(node=node_of["ALIVE"]).exists()
    # Its connection is ended in the station's history too (the live one's closed by itself).
    ended = StationConnection.objects.get(station__identity="DOOMED")
    assert ended.closed_at is not None and ended.close_reason == "its server process stopped"
    alive = eventually(lambda: (row := StationConnection.objects.get(station__identity="ALIVE")).closed_at and row)
    assert alive.close_reason == "closed by the station"
