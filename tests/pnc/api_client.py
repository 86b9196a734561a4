"""An eMSP backend's way to the eMSP REST API: a client of the tenant's authorization
server (client_credentials with private_key_jwt, as eMSP backends use it), its real
token, and requests with it."""
import json
import time
import uuid

from django.test import Client as DjangoClient
from joserfc import jwt
from joserfc.jwk import ECKey

from oauth.client_auth import ASSERTION_TYPE
from oauth.models import GrantType
from oauth.registration import ClientSpec, add_client
from tests.oauth.conftest import FormClient

PUBLIC = "http://127.0.0.1:8000"


class Backend:
    """A private_key_jwt client of `tenant` with `scopes`."""

    def __init__(self, tenant, client_id="emsp-backend", scopes=("emsp:read", "emsp:write")):
        self.tenant = tenant
        self.key = ECKey.generate_key("P-256", parameters={"kid": f"{client_id}-key", "alg": "ES256"})
        jwks = json.dumps({"keys": [self.key.as_dict(private=False)]})
        self.client, _ = add_client(tenant, ClientSpec(
            client_id=client_id, name="eMSP backend", redirect_uris=[], grant_types=[GrantType.CLIENT_CREDENTIALS],
            scopes=list(scopes), auth_method="private_key_jwt", jwks_text=jwks))

    def assertion(self, audience: str | None = None) -> str:
        """A private_key_jwt client assertion for `audience` (the token endpoint; by
        default the Django test client's)."""
        now = int(time.time())
        claims = {"iss": self.client.client_id, "sub": self.client.client_id, "jti": uuid.uuid4().hex,
                  "aud": audience or f"{PUBLIC}/oauth/{self.tenant.slug}/token", "iat": now, "exp": now + 60}
        return jwt.encode({"alg": "ES256", "kid": self.key.kid}, claims, self.key, algorithms=["ES256"])

    def token(self, scope: str | None = None) -> str:
        body = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": self.assertion(), **({"scope": scope} if scope else {})}
        response = FormClient().post(f"/oauth/{self.tenant.slug}/token", body)
        assert response.status_code == 200, response.content
        return response.json()["access_token"]


def api(path: str, tenant: str = "emsp") -> str:
    return f"/api/v1/tenants/{tenant}/pnc/{path}"


def call(method: str, url: str, token: str | None, body=None, **headers):
    extra = {f"HTTP_{k.upper()}": v for k, v in headers.items()}
    if token is not None:
        extra["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    client = DjangoClient()
    if method == "GET":
        return client.get(url, body, **extra)
    return client.post(url, json.dumps(body) if body is not None else b"", content_type="application/json", **extra)
