"""The driver's side in a real browser: Chromium, driven by Playwright, signs in and
approves or denies a pushed PnC contract request on the consent screen."""
import time

import pytest
import requests

from tests import browser
from tests.oauth.conftest import DRIVER_PASSWORD, PNC_DETAIL, REDIRECT, pkce_pair, query_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def chromium(csms, ev_client):
    """Started after the database rows."""
    with browser.chromium() as started:
        yield started


def push(server, ev_client) -> tuple[str, str]:
    import json
    verifier, challenge = pkce_pair()
    response = requests.post(f"{server.http}/oauth/emsp/par", data={
        "response_type": "code", "client_id": ev_client.client_id, "redirect_uri": REDIRECT, "scope": "ccsr",
        "state": "browser-state", "code_challenge": challenge, "code_challenge_method": "S256",
        "authorization_details": json.dumps([PNC_DETAIL])}, auth=(ev_client.client_id, ev_client.plain_secret),
        timeout=10)
    assert response.status_code == 201, response.text
    return response.json()["request_uri"], verifier


def drive(chromium, server, ev_client, button: str) -> tuple[dict, str]:
    """Sign in and press `button` on the consent page; return the client's callback
    query and the consent page's text."""
    request_uri, verifier = push(server, ev_client)
    page = chromium.new_page()
    landed = []

    # The client's site is outside this test: catch the redirect to it.
    def client_site(route):
        landed.append(route.request.url)
        route.fulfill(status=200, body="client received the answer")

    page.route("https://user-agent.example.com/**", client_site)
    page.goto(f"{server.http}/oauth/emsp/authorize?client_id={ev_client.client_id}&request_uri={request_uri}")
    page.fill("input[name=username]", "driver")
    page.fill("input[name=password]", DRIVER_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("section.authorization-detail")
    text = page.inner_text("main")
    page.click(f"button[value={button}]")
    deadline = time.monotonic() + 10
    while not landed and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    page.close()
    assert landed, "the browser never reached the client's redirect URI"
    return query_of(landed[0]), verifier, text


def test_driver_approves_in_chromium(csms, emsp, driver, ev_client, chromium):
    result, verifier, text = drive(chromium, csms, ev_client, "approve")
    assert "Example EV asks for your approval" in text
    assert "Plug & Charge contract" in text
    assert "€234.56" in text and "€100.00" in text
    assert "1 July 2030, 00:00 UTC" in text and "1 July 2031, 00:00 UTC" in text
    assert result["state"] == "browser-state" and result["iss"] == f"{csms.http}/oauth/emsp"
    token = requests.post(f"{csms.http}/oauth/emsp/token", data={
        "grant_type": "authorization_code", "code": result["code"], "redirect_uri": REDIRECT,
        "code_verifier": verifier}, auth=(ev_client.client_id, ev_client.plain_secret), timeout=10)
    assert token.status_code == 200, token.text
    assert token.json()["authorization_details"][0]["maximum_amount"] == {"currency": "EUR", "amount": "234.56"}


def test_driver_denies_in_chromium(csms, emsp, driver, ev_client, chromium):
    result, _, _ = drive(chromium, csms, ev_client, "deny")
    assert result["error"] == "access_denied" and result["state"] == "browser-state"
    assert result["iss"] == f"{csms.http}/oauth/emsp" and "code" not in result
