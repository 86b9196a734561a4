"""CSMS-initiated CALLs: intents written to the database, performed by the consumer."""
import asyncio

import pytest
from ocpp.v16 import call as call16

from csms import services
from csms.models import Station, StationCall
from tests.factories import AL1000_KEY, make_station, make_tenant
from tests.stations import raw_station, station
from tests.waiting import async_eventually, eventually, in_thread_db

pytestmark = pytest.mark.django_db(transaction=True)


def queue(station_row, action, payload):
    station_row.refresh_from_db()
    return services.queue_call(station_row, action, payload, requested_by="test")


def finished(call):
    call.refresh_from_db()
    return call if call.done else None


def test_queued_call_is_delivered_and_answer_recorded_v16(csms, run):
    row = make_station(make_tenant(), "CP1", AL1000_KEY)

    async def scenario():
        async with station(csms, "acme", "CP1", AL1000_KEY) as cp:
            await async_eventually(lambda: Station.objects.get(pk=row.pk).connected)
            cp.answers["ChangeConfiguration"] = {"status": "RebootRequired"}
            call = await in_thread_db(queue)(row, "ChangeConfiguration",
                                              {"key": "HeartbeatInterval", "value": "120"})
            done = await async_eventually(lambda: finished(call))
            return done, cp.received

    done, received = run(scenario())
    assert received == [("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "120"})]
    assert done.state == StationCall.State.ANSWERED
    assert done.response == {"status": "RebootRequired"}
    assert len(done.message_id) == 36 and done.ocpp_version == "ocpp1.6"


def test_queued_call_is_delivered_v201(csms, run):
    row = make_station(make_tenant(), "CS1", AL1000_KEY)

    async def scenario():
        async with station(csms, "acme", "CS1", AL1000_KEY, version="2.0.1") as cp:
            await async_eventually(lambda: Station.objects.get(pk=row.pk).connected)
            call = await in_thread_db(queue)(row, "GetVariables", {"getVariableData": [
                {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "SecurityProfile"}}]})
            return await async_eventually(lambda: finished(call)), cp.received

    done, received = run(scenario())
    assert done.state == StationCall.State.ANSWERED
    assert done.response["getVariableResult"][0]["attributeValue"] == "42"
    assert received[0][0] == "GetVariables"


def test_call_queued_while_offline_is_sent_on_connect(csms, run):
    row = make_station(make_tenant(), "CP1", AL1000_KEY, ocpp_version="ocpp1.6")
    call = queue(row, "Reset", {"type": "Soft"})
    assert call.state == StationCall.State.QUEUED

    async def scenario():
        async with station(csms, "acme", "CP1", AL1000_KEY) as cp:
            await async_eventually(lambda: finished(call))
            return cp.received

    assert run(scenario()) == [("Reset", {"type": "Soft"})]
    call.refresh_from_db()
    assert call.state == StationCall.State.ANSWERED and call.response == {"status": "Accepted"}


def test_one_outstanding_call_at_a_time_in_queue_order(csms, run):
    row = make_station(make_tenant(), "CP1", AL1000_KEY, ocpp_version="ocpp1.6")
    calls = [queue(row, "ChangeConfiguration", {"key": f"K{i}", "value": str(i)}) for i in range(3)]

    async def scenario():
        ws_order = []
        async with raw_station(csms, "acme", "CP1", AL1000_KEY) as st:
            for _ in range(3):
                frame = await st.recv()
                ws_order.append(frame[3]["key"])
                # While this call is unanswered, nothing else may arrive.
                assert await st.silent(0.4)
                await st.send([3, frame[1], {"status": "Accepted"}])
            await async_eventually(lambda: all(finished(c) for c in calls))
        return ws_order

    assert run(scenario()) == ["K0", "K1", "K2"]


def test_call_without_answer_times_out_then_next_is_sent(csms, run):
    row = make_station(make_tenant(), "CP1", AL1000_KEY, ocpp_version="ocpp1.6")
    first = queue(row, "Reset", {"type": "Hard"})
    second = queue(row, "Reset", {"type": "Soft"})

    async def scenario():
        async with raw_station(csms, "acme", "CP1", AL1000_KEY) as st:
            unanswered = await st.recv()
            nxt = await st.recv(timeout=10)  # server's call timeout is 3 s in tests
            await st.send([3, nxt[1], {"status": "Accepted"}])
            await async_eventually(lambda: finished(second))
            # A late answer to the timed-out call is ignored.
            await st.send([3, unanswered[1], {"status": "Accepted"}])
            await st.send([2, "hb", "Heartbeat", {}])
            return unanswered, nxt, await st.recv()

    unanswered, nxt, heartbeat = run(scenario())
    assert unanswered[3] == {"type": "Hard"} and nxt[3] == {"type": "Soft"}
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.state == StationCall.State.TIMEOUT
    assert second.state == StationCall.State.ANSWERED
    assert heartbeat[0] == 3 and heartbeat[1] == "hb"


def test_call_error_and_invalid_answer_are_recorded(csms, run):
    row = make_station(make_tenant(), "CP1", AL1000_KEY, ocpp_version="ocpp1.6")
    failing = queue(row, "Reset", {"type": "Hard"})
    garbage = queue(row, "Reset", {"type": "Soft"})

    async def scenario():
        async with raw_station(csms, "acme", "CP1", AL1000_KEY) as st:
            frame = await st.recv()
            await st.send([4, frame[1], "NotSupported", "no resets here", {}])
            frame = await st.recv()
            await st.send([3, frame[1], {"status": "Maybe"}])
            await async_eventually(lambda: finished(garbage))

    run(scenario())
    failing.refresh_from_db()
    garbage.refresh_from_db()
    assert (failing.state, failing.error_code, failing.error_description) == (
        "error", "NotSupported", "no resets here")
    assert garbage.state == "error"
    assert garbage.error_code == "PropertyConstraintViolation"
    assert "status" in garbage.error_description


def test_calls_crossing_in_both_directions(csms, run):
    row = make_station(make_tenant(), "CP1", AL1000_KEY, ocpp_version="ocpp1.6")
    call = queue(row, "Reset", {"type": "Soft"})

    async def scenario():
        async with raw_station(csms, "acme", "CP1", AL1000_KEY) as st:
            csms_call = await st.recv()
            # Before answering, the station sends its own CALL: it must be served.
            heartbeat = await st.exchange([2, "mine-1", "Heartbeat", {}])
            await st.send([3, csms_call[1], {"status": "Accepted"}])
            await async_eventually(lambda: finished(call))
            return heartbeat

    heartbeat = run(scenario())
    assert heartbeat[:2] == [3, "mine-1"] and heartbeat[2]["currentTime"].endswith("Z")
    call.refresh_from_db()
    assert call.state == StationCall.State.ANSWERED


def test_call_outstanding_when_socket_drops_is_marked_lost(csms, run):
    row = make_station(make_tenant(), "CP1", AL1000_KEY, ocpp_version="ocpp1.6")
    call = queue(row, "Reset", {"type": "Soft"})

    async def scenario():
        async with raw_station(csms, "acme", "CP1", AL1000_KEY) as st:
            await st.recv()
        # closed without answering

    run(scenario())
    eventually(lambda: finished(call))
    call.refresh_from_db()
    assert call.state == StationCall.State.LOST



@pytest.mark.parametrize("action, payload, message", [
    ("Reboot", {}, "not an OCPP 1.6 action"),
    ("Reset", {"type": "Sideways"}, "type"),
    ("Reset", {}, "required"),
])
def test_invalid_calls_are_refused_with_a_reason(transactional_db, action, payload, message):
    row = make_station(make_tenant(), "CP1", AL1000_KEY, allowed_protocols=["ocpp1.6"])
    with pytest.raises(services.CallRejected, match=message):
        services.queue_call(row, action, payload)
    assert not StationCall.objects.exists()


def test_a_call_whose_frame_never_left_goes_back_to_the_queue(transactional_db):
    # The consumer claimed it, then found its socket gone: the next connection sends it.
    row = make_station(make_tenant(), "CP1", AL1000_KEY, ocpp_version="ocpp1.6")
    call = queue(row, "Reset", {"type": "Soft"})
    claimed = services.claim_next_call(row.pk)
    services.record_sent(claimed.pk, "m-1", "ocpp1.6")
    services.requeue_call(claimed.pk)
    call.refresh_from_db()
    assert (call.state, call.sent_at, call.message_id) == (StationCall.State.QUEUED, None, "")
    assert services.claim_next_call(row.pk).pk == call.pk


def test_only_the_stations_newest_connection_claims_its_queued_calls(transactional_db):
    # The station reconnected (connection B) while the server still holds its old socket
    # A: a nudge reaches both, and A must not send the call into a connection that ends.
    row = make_station(make_tenant(), "CP1", AL1000_KEY, ocpp_version="ocpp1.6")
    services.claim_connection(row.pk, "node.A", "ocpp1.6")
    services.claim_connection(row.pk, "node.B", "ocpp1.6")
    call = queue(row, "Reset", {"type": "Soft"})
    assert services.claim_next_call(row.pk, "node.A") is None
    call.refresh_from_db()
    assert call.state == StationCall.State.QUEUED
    assert services.claim_next_call(row.pk, "node.B").pk == call.pk


def test_call_valid_only_in_another_version_fails_on_send(csms, run):
    # Queued while the station's version is unknown, valid for 2.0.1 only; it connects on 1.6.
    row = make_station(make_tenant(), "CP1", AL1000_KEY)
    call = services.queue_call(row, "GetVariables", {"getVariableData": [
        {"component": {"name": "X"}, "variable": {"name": "Y"}}]})

    async def scenario():
        async with station(csms, "acme", "CP1", AL1000_KEY):
            await async_eventually(lambda: finished(call))

    run(scenario())
    call.refresh_from_db()
    assert call.state == StationCall.State.FAILED
    assert "not an OCPP 1.6 action" in call.error_description


def test_ocpp_library_station_sees_boot_then_queued_call(csms, run):
    row = make_station(make_tenant(), "CP1", AL1000_KEY, ocpp_version="ocpp1.6")

    async def scenario():
        async with station(csms, "acme", "CP1", AL1000_KEY) as cp:
            boot = await cp.call(call16.BootNotification(charge_point_model="M", charge_point_vendor="V"))
            await in_thread_db(queue)(row, "ChangeConfiguration", {"key": "A", "value": "1"})
            for _ in range(100):
                if cp.received:
                    break
                await asyncio.sleep(0.05)
            return boot, cp.received

    boot, received = run(scenario())
    assert boot.status == "Accepted"
    assert received == [("ChangeConfiguration", {"key": "A", "value": "1"})]
