"""REST API: tenant isolation, roles, key changes on demand, and the OpenAPI schema."""
import base64
import json

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from csms.models import CredentialChange, StationCall
from tenants.models import Membership, Role
from tests.factories import AL1000_KEY, make_station, make_tenant

pytestmark = pytest.mark.django_db
PASSWORD = "pw-123456789-abc"


def client_for(username, tenant=None, role=Role.VIEWER) -> APIClient:
    user = get_user_model().objects.create_user(username, password=PASSWORD)
    if tenant is not None:
        Membership.objects.create(user=user, tenant=tenant, role=role)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(
        f"{username}:{PASSWORD}".encode()).decode())
    return client


@pytest.fixture
def acme():
    tenant = make_tenant("acme")
    make_station(tenant, "CP1", AL1000_KEY, vendor="VendorX")
    make_station(tenant, "site/7", AL1000_KEY, allowed_protocols=["ocpp1.6"])  # 2.0.1 allows no "/"
    return tenant


def test_anonymous_callers_are_challenged(acme):
    response = APIClient().get("/api/v1/tenants/acme/stations/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic")


def test_viewer_lists_the_tenants_stations_without_key_material(acme):
    response = client_for("v", acme).get("/api/v1/tenants/acme/stations/")
    assert response.status_code == 200
    body = response.json()["results"]
    assert response.json()["count"] == 2
    assert [s["identity"] for s in body] == ["CP1", "site/7"]
    assert body[0]["vendor"] == "VendorX"
    assert body[0]["credential"] == {"phase": "idle", "valid_keys": 1, "current_key_origin": "installed",
                                     "current_key_since": body[0]["credential"]["current_key_since"],
                                     "needs_unique_key": False}
    text = json.dumps(body)
    assert "argon2" not in text and "hash" not in text and AL1000_KEY.hex() not in text.lower()


def test_other_tenants_are_invisible(acme):
    other = make_tenant("other")
    make_station(other, "OTHER-1", AL1000_KEY)
    client = client_for("v", acme)
    assert client.get("/api/v1/tenants/other/stations/").status_code == 404
    assert client.get("/api/v1/tenants/other/stations/OTHER-1/").status_code == 404
    assert client.post("/api/v1/tenants/other/stations/OTHER-1/rotations/").status_code == 404
    assert client.get("/api/v1/tenants/nope/stations/").status_code == 404
    assert not CredentialChange.objects.exists()


def test_viewer_may_not_rotate(acme):
    response = client_for("v", acme).post("/api/v1/tenants/acme/stations/CP1/rotations/")
    assert response.status_code == 403
    assert "operator" in response.json()["detail"]


def test_operator_requests_a_key_change_once(acme):
    client = client_for("op", acme, Role.OPERATOR)
    response = client.post("/api/v1/tenants/acme/stations/CP1/rotations/")
    assert response.status_code == 202
    change = response.json()
    assert (change["trigger"], change["state"], change["requested_by"]) == ("demand", "queued", "op")
    call = StationCall.objects.get(purpose=StationCall.Purpose.CREDENTIAL)
    assert call.payload == {}  # the key is made when it is sent
    again = client.post("/api/v1/tenants/acme/stations/CP1/rotations/")
    assert again.status_code == 409 and "already queued" in again.json()["detail"]
    history = client.get("/api/v1/tenants/acme/stations/CP1/rotations/").json()
    assert [c["id"] for c in history] == [change["id"]]


def test_identity_with_a_slash_is_addressable(acme):
    client = client_for("op", acme, Role.OPERATOR)
    assert client.get("/api/v1/tenants/acme/stations/site%2F7/").json()["identity"] == "site/7"
    assert client.post("/api/v1/tenants/acme/stations/site%2F7/rotations/").status_code == 202
    assert client.get("/api/v1/tenants/acme/stations/NOPE/").status_code == 404


def test_openapi_schema_describes_the_api(acme):
    response = client_for("v", acme).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert "/api/v1/tenants/{tenant}/stations/{identity}/rotations/" in schema["paths"]
    assert "202" in schema["paths"]["/api/v1/tenants/{tenant}/stations/{identity}/rotations/"]["post"]["responses"]


def test_operator_can_rotate_a_compromised_key(acme):
    client = client_for("op", acme, Role.OPERATOR)
    bad = client.post("/api/v1/tenants/acme/stations/CP1/rotations/", {"compromised": "maybe"}, format="json")
    assert bad.status_code == 400 and "compromised" in bad.json()["errors"]
    response = client.post("/api/v1/tenants/acme/stations/CP1/rotations/", {"compromised": True}, format="json")
    assert response.status_code == 202 and response.json()["compromised"] is True


# --- methods and tokens ---------------------------------------------------------------------

def test_viewer_reads_a_stations_methods_and_the_status(acme):
    client = client_for("v", acme)
    assert client.get("/api/v1/tenants/acme/stations/CP1/auth/").json() == {
        "identity": "CP1", "methods": ["basic"], "source": "built-in", "group": None, "own_methods": None,
        "usable": ["basic"], "last_method": None, "active_tokens": 0}
    assert client.get("/api/v1/tenants/acme/auth-status/").json() == [
        {"group": None, "stations": 2, "last_method": {"never": 2}, "still_on_basic": [], "basic_allowed": 2}]
    assert client.get("/api/v1/tenants/acme/stations/CP1/").json()["last_auth_method"] == ""
    assert client.put("/api/v1/tenants/acme/stations/CP1/auth/", {"methods": ["token"]},
                      format="json").status_code == 403
    assert client.post("/api/v1/tenants/acme/stations/CP1/tokens/").status_code == 403


def test_operator_issues_a_token_shown_once_then_switches_basic_off(acme):
    client = client_for("op", acme, Role.OPERATOR)
    refused = client.put("/api/v1/tenants/acme/stations/CP1/auth/", {"methods": ["token"]}, format="json")
    assert refused.status_code == 409 and refused.json()["stranded"] == ["CP1"]
    issued = client.post("/api/v1/tenants/acme/stations/CP1/tokens/", {"label": "cabinet"}, format="json")
    assert issued.status_code == 201
    token = issued.json()["token"]
    assert token.startswith("cgt_") and issued.json()["label"] == "cabinet"
    listed = client.get("/api/v1/tenants/acme/stations/CP1/tokens/").json()
    assert [t["id"] for t in listed] == [issued.json()["id"]] and token.split("_", 2)[2] not in json.dumps(listed)
    changed = client.put("/api/v1/tenants/acme/stations/CP1/auth/", {"methods": ["token"]}, format="json")
    assert (changed.status_code, changed.json()["methods"], changed.json()["source"]) == (200, ["token"], "station")
    bad = client.put("/api/v1/tenants/acme/stations/CP1/auth/", {"methods": ["md5"]}, format="json")
    assert bad.status_code == 400 and "unknown method" in json.dumps(bad.json())
    revoked = client.delete(f"/api/v1/tenants/acme/stations/CP1/tokens/{issued.json()['id']}/")
    assert (revoked.status_code, revoked.json()["active"]) == (200, False)
    assert client.delete("/api/v1/tenants/acme/stations/CP1/tokens/000000000000/").status_code == 404
    inherit = client.put("/api/v1/tenants/acme/stations/site%2F7/auth/", {"methods": None}, format="json")
    assert inherit.json()["source"] == "built-in"


def test_the_schema_describes_the_method_and_token_endpoints(acme):
    schema = json.loads(client_for("v", acme).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").content)
    paths = schema["paths"]
    assert {"put", "get"} <= set(paths["/api/v1/tenants/{tenant}/stations/{identity}/auth/"])
    assert "201" in paths["/api/v1/tenants/{tenant}/stations/{identity}/tokens/"]["post"]["responses"]
    assert "delete" in paths["/api/v1/tenants/{tenant}/stations/{identity}/tokens/{token_id}/"]
