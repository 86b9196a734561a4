"""The OCPP-J handshake: who gets in, with which subprotocol, and what the others get."""
import asyncio
import base64

import pytest
import websockets

from csms.models import Station
from tests.factories import AL1000_KEY, make_station, make_tenant
from tests.stations import open_socket
from tests.waiting import eventually

pytestmark = pytest.mark.django_db(transaction=True)


def refused(run, coro) -> websockets.InvalidStatus:
    with pytest.raises(websockets.InvalidStatus) as info:
        run(coro)
    return info.value


def test_ocpp_j_example_al1000_connects_with_raw_key_bytes(csms, run):
    tenant = make_tenant("demo")
    make_station(tenant, "AL1000", AL1000_KEY)

    async def scenario():
        ws = await websockets.connect(
            f"{csms.ws}/ocpp/demo/AL1000", subprotocols=["ocpp1.6"],
            additional_headers={"Authorization": "Basic QUwxMDAwOgABAgMEBQYH////////////////"})
        async with ws:
            return ws.subprotocol, ws.response.status_code

    assert run(scenario()) == ("ocpp1.6", 101)
    station = eventually(lambda: Station.objects.filter(identity="AL1000", connected=False).first())
    assert station.ocpp_version == "ocpp1.6"
    assert station.connected_at is not None
    assert station.disconnected_at >= station.connected_at


def test_hex_text_password_accepted_by_default_and_refusable(csms, run):
    tenant = make_tenant("acme")
    make_station(tenant, "CP1", AL1000_KEY)
    hex_password = AL1000_KEY.hex().upper().encode()

    async def connect():
        ws = await open_socket(csms, "acme", "CP1", None, password=hex_password)
        await ws.close()
        return ws.subprotocol

    assert run(connect()) == "ocpp1.6"
    tenant.accept_hex_basic_password = False
    tenant.save()
    assert refused(run, connect()).response.status_code == 401


def test_missing_credentials_get_401_with_basic_challenge(csms, run):
    make_station(make_tenant("acme"), "CP1")
    error = refused(run, open_socket(csms, "acme", "CP1", None))
    assert error.response.status_code == 401
    assert error.response.headers.get_all("WWW-Authenticate") == ['Basic realm="Chargegate acme"']


@pytest.mark.parametrize("password", [
    b"\x00" * 20,                      # wrong key of the right size
    AL1000_KEY[:19],                   # too short
    AL1000_KEY + b"\x00",              # too long
    b"not-the-key",
    b"",
])
def test_wrong_key_gets_401(csms, run, password):
    make_station(make_tenant("acme"), "CP1", AL1000_KEY)
    error = refused(run, open_socket(csms, "acme", "CP1", None, password=password))
    assert error.response.status_code == 401
    assert error.response.headers["WWW-Authenticate"].startswith("Basic ")


def test_username_must_equal_identity(csms, run):
    tenant = make_tenant("acme")
    make_station(tenant, "CP1", AL1000_KEY)
    make_station(tenant, "CP2", AL1000_KEY)
    token = base64.b64encode(b"CP2:" + AL1000_KEY).decode()
    error = refused(run, open_socket(csms, "acme", "CP1", None,
                                     headers={"Authorization": f"Basic {token}"}))
    assert error.response.status_code == 401


def test_key_with_colon_bytes_is_split_at_first_colon(csms, run):
    key = b":" * 20  # a random key may contain 0x3A anywhere
    make_station(make_tenant("acme"), "CP1", key)

    async def scenario():
        ws = await open_socket(csms, "acme", "CP1", key)
        await ws.close()
        return ws.subprotocol

    assert run(scenario()) == "ocpp1.6"


@pytest.mark.parametrize("header", [
    "Basic !!!!",                                   # not base64
    "Basic " + base64.b64encode(b"no-colon-here").decode(),
    "Basic",                                        # no credentials at all
    "Basic a b c",                                  # token68 has no spaces
    "Basic =QUwx",
])
def test_malformed_authorization_gets_400(csms, run, header):
    make_station(make_tenant("acme"), "CP1")
    error = refused(run, open_socket(csms, "acme", "CP1", None, headers={"Authorization": header}))
    assert error.response.status_code == 400


def test_other_scheme_is_challenged_not_accepted(csms, run):
    make_station(make_tenant("acme"), "CP1")
    error = refused(run, open_socket(csms, "acme", "CP1", None,
                                     headers={"Authorization": "Bearer abc.def"}))
    assert error.response.status_code == 401


@pytest.mark.parametrize("path", ["/ocpp/acme/NOPE", "/ocpp/nope/CP1", "/ocpp/acme", "/ocpp/acme/CP1/extra"])
def test_unknown_tenant_or_station_gets_404(csms, run, path):
    make_station(make_tenant("acme"), "CP1")

    async def scenario():
        return await websockets.connect(f"{csms.ws}{path}", subprotocols=["ocpp1.6"])

    assert refused(run, scenario()).response.status_code == 404


def test_tenant_without_charging_stations_is_404(csms, run):
    make_station(make_tenant("acme", operates_charging_stations=False), "CP1")
    assert refused(run, open_socket(csms, "acme", "CP1", AL1000_KEY)).response.status_code == 404


def test_identity_is_percent_decoded(csms, run):
    make_station(make_tenant("acme"), "RDAM 123", AL1000_KEY, allowed_protocols=["ocpp1.6"])  # 2.0.1 allows no space

    async def scenario():
        ws = await websockets.connect(
            f"{csms.ws}/ocpp/acme/RDAM%20123", subprotocols=["ocpp1.6"],
            additional_headers={"Authorization": "Basic " + base64.b64encode(b"RDAM 123:" + AL1000_KEY).decode()})
        await ws.close()
        return ws.subprotocol

    assert run(scenario()) == "ocpp1.6"


def test_identity_with_encoded_slash_is_one_segment(csms, run):
    make_station(make_tenant("acme"), "site/7", AL1000_KEY, allowed_protocols=["ocpp1.6"])  # 2.0.1 allows no "/"

    async def scenario():
        ws = await open_socket(csms, "acme", "site/7", AL1000_KEY)
        await ws.close()
        return ws.subprotocol

    assert run(scenario()) == "ocpp1.6"


@pytest.mark.parametrize("offered, allowed, chosen", [
    (["ocpp1.6"], ["ocpp1.6", "ocpp2.0.1"], "ocpp1.6"),
    (["ocpp2.0.1"], ["ocpp1.6", "ocpp2.0.1"], "ocpp2.0.1"),
    (["ocpp2.0.1", "ocpp1.6"], ["ocpp1.6", "ocpp2.0.1"], "ocpp2.0.1"),  # client's order wins
    (["ocpp1.6", "ocpp2.0.1"], ["ocpp1.6", "ocpp2.0.1"], "ocpp1.6"),
    (["ocpp2.0.1", "ocpp1.6"], ["ocpp1.6"], "ocpp1.6"),                 # station's policy
    (["ocpp1.5", "ocpp1.6"], ["ocpp1.6", "ocpp2.0.1"], "ocpp1.6"),
])
def test_subprotocol_is_first_offered_that_station_may_use(csms, run, offered, allowed, chosen):
    make_station(make_tenant("acme"), "CP1", AL1000_KEY, allowed_protocols=allowed)

    async def scenario():
        ws = await open_socket(csms, "acme", "CP1", AL1000_KEY, protocols=offered)
        await ws.close()
        return ws.subprotocol

    assert run(scenario()) == chosen


@pytest.mark.parametrize("offered, allowed", [
    (["ocpp1.5"], ["ocpp1.6", "ocpp2.0.1"]),
    (["ocpp2.0.1"], ["ocpp1.6"]),
    ([], ["ocpp1.6", "ocpp2.0.1"]),
])
def test_no_agreeable_subprotocol_completes_handshake_without_one_then_closes(csms, run, offered, allowed):
    make_station(make_tenant("acme"), "CP1", AL1000_KEY, allowed_protocols=allowed)

    async def scenario():
        ws = await open_socket(csms, "acme", "CP1", AL1000_KEY, protocols=offered)
        status = ws.response.status_code
        header = ws.response.headers.get("Sec-WebSocket-Protocol")
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        return status, header, ws.close_code

    status, header, close_code = run(scenario())
    assert status == 101
    assert header is None
    assert close_code == 1002
    assert Station.objects.get().connected_at is None  # never counted as connected


def test_failed_authentication_never_logs_credentials(csms, run):
    secret_key = bytes.fromhex("5ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7")
    make_station(make_tenant("acme"), "CP1", AL1000_KEY)
    refused(run, open_socket(csms, "acme", "CP1", None, password=secret_key))
    refused(run, open_socket(csms, "acme", "CP1", None, password=secret_key.hex().encode()))

    async def good():
        ws = await open_socket(csms, "acme", "CP1", AL1000_KEY)
        await ws.close()

    run(good())
    log = csms.log()
    assert "authentication failed" in log  # the log was written, it just holds no secrets
    for secret in (secret_key.hex(), secret_key.hex().upper(), AL1000_KEY.hex(), AL1000_KEY.hex().upper(),
                   base64.b64encode(b"CP1:" + secret_key).decode(),
                   base64.b64encode(b"CP1:" + AL1000_KEY).decode()):
        assert secret not in log
