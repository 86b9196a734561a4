"""Station authentication on a live server with a real client (`websockets`): the white
paper's CSMS cases, the 401 challenges, and the two Basic defects of issue 10 (1.6 keys
of 16 to 20 bytes; a 2.0.1 station on a hex-given key when the tenant refuses hex)."""
import asyncio
import base64
import socket

import pytest
import uvicorn
import websockets
from channels.generic.websocket import AsyncWebsocketConsumer

from csms.consumers import StationConsumer
from portal.serve import GuardedHttpToolsProtocol
from tests.commands import run_cmd
from tests.factories import AL1000_KEY, make_station, make_tenant
from tests.live import free_port
from tests.stations import basic_auth, open_socket, station_url

CHALLENGE = ['Basic realm="Chargegate acme"']


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def status_of(run, coro) -> tuple[int, list[str]]:
    """The handshake's status (101 = connected) and its WWW-Authenticate values."""
    async def attempt():
        try:
            ws = await coro
        except websockets.InvalidStatus as exc:
            return exc.response.status_code, exc.response.headers.get_all("WWW-Authenticate")
        await ws.close()
        return 101, []
    return run(attempt())


def connect(server, identity, headers, protocols=("ocpp1.6",)):
    return websockets.connect(station_url(server, "acme", identity), subprotocols=list(protocols),
                              additional_headers=headers, open_timeout=10, ping_interval=None)


# --- several WWW-Authenticate headers through uvicorn's denial response -------------------

THREE = ['Basic realm="Chargegate acme"', 'Token realm="Chargegate acme"',
         'Digest realm="Chargegate acme", qop="auth", algorithm=SHA-256, nonce="abc"']


class ThreeChallenges(AsyncWebsocketConsumer):
    """Refuses every handshake as StationConsumer does (its own `_challenge`), with the
    three challenges of the white paper's example. No channel layer: with Redis, the
    process-wide layer is bound to the first test's event loop."""
    channel_layer_alias = "none: this consumer joins no group"
    _challenge = StationConsumer._challenge
    _deny = StationConsumer._deny

    async def websocket_connect(self, message):
        await self._challenge(THREE)


async def _serving(ws_impl: str, scenario):
    port = free_port()
    config = uvicorn.Config(ThreeChallenges.as_asgi(), host="127.0.0.1", port=port, ws=ws_impl,
                            http=GuardedHttpToolsProtocol, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.02)
        return await scenario(port)
    finally:
        server.should_exit = True
        await task


def _raw_head(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /ocpp/acme/CP1 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.split(b"\r\n\r\n")[0]


@pytest.mark.parametrize("ws_impl", ["auto", "websockets", "websockets-sansio"])
def test_uvicorn_denial_response_carries_one_www_authenticate_field_per_challenge(run, ws_impl):
    """What issue 10's challenges rest on: the ASGI denial response of the uvicorn we
    serve with (and its other WebSocket implementations) keeps repeated header fields
    apart, in order, instead of folding or dropping them."""
    async def scenario(port):
        try:
            await websockets.connect(f"ws://127.0.0.1:{port}/ocpp/acme/CP1", open_timeout=5)
        except websockets.InvalidStatus as exc:
            raw = await asyncio.to_thread(_raw_head, port)
            return exc.response.status_code, exc.response.headers.get_all("WWW-Authenticate"), raw
        raise AssertionError("the handshake was accepted")

    status, values, raw = run(_serving(ws_impl, scenario))
    assert status == 401 and values == THREE
    lines = [line for line in raw.split(b"\r\n") if line.lower().startswith(b"www-authenticate:")]
    assert [line.split(b":", 1)[1].strip().decode() for line in lines] == THREE


# --- the CSMS's answers -------------------------------------------------------------------

on_the_test_database = pytest.mark.django_db(transaction=True)


@on_the_test_database
@pytest.mark.parametrize("headers", [
    {},                                                                    # CSMS-1
    {"Authorization": basic_auth("CP1", bytes(20))},                       # CSMS-2: wrong key
    {"Authorization": "Token 0123456789abcdefghij0123"},                  # CSMS-3: not allowed (yet)
    {"Authorization": "Foo bar"},                                          # CSMS-5
    {"Authorization": "BASIC " + b64(b"CP1:" + bytes(20))},               # wrong key, any casing
    {"Authorization": basic_auth("CP1", b"")},                             # no password
])
def test_every_401_carries_the_challenges_of_the_allowed_methods(csms, run, headers):
    make_station(make_tenant("acme"), "CP1")
    assert status_of(run, connect(csms, "CP1", headers)) == (401, CHALLENGE)


@on_the_test_database
def test_csms_6_the_realm_is_the_tenants_for_every_station_and_version(csms, run):
    acme, other = make_tenant("acme"), make_tenant("zeta")
    make_station(acme, "CP1")
    make_station(acme, "CP2")
    make_station(other, "CP1")
    seen = {status_of(run, connect(csms, identity, {}, protocols))[1][0]
            for identity in ("CP1", "CP2") for protocols in (("ocpp1.6",), ("ocpp2.0.1",))}
    assert seen == {CHALLENGE[0]}
    zeta = status_of(run, websockets.connect(station_url(csms, "zeta", "CP1"), subprotocols=["ocpp1.6"]))
    assert zeta == (401, ['Basic realm="Chargegate zeta"'])


@on_the_test_database
@pytest.mark.parametrize("value", [
    "BASIC " + b64(b"CP1:" + AL1000_KEY), "basic " + b64(b"CP1:" + AL1000_KEY),   # CSMS-7
    "bAsIc " + b64(b"CP1:" + AL1000_KEY),
    "   Basic     " + b64(b"CP1:" + AL1000_KEY) + "   ",                           # CSMS-8
])
def test_csms_7_8_scheme_casing_and_extra_whitespace_are_accepted(csms, run, value):
    make_station(make_tenant("acme"), "CP1")
    assert status_of(run, connect(csms, "CP1", {"Authorization": value})) == (101, [])


@on_the_test_database
@pytest.mark.parametrize("headers", [
    {"Authorization": "Basic !!!!"},                                                 # CSMS-9
    {"Authorization": "Basic QU-x"},
    {"Authorization": "Basic Y3MxOnRvdGFsLXMzY3VyMyE= randomdata"},                 # CSMS-10
    {"Authorization": "Basic " + b64(b"CP1:" + AL1000_KEY) + " randomdata"},
    {"Authorization": "Basic " + b64(b"C:" + AL1000_KEY)},                          # CSMS-11 login
    {"Authorization": "Basic " + b64(b"CP1:x")},                                    # CSMS-11 password
    {"Authorization": "Basic " + "QUFB" * 1250},                                    # CSMS-12: 5 kB
    [("Authorization", basic_auth("CP1", AL1000_KEY))] * 2,                         # duplicated
    [("Authorization", basic_auth("CP1", AL1000_KEY)), ("Authorization", "Token abcdefghij0123456789")],
])
def test_csms_9_to_12_malformed_authorization_gets_400(csms, run, headers):
    make_station(make_tenant("acme"), "CP1")
    assert status_of(run, connect(csms, "CP1", headers)) == (400, [])


@on_the_test_database
def test_an_authorization_line_beyond_the_head_guard_gets_431_not_a_500(csms, run):
    """Beyond 8,000 bytes a header line never reaches the consumer: the request guard
    (portal/request_head.py) answers 431, which is the status RFC 6585 names for it."""
    make_station(make_tenant("acme"), "CP1")
    assert status_of(run, connect(csms, "CP1", {"Authorization": "Basic " + "QUFB" * 2500}))[0] == 431


# --- issue 10's Basic defects -------------------------------------------------------------

@on_the_test_database
@pytest.mark.parametrize("size", [16, 18, 20])
def test_a_1_6_key_of_16_to_20_bytes_is_registered_and_connects(csms, run, size):
    """1.6 security white paper A00.FR.205: the AuthorizationKey is 16 to 20 bytes (up to
    40 hex digits). `station add --key` took only 40 digits; the handshake read only a
    20-byte password as a key."""
    key = bytes(range(0xA0, 0xA0 + size))
    make_tenant("acme")
    run_cmd("station", "add", "acme", "CP1", "--key", key.hex())
    hex_text = key.hex().upper().encode()
    assert status_of(run, open_socket(csms, "acme", "CP1", key)) == (101, [])
    assert status_of(run, open_socket(csms, "acme", "CP1", None, password=hex_text)) == (101, [])
    run_cmd("tenant", "set", "acme", "--accept-hex-password", "no")
    assert status_of(run, open_socket(csms, "acme", "CP1", None, password=hex_text)) == (401, CHALLENGE)
    assert status_of(run, open_socket(csms, "acme", "CP1", key)) == (101, [])
    assert status_of(run, open_socket(csms, "acme", "CP1", key[:-1]))[0] == 401


@on_the_test_database
def test_a_fleet_import_takes_16_byte_keys(csms, run, tmp_path):
    key = bytes(range(16))
    csv = tmp_path / "fleet.csv"
    csv.write_text(f"identity,key\nCP1,{key.hex()}\nCP2,{AL1000_KEY.hex()}\n")
    make_tenant("acme")
    run_cmd("station", "import", "acme", str(csv))
    assert status_of(run, open_socket(csms, "acme", "CP1", key)) == (101, [])
    assert status_of(run, open_socket(csms, "acme", "CP2", AL1000_KEY)) == (101, [])


@on_the_test_database
def test_a_2_0_1_station_on_a_20_byte_key_is_not_locked_out_when_the_tenant_refuses_hex(csms, run):
    """A 2.0.1 station's BasicAuthPassword is a string: given a 20-byte key (`station add
    --key HEX`, as the demo's CS-201-001), it holds and sends the hex text. With
    `tenant set --accept-hex-password no` it was refused (401) for good."""
    key = bytes.fromhex("2222222222222222222222222222222222222222")
    make_tenant("acme")
    run_cmd("station", "add", "acme", "CS-201", "--key", key.hex(), "--protocols", "ocpp2.0.1")
    run_cmd("station", "add", "acme", "CP-both", "--key", key.hex())
    run_cmd("tenant", "set", "acme", "--accept-hex-password", "no")
    hex_text = key.hex().encode()
    assert status_of(run, open_socket(csms, "acme", "CS-201", None, protocols=("ocpp2.0.1",),
                                      password=hex_text)) == (101, [])
    assert status_of(run, open_socket(csms, "acme", "CP-both", None, protocols=("ocpp2.0.1",),
                                      password=hex_text)) == (101, [])
    # The tenant's rule still holds for 1.6, whose password is the raw bytes.
    assert status_of(run, open_socket(csms, "acme", "CP-both", None, protocols=("ocpp1.6",),
                                      password=hex_text)) == (401, CHALLENGE)
    assert status_of(run, open_socket(csms, "acme", "CP-both", key, protocols=("ocpp1.6",))) == (101, [])


@on_the_test_database
def test_a_station_on_a_16_byte_key_is_rotated_to_a_20_byte_one(csms, run):
    """The rotation machine keeps hashes only, so a short installed key rotates like any
    other: the station applies the 20-byte key it is sent, the 16-byte one is retired."""
    from csms import credentials
    from csms.models import CredentialChange, Station
    from tests import keyed_station as ks
    from tests.waiting import async_eventually, in_thread_db

    short = bytes(range(0x30, 0x40))
    make_station(make_tenant("acme"), "CP1", short)
    station = ks.KeyedStation(csms, "acme", "CP1", short, version="1.6", behaviour=ks.APPLY)

    def settled():
        change = CredentialChange.objects.filter(station__identity="CP1").first()
        return change if change and not change.open else None

    async def scenario():
        await station.connect()
        await station.boot()
        row = await in_thread_db(lambda: Station.objects.select_related("tenant", "credential")
                                 .get(identity="CP1"))()
        await in_thread_db(credentials.request_change)(row, "demand", "tester")
        change = await async_eventually(settled)
        await station.disconnect()
        return change

    change = run(scenario())
    assert (change.state, change.outcome, len(station.password)) == ("succeeded", "Accepted", 20)
    assert status_of(run, open_socket(csms, "acme", "CP1", station.password)) == (101, [])
    assert status_of(run, open_socket(csms, "acme", "CP1", short)) == (401, CHALLENGE)
