"""TOTP on a live uvicorn server with a real client (`websockets`): a secret issued by
`station totp issue` (shown once), tokens computed here with hmac from the token
format's section 4 (not by the module under test), each binding let in — the
`Authorization: TOTP` scheme, the Basic binding and the `TOTP` request header — each
slot once, a channel-bound token refused, and a revoked secret refused."""
import base64
import hashlib
import hmac
import json
import time

import pytest
import websockets

from csms.models import Station, StationTotp
from tests.commands import run_cmd
from tests.csms.test_station_auth_live import status_of
from tests.factories import make_station, make_tenant
from tests.stations import station_url

pytestmark = pytest.mark.django_db(transaction=True)

ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
VALIDITY = 300


def token_at(secret: str, slot: int, length=12) -> str:
    d = hmac.new(secret.encode(), slot.to_bytes(8, "big"), hashlib.sha256).digest()
    offset = d[-1] & 0x0F
    return "".join(ALPHABET[d[(offset + i) % 32] % 62] for i in range(length))


def slot_now() -> int:
    """The current slot, away from its edges (a test's three slots stay the server's)."""
    if VALIDITY - time.time() % VALIDITY < 15:
        time.sleep(VALIDITY - time.time() % VALIDITY + 0.5)
    return int(time.time()) // VALIDITY


def connect(server, headers):
    return websockets.connect(station_url(server, "acme", "CP1"), subprotocols=["ocpp1.6"],
                              additional_headers=headers, open_timeout=10, ping_interval=None)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def scheme(token: str, tlscb="false") -> dict:
    return {"Authorization": f'TOTP login="{b64("CP1")}", totp="{b64(token)}", tlscb={tlscb}'}


@pytest.fixture
def secret():
    make_station(make_tenant("acme"), "CP1")
    run_cmd("station", "auth", "set", "acme", "CP1", "--methods", "totp,basic")
    shown = json.loads(run_cmd("station", "totp", "issue", "acme", "CP1", "--validity", str(VALIDITY), "--json"))
    assert StationTotp.objects.get().sealed_secret.find(shown["secret"]) == -1  # sealed at rest
    return shown["secret"]


def test_the_three_bindings_each_slot_once(csms, run, secret):
    s = slot_now()
    assert status_of(run, connect(csms, {})) == (401, ['TOTP realm="Chargegate acme"', 'Basic realm="Chargegate acme"'])
    assert status_of(run, connect(csms, scheme(token_at(secret, s)))) == (101, [])
    assert Station.objects.get().last_auth_method == "totp"
    assert status_of(run, connect(csms, scheme(token_at(secret, s))))[0] == 401  # the slot is spent
    basic = "Basic " + b64("CP1:" + token_at(secret, s + 1))
    assert status_of(run, connect(csms, {"Authorization": basic})) == (101, [])
    assert status_of(run, connect(csms, {"TOTP": "0 " + token_at(secret, s - 1)})) == (101, [])
    assert status_of(run, connect(csms, {"TOTP": "0 " + token_at(secret, s + 2)}))[0] == 401  # too far


def test_bound_tokens_malformed_headers_and_revocation(csms, run, secret):
    s = slot_now()
    assert status_of(run, connect(csms, scheme(token_at(secret, s), tlscb="true")))[0] == 401
    assert status_of(run, connect(csms, {"TOTP": "1 " + token_at(secret, s)}))[0] == 401
    assert status_of(run, connect(csms, {"TOTP": "7 " + token_at(secret, s)}))[0] == 400
    run_cmd("station", "totp", "revoke", "acme", "CP1")
    assert status_of(run, connect(csms, scheme(token_at(secret, s))))[0] == 401
