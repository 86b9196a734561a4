"""Revoking a station's access token closes the connection it opened, on a live uvicorn
server: the token from the real token endpoint (Authlib's jwt-bearer client), the
socket a real `websockets` client, the revocation RFC 7009 over HTTP or DOT's
`AccessToken.revoke()` run in another process (the test's, as the admin would), which
the server hears of only through the database (its reconcile pass).

Only the connection opened with the revoked token closes (code 4002, "credentials
revoked"); the token is then refused with `error="invalid_token"`. A token's expiry
does not close its connection (docs/station-auth.md, "Bearer": revocation and expiry)."""
import asyncio
import base64
import json
import time

import pytest
import requests
import websockets

from csms.models import Station
from oauth.models import AccessToken
from tests.csms.test_bearer_live import CP1_KEY, connect, fetch_token, refusal, register
from tests.csms.test_connections import closed_code
from tests.factories import make_station, make_tenant
from tests.waiting import async_eventually

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def acme(csms, tmp_path):
    make_station(make_tenant("acme"), "CP1")
    register(tmp_path, "acme", "CP1", CP1_KEY)
    return csms


def jti_of(token: str) -> str:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))["jti"]


def revoke_over_http(server, token):
    """What an eMSP or the operator's tooling does: RFC 7009 at the tenant's endpoint."""
    return requests.post(f"{server.http}/oauth/acme/revoke",
                         data={"token": token, "token_type_hint": "access_token", "client_id": "ocpp-stations"},
                         timeout=10)


def test_revoking_the_token_over_rfc7009_closes_its_connection_within_seconds(acme, run):
    token = fetch_token(acme, "acme", "CP1", CP1_KEY, "ES256")["access_token"]

    async def scenario():
        ws = await connect(acme, "CP1", token)
        await async_eventually(lambda: Station.objects.get(identity="CP1").connected)
        started = time.monotonic()
        revoked = await asyncio.to_thread(revoke_over_http, acme, token)
        code = await closed_code(ws, timeout=5)
        return revoked.status_code, code, ws.close_reason, time.monotonic() - started

    status, code, reason, took = run(scenario())
    assert (status, code, reason) == (200, 4002, "credentials revoked")
    assert took < 5
    assert refusal(run, acme, "CP1", token) == "the token is revoked or was never issued"
    station = Station.objects.get(identity="CP1")
    # The connection was the token's: its claim had recorded the jti.
    assert (station.connected, station.last_auth_credential) == (False, jti_of(token))


def test_revoking_another_token_leaves_the_connection_open_and_that_token_cannot_take_it_over(acme, run):
    """Only the connection opened with the revoked token closes; and a handshake with a
    revoked token is refused before it claims the station, so it cannot push the live
    connection off (newest-wins would otherwise close it with 4000)."""
    connected_with = fetch_token(acme, "acme", "CP1", CP1_KEY, "ES256")["access_token"]
    spare = fetch_token(acme, "acme", "CP1", CP1_KEY, "ES256")["access_token"]

    async def scenario():
        ws = await connect(acme, "CP1", connected_with)
        await async_eventually(lambda: Station.objects.get(identity="CP1").connected)
        assert (await asyncio.to_thread(revoke_over_http, acme, spare)).status_code == 200
        with pytest.raises(websockets.InvalidStatus, match="401"):
            await connect(acme, "CP1", spare)
        await asyncio.sleep(4)  # past the server's reconcile pass (3 s)
        await asyncio.wait_for(await ws.ping(), 5)
        await ws.close()

    seq_before = Station.objects.get(identity="CP1").connection_seq
    run(scenario())
    assert Station.objects.get(identity="CP1").connection_seq == seq_before + 1  # only the live one claimed


def test_a_revocation_in_another_process_closes_the_connection_through_the_database(acme, run):
    """`AccessToken.revoke()` (DOT's, what the admin calls) in this process: the server
    has no channel-layer event from it (in-memory layer), only the station row its
    reconcile pass reads."""
    token = fetch_token(acme, "acme", "CP1", CP1_KEY, "ES256")["access_token"]

    async def scenario():
        ws = await connect(acme, "CP1", token)
        await async_eventually(lambda: Station.objects.get(identity="CP1").connected)
        row = await asyncio.to_thread(lambda: AccessToken.objects.get(subject="CP1"))
        await asyncio.to_thread(row.revoke)
        return await closed_code(ws, timeout=8)

    assert run(scenario()) == 4002
    assert refusal(run, acme, "CP1", token) == "the token is revoked or was never issued"


def test_an_expired_token_does_not_close_the_connection_it_opened(acme, run):
    """The token authorizes the handshake (RFC 6750; the white paper): a connection
    outlives it. Its record's expiry is moved into the past, as if its 5 minutes were up."""
    token = fetch_token(acme, "acme", "CP1", CP1_KEY, "ES256")["access_token"]

    async def scenario():
        ws = await connect(acme, "CP1", token)
        await async_eventually(lambda: Station.objects.get(identity="CP1").connected)
        await asyncio.to_thread(lambda: AccessToken.objects.filter(subject="CP1").update(
            expires="2000-01-01T00:00:00Z"))
        await asyncio.sleep(4)  # past the server's reconcile pass (3 s)
        await asyncio.wait_for(await ws.ping(), 5)
        await ws.close()

    run(scenario())


def test_a_revocation_whose_announcement_never_went_out_closes_the_connection_at_the_next_pass(
        acme, run, settings, monkeypatch):
    """The revoking process is killed after its commit, before it announced: the outbox
    row it committed with the revocation is announced by the beat's
    `announce_pending_revocations`, and the connection closes (4002)."""
    from oauth import revocation, tasks
    from oauth.models import StationTokenRevocation

    token = fetch_token(acme, "acme", "CP1", CP1_KEY, "ES256")["access_token"]
    announce = revocation._announce
    monkeypatch.setattr(revocation, "_announce", lambda pending: False)  # killed before announcing
    settings.OAUTH = {**settings.OAUTH, "REVOCATION_RETRY_SECONDS": 0}

    async def scenario():
        ws = await connect(acme, "CP1", token)
        await async_eventually(lambda: Station.objects.get(identity="CP1").connected)
        row = await asyncio.to_thread(lambda: AccessToken.objects.get(subject="CP1"))
        await asyncio.to_thread(row.revoke)
        await asyncio.sleep(4)  # past the server's reconcile pass (3 s): nothing told it
        await asyncio.wait_for(await ws.ping(), 5)
        pending = await asyncio.to_thread(lambda: list(StationTokenRevocation.objects.values_list("identity", "jti")))
        assert pending == [("CP1", jti_of(token))]
        monkeypatch.setattr(revocation, "_announce", announce)
        assert await asyncio.to_thread(tasks.announce_pending_revocations) == 1
        return await closed_code(ws, timeout=8)

    assert run(scenario()) == 4002
    assert not StationTokenRevocation.objects.exists()
    assert tasks.announce_pending_revocations() == 0


def test_a_revocation_announced_at_once_leaves_no_outbox_row(acme, run):
    token = fetch_token(acme, "acme", "CP1", CP1_KEY, "ES256")["access_token"]
    from oauth.models import StationTokenRevocation

    async def scenario():
        ws = await connect(acme, "CP1", token)
        await async_eventually(lambda: Station.objects.get(identity="CP1").connected)
        assert (await asyncio.to_thread(revoke_over_http, acme, token)).status_code == 200
        return await closed_code(ws, timeout=5)

    assert run(scenario()) == 4002
    assert not StationTokenRevocation.objects.exists()
