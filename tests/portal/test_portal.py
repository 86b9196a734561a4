"""The portal shell: health check, sign-in, dashboard, demo seeding."""
import base64
import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from csms.auth.keys import verify_key
from csms.models import Station
from pnc.models import CertificateAuthority

pytestmark = pytest.mark.django_db


def test_healthz_reports_database_and_channel_layer(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "channel_layer": "ok", "server": "ok"}
    assert response["Cache-Control"] == "no-store"


def test_healthz_is_503_while_the_process_drains_and_livez_stays_200(client, monkeypatch):
    from csms import leaving

    monkeypatch.setattr(leaving, "_leaving", True)
    ready, alive = client.get("/healthz"), client.get("/livez")
    assert ready.status_code == 503
    assert ready.json() == {"database": "ok", "channel_layer": "ok", "server": "draining"}
    assert (alive.status_code, alive.json()) == (200, {"server": "draining"})


def test_livez_checks_nothing_but_the_process(client, unreachable_channel_layer):
    response = client.get("/livez")
    assert (response.status_code, response.json()) == (200, {"server": "ok"})
    assert response["Cache-Control"] == "no-store"


@pytest.fixture
def unreachable_channel_layer(settings):
    from channels.layers import channel_layers

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                                           "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]}}}
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


def test_healthz_is_503_when_the_channel_layer_fails(client, unreachable_channel_layer):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"database": "ok", "channel_layer": "failed", "server": "ok"}


def test_demo_seeds_working_credentials_and_is_idempotent():
    out = io.StringIO()
    call_command("demo", stdout=out)
    call_command("demo", stdout=io.StringIO())
    al1000 = Station.objects.get(tenant__slug="demo", identity="AL1000")
    assert verify_key(bytes.fromhex("0001020304050607FFFFFFFFFFFFFFFFFFFFFFFF"), al1000.credential.current_hash)
    assert Station.objects.filter(tenant__slug="demo").count() == 3
    text = out.getvalue()
    assert "/ocpp/demo/" in text and "/healthz" in text and "chargegate-demo" in text
    assert get_user_model().objects.get(username="admin").check_password("chargegate-demo")
    assert "/oauth/demo" in text and "chargegate-demo-client-secret" in text
    assert "pnc ev-register http://127.0.0.1:8000/oauth/demo --client-id demo-ev" in text and "/api/docs/" in text
    assert CertificateAuthority.objects.filter(tenant__slug="demo").count() == 3  # once, however often seeded


def demo_token(client, client_id: str, scope: str) -> str:
    from urllib.parse import urlencode
    call_command("demo", stdout=io.StringIO())
    token = client.post("/oauth/demo/token", urlencode({"grant_type": "client_credentials", "scope": scope}),
                        content_type="application/x-www-form-urlencoded",
                        HTTP_AUTHORIZATION="Basic " + base64.b64encode(
                            f"{client_id}:chargegate-demo-client-secret".encode()).decode())
    assert token.status_code == 200, token.content
    return token.json()["access_token"]


def test_demo_oauth_client_reaches_the_osdm_endpoint(client):
    identity = client.get("/api/v1/tenants/demo/osdm/identity",
                          HTTP_AUTHORIZATION=f"Bearer {demo_token(client, 'demo-osdm', 'uic_osdm')}")
    assert identity.status_code == 200 and identity.json()["client_id"] == "demo-osdm"


def test_demo_emsp_backend_reaches_the_emsp_api(client):
    """The README's eMSP API example: demo-emsp's own token lists the demo contracts."""
    listed = client.get("/api/v1/tenants/demo/pnc/contracts/?state=certificate_issued",
                        HTTP_AUTHORIZATION=f"Bearer {demo_token(client, 'demo-emsp', 'emsp:read emsp:write')}")
    assert listed.status_code == 200 and listed.json()["results"] == []


def test_a_portal_password_is_stored_as_argon2id_and_signs_in(client):
    user = get_user_model().objects.create_user("olga", password="a long passphrase for olga")
    assert user.password.startswith("argon2$argon2id$")
    response = client.post("/login/", {"username": "olga", "password": "a long passphrase for olga"})
    assert response.status_code == 302 and client.session["_auth_user_id"] == str(user.pk)
