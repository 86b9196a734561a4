"""An eMSP tenant with its authorization server, a driver and a confidential client."""
import base64
import hashlib
import re
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.test import Client as DjangoClient

from oauth.models import GrantType
from oauth.registration import ClientSpec, add_client
from tenants.models import Membership, Role
from tests.factories import make_tenant

REDIRECT = "https://user-agent.example.com/redirect"
DRIVER_PASSWORD = "driver-pass-2026"
PNC_DETAIL = {
    "type": "pnc_contract_request",
    "charging_period": {"start": "2030-07-01T00:00:00.000Z", "end": "2031-07-01T00:00:00.000Z"},
    "maximum_amount": {"currency": "EUR", "amount": "234.56"},
    "maximum_transaction_amount": {"currency": "EUR", "amount": "100.00"},
}


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def consent_path(location: str) -> str:
    assert re.search(r"/oauth/[\w-]+/consent/\d+$", location), location
    return urlsplit(location).path


class FormClient(DjangoClient):
    """Posts dicts as application/x-www-form-urlencoded, as browsers and OAuth clients do
    (Django's test client would send multipart)."""

    def post(self, path, data=None, content_type=None, **extra):
        if isinstance(data, dict) and content_type is None:
            data, content_type = urlencode(data), "application/x-www-form-urlencoded"
        return super().post(path, data, content_type=content_type or "application/octet-stream", **extra)


@pytest.fixture
def client():
    return FormClient()


@pytest.fixture
def emsp(db):
    return make_tenant("emsp", name="OpenID Charge", is_emsp=True, emsp_country_code="DE", emsp_provider_id="8AA")


@pytest.fixture
def driver(emsp):
    user = get_user_model().objects.create_user("driver", password=DRIVER_PASSWORD)
    Membership.objects.create(user=user, tenant=emsp, role=Role.DRIVER)
    return user


@pytest.fixture
def ev_client(emsp):
    """The EV backend: confidential, code flow with refresh, PnC scope."""
    client, secret = add_client(emsp, ClientSpec(
        client_id="example_emsp", name="Example EV", redirect_uris=[REDIRECT],
        grant_types=[GrantType.AUTHORIZATION_CODE, GrantType.REFRESH_TOKEN], scopes=["ccsr", "profile"],
        auth_method="client_secret_basic"))
    client.plain_secret = secret
    return client


@pytest.fixture
def backend_client(emsp):
    """An eMSP backend with client_credentials, authenticating with client_secret_post."""
    client, secret = add_client(emsp, ClientSpec(
        client_id="backend", name="eMSP backend", redirect_uris=[], grant_types=[GrantType.CLIENT_CREDENTIALS],
        scopes=["emsp:read", "emsp:write"], auth_method="client_secret_post"))
    client.plain_secret = secret
    return client
