"""Races a strict deployment meets, run against uvicorn with real concurrent requests:
a replayed code or refresh token racing its legitimate use must leave nothing usable
(RFC 9700 §4.14.2), and a tenant's first signing key is made once."""
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from oauth.models import SigningKey
from tests.factories import make_tenant
from tests.oauth.conftest import DRIVER_PASSWORD, REDIRECT, pkce_pair, query_of
from tests.oauth.live_driver import approve

pytestmark = pytest.mark.django_db(transaction=True)
TRIALS = 4


def code_and_verifier(server, ev_client) -> tuple[str, str]:
    verifier, challenge = pkce_pair()
    url = (f"{server.http}/oauth/emsp/authorize?client_id={ev_client.client_id}&response_type=code"
           f"&redirect_uri={REDIRECT}&scope=ccsr&code_challenge={challenge}&code_challenge_method=S256")
    return query_of(approve(server.http, url, "driver", DRIVER_PASSWORD))["code"], verifier


def post_token(server, ev_client, data):
    return requests.post(f"{server.http}/oauth/emsp/token", data=data,
                         auth=(ev_client.client_id, ev_client.plain_secret), timeout=30)


def active(server, ev_client, token) -> bool:
    return requests.post(f"{server.http}/oauth/emsp/introspect", data={"token": token},
                         auth=(ev_client.client_id, ev_client.plain_secret), timeout=30).json()["active"]


def race(n, attempt):
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(attempt, range(n)))


def test_a_code_raced_by_its_replay_leaves_no_usable_token(csms, emsp, driver, ev_client):
    for _ in range(TRIALS):
        code, verifier = code_and_verifier(csms, ev_client)
        body = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                "code_verifier": verifier}
        responses = race(4, lambda _, body=body: post_token(csms, ev_client, body))
        assert sorted(r.status_code for r in responses) == [200, 400, 400, 400]
        [won] = [r.json() for r in responses if r.status_code == 200]
        assert not active(csms, ev_client, won["access_token"])
        assert not active(csms, ev_client, won["refresh_token"])


def test_a_refresh_token_raced_by_its_replay_leaves_no_usable_token(csms, emsp, driver, ev_client):
    code, verifier = code_and_verifier(csms, ev_client)
    current = post_token(csms, ev_client, {"grant_type": "authorization_code", "code": code,
                                           "redirect_uri": REDIRECT, "code_verifier": verifier}).json()
    for _ in range(TRIALS):
        body = {"grant_type": "refresh_token", "refresh_token": current["refresh_token"]}
        responses = race(4, lambda _, body=body: post_token(csms, ev_client, body))
        assert sorted(r.status_code for r in responses) == [200, 400, 400, 400]
        [won] = [r.json() for r in responses if r.status_code == 200]
        assert not active(csms, ev_client, won["refresh_token"])
        assert not active(csms, ev_client, won["access_token"])
        # Start the next trial from a fresh family.
        code, verifier = code_and_verifier(csms, ev_client)
        current = post_token(csms, ev_client, {"grant_type": "authorization_code", "code": code,
                                               "redirect_uri": REDIRECT, "code_verifier": verifier}).json()


def test_a_tenants_first_key_is_made_once(csms, db):
    tenant = make_tenant("fresh", is_emsp=True)
    responses = race(8, lambda _: requests.get(f"{csms.http}/oauth/fresh/jwks", timeout=30))
    assert [r.status_code for r in responses] == [200] * 8
    assert SigningKey.objects.filter(tenant=tenant).count() == 1
    assert len({r.json()["keys"][0]["kid"] for r in responses}) == 1
