"""A station has one live connection: the newest wins, on one node or across nodes."""
import asyncio
import json

import pytest
import websockets
from django.db import connection

from csms import credentials, held
from csms.auth.keys import generate_key
from csms.models import Station
from tests.commands import run_cmd
from tests.factories import AL1000_KEY, make_station, make_tenant
from tests.live import LiveServer
from tests.stations import open_socket, raw_station
from tests.waiting import async_eventually, eventually, in_thread_db

pytestmark = pytest.mark.django_db(transaction=True)


async def closed_code(ws, timeout=10):
    with pytest.raises(websockets.ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    return ws.close_code


def test_second_connection_replaces_the_first(csms, run):
    row = make_station(make_tenant(), "CP1", AL1000_KEY)

    async def scenario():
        first = await open_socket(csms, "acme", "CP1", AL1000_KEY)
        await async_eventually(lambda: Station.objects.get(pk=row.pk).connected)
        first_id = await async_eventually(lambda: Station.objects.get(pk=row.pk).connection_id)
        second = await open_socket(csms, "acme", "CP1", AL1000_KEY)
        code = await closed_code(first)
        # The survivor is fully served.
        await second.send('[2,"hb1","Heartbeat",{}]')
        answer = await asyncio.wait_for(second.recv(), 5)
        state = await async_eventually(
            lambda: (s := Station.objects.get(pk=row.pk)).connection_id != first_id and s)
        await second.close()
        return code, answer, state

    code, answer, state = run(scenario())
    assert code == 4000
    assert answer.startswith('[3,"hb1"')
    assert state.connected is True  # the replaced socket's close did not mark it offline
    eventually(lambda: not Station.objects.get(pk=row.pk).connected)


def test_a_socket_the_row_no_longer_knows_of_gives_way_to_a_new_connection(csms, run):
    """The takeover is announced only when the row says a socket is open: one it lost
    track of (marked offline, say by the stale-connection reaper, while still open)
    closes at its process's reconcile pass instead."""
    row = make_station(make_tenant(), "CP1", AL1000_KEY)

    async def scenario():
        first = await open_socket(csms, "acme", "CP1", AL1000_KEY)
        await async_eventually(lambda: Station.objects.get(pk=row.pk).connected)
        await in_thread_db(lambda: Station.objects.filter(pk=row.pk).update(connected=False))()
        second = await open_socket(csms, "acme", "CP1", AL1000_KEY)
        code = await closed_code(first, timeout=30)
        await second.send('[2,"hb1","Heartbeat",{}]')
        return code, await asyncio.wait_for(second.recv(), 5)

    code, answer = run(scenario())
    assert code == 4000 and answer.startswith('[3,"hb1"')


def test_replaced_connection_does_not_mark_station_offline(csms, run):
    row = make_station(make_tenant(), "CP1", AL1000_KEY)

    async def scenario():
        first = await open_socket(csms, "acme", "CP1", AL1000_KEY)
        second = await open_socket(csms, "acme", "CP1", AL1000_KEY)
        await closed_code(first)
        await asyncio.sleep(1.0)  # give the old consumer time to finish its teardown
        connected = await async_eventually(lambda: Station.objects.get(pk=row.pk).connected)
        await second.close()
        return connected

    assert run(scenario()) is True


def test_newest_wins_across_two_server_processes(csms, run, live_log_dir):
    row = make_station(make_tenant(), "CP1", AL1000_KEY)
    other = LiveServer(connection.settings_dict["NAME"], live_log_dir, name="node-b").start()
    try:
        async def scenario():
            on_a = await open_socket(csms, "acme", "CP1", AL1000_KEY)
            await async_eventually(lambda: Station.objects.get(pk=row.pk).connected)
            on_b = await open_socket(other, "acme", "CP1", AL1000_KEY)
            code = await closed_code(on_a, timeout=15)
            await on_b.send('[2,"hb","Heartbeat",{}]')
            answer = await asyncio.wait_for(on_b.recv(), 5)
            await on_b.close()
            return code, answer

        code, answer = run(scenario())
    finally:
        other.stop()
    assert code == 4000
    assert answer.startswith('[3,"hb"')


def test_reconnect_without_boot_notification_is_served(csms, run):
    make_station(make_tenant(), "CP1", AL1000_KEY)

    async def scenario():
        async with raw_station(csms, "acme", "CP1", AL1000_KEY) as st:
            boot = await st.exchange([2, "b1", "BootNotification",
                                      {"chargePointVendor": "V", "chargePointModel": "M"}])
        async with raw_station(csms, "acme", "CP1", AL1000_KEY) as st:
            status = await st.exchange([2, "s1", "StatusNotification",
                                        {"connectorId": 1, "errorCode": "NoError", "status": "Available"}])
            heartbeat = await st.exchange([2, "h1", "Heartbeat", {}])
        return boot, status, heartbeat

    boot, status, heartbeat = run(scenario())
    assert boot[2]["status"] == "Accepted"
    assert status == [3, "s1", {}]
    assert heartbeat[1] == "h1" and "currentTime" in heartbeat[2]


def test_idle_connection_survives_and_still_receives_calls(csms, run):
    # The channel layer's blocking receive runs in 5-second rounds; an idle consumer must
    # outlive several of them (redis-py 8 broke exactly this: django/channels_redis#422).
    from csms import services
    from csms.models import StationCall

    row = make_station(make_tenant(), "CP1", AL1000_KEY)

    async def scenario():
        async with raw_station(csms, "acme", "CP1", AL1000_KEY) as st:
            await st.exchange([2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}])
            assert await st.silent(12)
            call = await in_thread_db(lambda: services.queue_call(
                Station.objects.get(pk=row.pk), "Reset", {"type": "Soft"}))()
            frame = await st.recv(timeout=10)
            await st.send([3, frame[1], {"status": "Accepted"}])
            await async_eventually(lambda: StationCall.objects.get(pk=call.pk).done)
            return frame

    assert run(scenario())[2:] == ["Reset", {"type": "Soft"}]


def test_claims_are_ordered_and_a_superseded_claim_knows_it():
    from csms import services

    row = make_station(make_tenant(), "CP1", AL1000_KEY)
    first = services.claim_connection(row.pk, "a" * 32, "ocpp1.6")
    second = services.claim_connection(row.pk, "b" * 32, "ocpp1.6")
    assert second == first + 1
    # "a" was replaced: re-reading its claim finds nothing, so it must give way.
    assert Station.objects.filter(pk=row.pk, connection_id="a" * 32).count() == 0
    assert held.look([row.pk])[row.pk].holder == "b" * 32  # what the reconcile pass sees


def test_a_claim_records_the_connection_in_one_statement():
    from django.test.utils import CaptureQueriesContext

    from csms import services

    row = make_station(make_tenant(), "CP1", AL1000_KEY)
    with CaptureQueriesContext(connection) as queries:
        seq = services.claim_connection(row.pk, "a" * 32, "ocpp2.0.1", "token")
    assert len(queries) == 1
    claimed = Station.objects.get(pk=row.pk)
    assert (claimed.connected, claimed.connection_id, claimed.ocpp_version, claimed.last_auth_method,
            claimed.connection_seq) == (True, "a" * 32, "ocpp2.0.1", "token", seq)
    assert claimed.connected_at == claimed.last_seen_at is not None
    assert services.claim_connection(row.pk + 1000, "b" * 32, "ocpp1.6") is None  # no such station


@pytest.mark.parametrize("connected, seq_before, seq, announces", [
    (False, 4, 5, False),  # a cold reconnect: nothing to close
    (True, 4, 5, True),    # an older socket is open somewhere
    (False, 4, 6, True),   # another connection claimed between our read and our claim
    (False, 4, None, False),  # the station is gone
])
def test_a_takeover_is_announced_only_when_an_older_socket_may_be_open(connected, seq_before, seq, announces):
    from csms.claim import needs_takeover

    assert needs_takeover(Station(connected=connected, connection_seq=seq_before), seq) is announces


@pytest.mark.parametrize("event_seq, own_seq, closes", [
    (5, 4, True),      # a newer connection announced itself
    (4, 5, False),     # an older one's late announcement must not close the newer
    (5, 5, False),
    (5, None, True),   # we never completed our claim
    (None, 3, False),  # malformed event
])
def test_only_a_newer_claim_supersedes(event_seq, own_seq, closes):
    from csms.services import supersedes

    assert supersedes(event_seq, own_seq) is closes


def test_rekey_closes_the_live_connection_and_only_the_new_key_gets_in(csms, run):
    row = make_station(make_tenant(), "CP1", AL1000_KEY)

    async def scenario():
        ws = await open_socket(csms, "acme", "CP1", AL1000_KEY)
        await async_eventually(lambda: Station.objects.get(pk=row.pk).connected)
        shown = await in_thread_db(run_cmd)("station", "rekey", "acme", "CP1", "--generate-key", "--json")
        code = await closed_code(ws)
        assert not await in_thread_db(lambda: Station.objects.get(pk=row.pk).connected)()
        with pytest.raises(websockets.InvalidStatus) as refused:
            await open_socket(csms, "acme", "CP1", AL1000_KEY)
        fresh = await open_socket(csms, "acme", "CP1", bytes.fromhex(json.loads(shown)["key"]))
        await fresh.close()
        return code, refused.value.response.status_code

    assert run(scenario()) == (4002, 401)


def test_no_socket_opened_with_the_old_key_outlives_a_rekey_it_raced(csms, run):
    """Review finding: a handshake that proved the old key before `station rekey` and
    claimed the station after it undid the revocation and lived on with the dead key
    (16 of 25 rekeys), and was then sent the station's next key."""
    row = make_station(make_tenant(), "CP1", AL1000_KEY, origin="generated")
    survivors = []

    async def scenario():
        key = AL1000_KEY
        for _ in range(6):
            sockets, stop = [], asyncio.Event()

            async def hammer(key=key, sockets=sockets, stop=stop):
                while not stop.is_set():
                    try:
                        sockets.append(await open_socket(csms, "acme", "CP1", key))
                    except websockets.InvalidStatus:
                        await asyncio.sleep(0.01)

            loops = [asyncio.ensure_future(hammer()) for _ in range(4)]
            await asyncio.sleep(0.3)
            key = generate_key()
            await in_thread_db(credentials.replace_key)(
                await in_thread_db(lambda: Station.objects.get(pk=row.pk))(), key, "generated")
            await asyncio.sleep(0.05)
            stop.set()
            await asyncio.gather(*loops)
            await asyncio.sleep(2.0)  # four reconcile passes
            survivors.extend(ws for ws in sockets if ws.close_code is None)
            for ws in sockets:
                await ws.close()

    run(scenario(), timeout=120)
    assert survivors == []
