"""The eMSP tenant, its driver and EV client (tests/oauth/conftest.py), and a driver's
real way to a PnC access token: PAR, authorize, consent, token."""
import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.oauth import conftest as oauth_fixtures
from tests.oauth.conftest import (
    DRIVER_PASSWORD,
    PNC_DETAIL,
    REDIRECT,
    FormClient,
    basic,
    consent_path,
    pkce_pair,
    query_of,
)

# The authorization server's fixtures, for these tests too.
client, emsp, driver, ev_client, backend_client = (
    oauth_fixtures.client, oauth_fixtures.emsp, oauth_fixtures.driver, oauth_fixtures.ev_client,
    oauth_fixtures.backend_client)
__all__ = ["PNC_DETAIL", "REDIRECT", "approve", "access_token", "near_detail"]


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def near_detail(start_days: float | None = None, end_days: float = 300) -> dict:
    """A contract that starts now (or in `start_days`) and ends in `end_days`: within
    the validity of a fresh MO Sub-CA 2 (PNC_DETAIL's starts in 2030)."""
    now = datetime.now(UTC)
    period = {"end": stamp(now + timedelta(days=end_days))}
    if start_days is not None:
        period["start"] = stamp(now + timedelta(days=start_days))
    return {**PNC_DETAIL, "charging_period": period}


@pytest.fixture
def pki(emsp):
    from pnc import authorities

    return authorities.initialise(emsp, "setup")


@pytest.fixture
def browser(driver):
    b = FormClient()
    b.login(username="driver", password=DRIVER_PASSWORD)
    return b


def approve(browser, ev_client, detail=None, decision="approve", tenant="emsp"):
    """PAR with the EV's credentials, then the driver's consent; the redirect's query."""
    verifier, challenge = pkce_pair()
    body = {"response_type": "code", "client_id": ev_client.client_id, "redirect_uri": REDIRECT,
            "code_challenge": challenge, "code_challenge_method": "S256", "scope": "ccsr",
            "state": "OacnSace5b", "authorization_details": json.dumps([detail or PNC_DETAIL])}
    pushed = FormClient().post(f"/oauth/{tenant}/par", body,
                               HTTP_AUTHORIZATION=basic(ev_client.client_id, ev_client.plain_secret))
    assert pushed.status_code == 201, pushed.content
    answer = browser.get(f"/oauth/{tenant}/authorize",
                         {"client_id": ev_client.client_id, "request_uri": pushed.json()["request_uri"]})
    page = consent_path(answer["Location"])
    assert browser.get(page).status_code == 200
    decided = browser.post(page, {"decision": decision})
    assert decided.status_code == 303
    return {**query_of(decided["Location"]), "verifier": verifier}


def access_token(browser, ev_client, detail=None) -> str:
    """A PnC access token for the driver's approval of `detail`, from the token endpoint."""
    result = approve(browser, ev_client, detail)
    body = {"grant_type": "authorization_code", "code": result["code"], "redirect_uri": REDIRECT,
            "code_verifier": result["verifier"]}
    response = FormClient().post("/oauth/emsp/token", body,
                                 HTTP_AUTHORIZATION=basic(ev_client.client_id, ev_client.plain_secret))
    assert response.status_code == 200, response.content
    return response.json()["access_token"]
