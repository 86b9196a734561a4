"""`GET /api/v1/tenants/<t>/stations/<identity>/auth-events/` on the live server: real
handshakes (a wrong key, no credentials, the right key) become the station's events,
listed newest first, filtered by outcome and method, a page at a time, with no
credential in them; another tenant's people and clients get 404; it is in the schema."""
import asyncio

import pytest
import websockets
from django.test import Client

from tenants.models import Role
from tests.csms.operator_api import api, automation, person
from tests.factories import AL1000_KEY, make_station, make_tenant
from tests.stations import open_socket
from tests.waiting import eventually

pytestmark = pytest.mark.django_db(transaction=True)
WRONG_KEY = bytes.fromhex("00112233445566778899aabbccddeeff00112233")


@pytest.fixture
def acme(csms):
    tenant = make_tenant("acme")
    make_station(tenant, "CP1", AL1000_KEY)
    make_station(tenant, "CP2", AL1000_KEY)
    return tenant


async def handshakes(server):
    """A wrong key, then no credentials, then the right key, a second apart (each its own
    flush), then one for another station."""
    for key in (WRONG_KEY, None):
        with pytest.raises(websockets.InvalidStatus):
            await open_socket(server, "acme", "CP1", key)
        await asyncio.sleep(1.1)
    ws = await open_socket(server, "acme", "CP1", AL1000_KEY)
    await ws.close()
    with pytest.raises(websockets.InvalidStatus):
        await open_socket(server, "acme", "CP2", WRONG_KEY)


def events_of(client, identity="CP1", query=""):
    response = client.get(api("acme", f"stations/{identity}/auth-events/{query}"))
    assert response.status_code == 200, response.text
    return response.json()


def test_a_stations_decisions_newest_first_filtered_and_paged_without_credentials(csms, acme, run):
    run(handshakes(csms))
    viewer = person(csms, "viewer", acme, Role.VIEWER)
    eventually(lambda: len(events_of(viewer)["results"]) == 3)
    body = events_of(viewer)
    rows = body["results"]
    assert [(r["outcome"], r["method"]) for r in rows] == [
        ("accepted", "basic"), ("challenged", "none"), ("challenged", "basic")]
    assert rows[2]["reason"] and rows[2]["source"] == "127.0.0.1" and rows[2]["count"] == 1
    assert set(rows[0]) == {"id", "at", "outcome", "method", "reason", "source", "count", "first", "last"}
    # No credential, in any form, in what the API shows.
    text = str(body)
    for secret in (AL1000_KEY, WRONG_KEY):
        assert secret.hex() not in text.lower() and secret.hex().upper() not in text
    assert "authorization" not in text.lower()

    assert [r["method"] for r in events_of(viewer, query="?outcome=challenged")["results"]] == ["none", "basic"]
    assert [r["outcome"] for r in events_of(viewer, query="?method=basic")["results"]] == ["accepted", "challenged"]
    assert events_of(viewer, query="?outcome=challenged&method=basic")["results"][0]["method"] == "basic"
    assert events_of(viewer, query="?outcome=throttled")["results"] == []
    first = events_of(viewer, query="?page_size=1")
    assert [r["outcome"] for r in first["results"]] == ["accepted"] and first["next"]
    second = viewer.get(first["next"]).json()
    assert [r["method"] for r in second["results"]] == ["none"]
    assert viewer.get(api("acme", "stations/CP1/auth-events/?outcome=nonsense")).status_code == 400
    # Only this station's: CP2's refusal is CP2's.
    assert [r["outcome"] for r in events_of(viewer, "CP2")["results"]] == ["challenged"]


def test_another_tenants_people_get_404_and_its_clients_tokens_are_no_tokens_here(csms, acme):
    beta = make_tenant("beta")
    make_station(beta, "CP1", AL1000_KEY)
    outsider = person(csms, "beta-admin", beta, Role.ADMIN)
    assert outsider.get(api("acme", "stations/CP1/auth-events/")).status_code == 404
    robot = automation(csms, beta, ["operator:read"])
    # A beta token is verified against the URL's tenant, acme: it is no token there.
    refused = robot.get(api("acme", "stations/CP1/auth-events/"))
    assert refused.status_code == 401
    assert robot.get(api("beta", "stations/CP1/auth-events/")).status_code == 200
    viewer = person(csms, "viewer", acme, Role.VIEWER)
    assert viewer.get(api("acme", "stations/NOPE/auth-events/")).status_code == 404
    anonymous = Client()
    assert anonymous.get(api("acme", "stations/CP1/auth-events/")).status_code in (401, 403)


def test_the_endpoint_is_in_the_openapi_schema(db):
    schema = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    path = schema["paths"]["/api/v1/tenants/{tenant}/stations/{identity}/auth-events/"]["get"]
    assert {p["name"] for p in path["parameters"]} >= {"outcome", "method", "after", "before", "cursor"}
