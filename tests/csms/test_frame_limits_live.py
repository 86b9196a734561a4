"""One station's frames must not stall the process (issue 8, items 1 and 14).

Frames a schema admits but no real station sends are refused with the CALLERROR
docs/ocpp.md names, cheaply and off the event loop; binary frames are refused with
close code 1003; frames above the transport limit close the socket with 1009. Driven
over real WebSockets against the live server the README starts.
"""
import asyncio
import json
import time
import urllib.request

import pytest
import websockets

from csms.models import StationEvent
from csms.protocol import limits
from tests.factories import AL1000_KEY, make_station, make_tenant
from tests.stations import open_socket, raw_station

pytestmark = pytest.mark.django_db(transaction=True)

V16, V201 = "ocpp1.6", "ocpp2.0.1"
PROTOCOLS = pytest.mark.parametrize("protocol", [V16, V201])
OCCURRENCE = {V16: "OccurenceConstraintViolation", V201: "OccurrenceConstraintViolation"}
PAYLOAD_SYNTAX = {V16: "FormationViolation", V201: "FormatViolation"}


def meter_values(protocol, sampled):
    mv = [{"timestamp": "2024-05-01T10:00:00Z", "sampledValue": sampled}]
    return {"connectorId": 1, "meterValue": mv} if protocol == V16 else {"evseId": 1, "meterValue": mv}


def invalid_samples(protocol, n):
    # A number where the schema wants a string (1.6) / an object (2.0.1): each is an error.
    return [{"value": 5} if protocol == V16 else {"value": "x"} for _ in range(n)]


def stations(*identities):
    tenant = make_tenant("acme")
    for identity in identities:
        make_station(tenant, identity, AL1000_KEY)


def get(url, timeout):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status


@PROTOCOLS
def test_a_frame_with_more_array_items_than_any_station_sends_is_refused_cheaply(csms, run, protocol):
    """28,000 invalid sampled values (under 1 MiB): schema-valid in shape, absurd in size.

    It is refused with OccurrenceConstraintViolation without validating each item, and
    the connection stays usable.
    """
    stations("CP1")
    frame = [2, "big-1", "MeterValues", meter_values(protocol, invalid_samples(protocol, 28_000))]
    assert len(json.dumps(frame)) < limits.MAX_FRAME_BYTES

    async def scenario():
        async with raw_station(csms, "acme", "CP1", AL1000_KEY, protocol=protocol) as st:
            await st.exchange([2, "boot", "BootNotification", BOOT[protocol]])
            answer = await st.exchange(frame, timeout=30)
            assert answer[:3] == [4, "big-1", OCCURRENCE[protocol]], answer[:4]
            assert answer[4]["constraint"] == "maxItems"
            hb = await st.exchange([2, "hb", "Heartbeat", {}])
            assert hb[:2] == [3, "hb"]

    run(scenario())


def test_back_to_back_heavy_frames_do_not_freeze_other_clients(csms, run):
    """While one station sends heavy frames back to back, an unrelated HTTP request and
    another station's Heartbeat are still answered (within seconds rather than after the
    whole burst: today every frame held the event loop for about a second)."""
    stations("ATTACKER", "VICTIM")
    heavy = json.dumps([2, "x", "MeterValues", meter_values(V16, invalid_samples(V16, 28_000))])

    async def scenario():
        async with raw_station(csms, "acme", "ATTACKER", AL1000_KEY) as attacker, \
                raw_station(csms, "acme", "VICTIM", AL1000_KEY) as victim:
            for _ in range(15):
                await attacker.send(heavy)
            await asyncio.sleep(0.3)  # the burst is being processed now
            started = time.monotonic()
            assert await asyncio.to_thread(get, csms.http + "/healthz", 8) == 200
            hb = await victim.exchange([2, "hb", "Heartbeat", {}], timeout=8)
            assert hb[:2] == [3, "hb"]
            assert time.monotonic() - started < 8
            for _ in range(15):  # every heavy frame still gets its answer
                assert (await attacker.recv(timeout=60))[0] == 4

    run(scenario(), timeout=120)


@PROTOCOLS
def test_nesting_deeper_than_any_schema_is_a_format_violation(csms, run, protocol):
    stations("CP1")
    nested = {}
    for _ in range(limits.MAX_DEPTH + 5):
        nested = {"a": nested}
    payload = {"vendorId": "V", "data": nested}

    async def scenario():
        async with raw_station(csms, "acme", "CP1", AL1000_KEY, protocol=protocol) as st:
            answer = await st.exchange([2, "deep", "DataTransfer", payload])
            assert answer[:3] == [4, "deep", PAYLOAD_SYNTAX[protocol]], answer

    run(scenario())
    assert not StationEvent.objects.filter(kind=StationEvent.Kind.DATA_TRANSFER).exists()


@PROTOCOLS
def test_a_string_longer_than_any_schema_allows_is_a_property_violation(csms, run, protocol):
    """DataTransfer `data` has no maxLength in either schema; nothing is stored for it."""
    stations("CP1")
    payload = {"vendorId": "V", "data": "x" * (limits.MAX_STRING_CHARS + 1)}

    async def scenario():
        async with raw_station(csms, "acme", "CP1", AL1000_KEY, protocol=protocol) as st:
            answer = await st.exchange([2, "long", "DataTransfer", payload])
            assert answer[:3] == [4, "long", "PropertyConstraintViolation"], answer[:4]

    run(scenario())
    assert not StationEvent.objects.filter(kind=StationEvent.Kind.DATA_TRANSFER).exists()


def test_a_frame_above_the_transport_limit_closes_with_1009(csms, run):
    """uvicorn would otherwise take frames up to 16 MiB; the launcher sets the limit."""
    stations("CP1")
    frame = json.dumps([2, "huge", "DataTransfer", {"vendorId": "V", "data": "x" * limits.MAX_FRAME_BYTES}])

    async def scenario():
        ws = await open_socket(csms, "acme", "CP1", AL1000_KEY)
        await ws.send(frame)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd.code == 1009

    run(scenario())


@PROTOCOLS
def test_a_binary_frame_is_refused_with_close_code_1003(csms, run, protocol):
    """OCPP-J is JSON in text frames; a binary frame is 'data it cannot accept' (RFC 6455
    §7.4.1) and gets no RPC answer."""
    stations("CP1")

    async def scenario():
        ws = await open_socket(csms, "acme", "CP1", AL1000_KEY, protocols=(protocol,))
        await ws.send(json.dumps([2, "bin", "Heartbeat", {}]).encode())
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd.code == 1003

    run(scenario())


BOOT = {V16: {"chargePointVendor": "VendorX", "chargePointModel": "SingleSocketCharger"},
        V201: {"reason": "PowerUp",
               "chargingStation": {"model": "SingleSocketCharger", "vendorName": "VendorX"}}}
