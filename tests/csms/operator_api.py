"""Callers of the operator REST API on the live server: people of each role with HTTP
Basic (httpx), and clients of the tenant's own authorization server that fetch a token
with client_credentials through Authlib, as an operator's automation would."""
import httpx
from authlib.integrations.httpx_client import OAuth2Client
from django.contrib.auth import get_user_model

from oauth.models import GrantType
from oauth.registration import ClientSpec, add_client
from tenants.models import Membership, Role

PASSWORD = "pw-123456789-abc"


def person(server, username: str, tenant=None, role=Role.VIEWER) -> httpx.Client:
    """An httpx client signed in by Basic as a new user with `role` in `tenant`."""
    user = get_user_model().objects.create_user(username, password=PASSWORD)
    if tenant is not None:
        Membership.objects.create(user=user, tenant=tenant, role=role)
    return httpx.Client(base_url=server.http, auth=(username, PASSWORD), timeout=30)


def automation(server, tenant, scopes: list[str], client_id="ops-robot") -> OAuth2Client:
    """A client_credentials client of the tenant's AS (client_secret_basic) with a token
    for `scopes`, fetched from the real token endpoint; it sends it as a Bearer token."""
    _, secret = add_client(tenant, ClientSpec(client_id=client_id, name="Operator automation", redirect_uris=[],
                                              grant_types=[GrantType.CLIENT_CREDENTIALS], scopes=scopes,
                                              auth_method="client_secret_basic"))
    client = OAuth2Client(client_id, secret, scope=" ".join(scopes), base_url=server.http, timeout=30,
                          token_endpoint_auth_method="client_secret_basic")
    token = client.fetch_token(f"{server.http}/oauth/{tenant.slug}/token", grant_type="client_credentials")
    assert token["token_type"].lower() == "bearer" and set(token["scope"].split()) == set(scopes)
    return client


def api(tenant: str, path: str) -> str:
    return f"/api/v1/tenants/{tenant}/{path}"


def problem(response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert body["status"] == status
    return body
