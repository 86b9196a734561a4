"""Digest (RFC 7616) on a live uvicorn server with a real client (`websockets`): the
station's 401 carries one Digest challenge per algorithm, a response computed here
(hashlib, from the RFC's formulas) is let in and the 101 carries `Authentication-Info`
whose rspauth this side checks, a replayed nonce count and MD5 are refused, a nonce
issued by this process is accepted by the server's (one server key, derived from the
KEK), and both keys of an open key change work."""
import os

import pytest
import websockets

from csms import credentials
from csms.auth import digest
from csms.auth.keys import digest_server_key
from csms.models import Station
from tests.commands import run_cmd
from tests.csms.test_digest import H, parse_challenge
from tests.csms.test_digest import answer as answer_for
from tests.factories import AL1000_KEY, make_station, make_tenant
from tests.stations import basic_auth, station_url

pytestmark = pytest.mark.django_db(transaction=True)

REALM = "Chargegate acme"
KEY_HEX = AL1000_KEY.hex().upper()


def connect(server, identity="CP1", authorization=None):
    headers = {"Authorization": authorization} if authorization else {}
    return websockets.connect(station_url(server, "acme", identity), subprotocols=["ocpp1.6"],
                              additional_headers=headers, open_timeout=10, ping_interval=None)


def handshake(run, server, identity="CP1", authorization=None):
    """(status, WWW-Authenticate values, Authentication-Info or None)."""
    async def attempt():
        try:
            ws = await connect(server, identity, authorization)
        except websockets.InvalidStatus as exc:
            return exc.response.status_code, exc.response.headers.get_all("WWW-Authenticate"), None
        info = ws.response.headers.get("Authentication-Info")
        await ws.close()
        return 101, [], info
    return run(attempt())


def challenges(run, server, identity="CP1") -> list[dict]:
    status, values, _ = handshake(run, server, identity)
    assert status == 401
    return [parse_challenge(v) for v in values if v.startswith("Digest ")]


def uri(identity="CP1") -> str:
    return f"/ocpp/acme/{identity}"


def answer(challenge, password, **kwargs):
    return answer_for(challenge, password, username="CP1", **kwargs)


@pytest.fixture
def station():
    station = make_station(make_tenant("acme"), "CP1")
    run_cmd("station", "auth", "set", "acme", "CP1", "--methods", "digest,basic")
    return station


def test_the_401_offers_each_algorithm_then_basic(csms, run, station):
    status, values, _ = handshake(run, csms)
    assert status == 401
    assert [v.split(",")[2].strip() for v in values[:4]] == [
        "algorithm=SHA-256", "algorithm=SHA-512-256", "algorithm=SHA-384", "algorithm=SHA-512"]
    assert values[4] == f'Basic realm="{REALM}"'
    assert all(v.startswith(f'Digest realm="{REALM}", qop="auth", ') for v in values[:4])


@pytest.mark.parametrize("algorithm", digest.OFFERED)
def test_a_digest_station_connects_and_the_server_proves_itself(csms, run, station, algorithm):
    c = next(c for c in challenges(run, csms) if c["algorithm"] == algorithm)
    status, _, info = handshake(run, csms, authorization=answer(c, KEY_HEX, uri=uri()))
    assert status == 101
    ha1 = H(algorithm, f"CP1:{REALM}:{KEY_HEX}")
    rspauth = H(algorithm, f"{ha1}:{c['nonce']}:00000001:0a4f113b:auth:{H(algorithm, ':' + uri())}")
    assert f'rspauth="{rspauth}"' in info and "qop=auth" in info and "nc=00000001" in info
    assert Station.objects.get(identity="CP1").last_auth_method == "digest"


def test_a_replayed_response_and_a_wrong_key_get_401_a_broken_one_400(csms, run, station):
    c = challenges(run, csms)[0]
    good = answer(c, KEY_HEX, uri=uri())
    assert handshake(run, csms, authorization=good)[0] == 101
    assert handshake(run, csms, authorization=good)[0] == 401  # same nonce, same nc
    assert handshake(run, csms, authorization=answer(c, KEY_HEX, uri=uri(), nc="00000002"))[0] == 101
    assert handshake(run, csms, authorization=answer(c, "00" * 20, uri=uri(), nc="00000003"))[0] == 401
    assert handshake(run, csms, authorization=good.replace("nc=00000001", "nc=1"))[0] == 400
    md5 = answer(c, KEY_HEX, uri=uri()).replace("algorithm=SHA-256", "algorithm=MD5")
    assert handshake(run, csms, authorization=md5)[0] == 401


def test_a_nonce_from_another_process_is_accepted(csms, run, station):
    """The server's nonce key is derived from the KEK: a nonce this process makes is one
    the live server (another process) takes."""
    import time

    nonce = digest.make_nonce(digest_server_key(), REALM, "CP1", time.time(), b"x" * 12)
    c = {"realm": REALM, "nonce": nonce, "opaque": digest.opaque(digest_server_key(), REALM),
         "algorithm": "SHA-256"}
    assert handshake(run, csms, authorization=answer(c, KEY_HEX, uri=uri()))[0] == 101
    stale = digest.make_nonce(digest_server_key(), REALM, "CP1", time.time() - digest.NONCE_SECONDS - 10,
                              b"y" * 12)
    status, values, _ = handshake(run, csms, authorization=answer(dict(c, nonce=stale), KEY_HEX, uri=uri()))
    assert status == 401 and all("stale=true" in v for v in values[:4])


def test_digest_is_opt_in_and_downgrade_protected(csms, run):
    make_station(make_tenant("acme"), "CP1")
    status, values, _ = handshake(run, csms)
    assert values == [f'Basic realm="{REALM}"']  # not offered by default
    run_cmd("station", "auth", "set", "acme", "CP1", "--methods", "digest")
    c = challenges(run, csms)[0]
    assert handshake(run, csms, authorization=basic_auth("CP1", AL1000_KEY))[0] == 401
    assert handshake(run, csms, authorization=answer(c, KEY_HEX, uri=uri()))[0] == 101


def test_both_keys_of_an_open_change_connect(csms, run, station):
    """The rotation workflow rotates the Digest password: the new key (sent as hex text
    in ChangeConfiguration) works at once, the old one while the change is open."""
    change = credentials.request_change(station, "demand", "test")
    new_hex = credentials.prepare_call(change.call_id, "ocpp1.6").payload["value"]
    c = challenges(run, csms)[0]
    assert handshake(run, csms, authorization=answer(c, KEY_HEX, uri=uri()))[0] == 101
    assert handshake(run, csms, authorization=answer(c, new_hex, uri=uri(), nc="00000002"))[0] == 101


def test_a_response_captured_before_a_restart_is_refused_after_it(run, station, live_log_dir):
    """The replay marks of embedded mode live in the process's memory: the restarted
    process does not know the pair was used, but the nonce is older than it, so it asks
    for a fresh one (stale=true); on Redis the mark itself outlives the restart."""
    from django.db import connection

    from tests.live import LiveServer

    server = LiveServer(connection.settings_dict["NAME"], live_log_dir, name="digest-restart").start()
    try:
        c = challenges(run, server)[0]
        captured = answer(c, KEY_HEX, uri=uri())
        assert handshake(run, server, authorization=captured)[0] == 101
        server.stop()
        server.start()
        status, values, _ = handshake(run, server, authorization=captured)
        assert status == 401
        if not os.environ.get("REDIS_URL"):  # embedded: refused as older than the process
            assert all("stale=true" in v for v in values if v.startswith("Digest "))
        fresh = challenges(run, server)[0]
        assert handshake(run, server, authorization=answer(fresh, KEY_HEX, uri=uri()))[0] == 101
    finally:
        server.stop()
