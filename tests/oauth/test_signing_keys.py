"""Per-tenant signing keys: sealed at rest, published in the JWKS, rotated safely."""
import io
import json
from datetime import timedelta

import pytest
from django.core.management import CommandError
from django.utils import timezone
from joserfc import jwt
from joserfc.jwk import KeySet

from oauth import signing_keys
from oauth.models import SigningKey
from tests.commands import run_cmd
from tests.factories import make_tenant

pytestmark = pytest.mark.django_db
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi"}



@pytest.fixture
def emsp():
    return make_tenant("emsp", is_emsp=True)


def test_jwks_publishes_a_public_key_that_verifies_our_tokens(client, emsp):
    response = client.get("/oauth/emsp/jwks")
    assert response.status_code == 200 and "max-age" in response["Cache-Control"]
    [published] = response.json()["keys"]
    assert published["alg"] == "ES256" and published["use"] == "sig" and published["kty"] == "EC"
    assert not PRIVATE_MEMBERS & set(published)
    key = signing_keys.active_key(emsp)
    token = jwt.encode({"alg": key.alg, "kid": key.kid}, {"sub": "x"}, signing_keys.private_jwk(key),
                       algorithms=[key.alg])
    claims = jwt.decode(token, KeySet.import_key_set(response.json()), algorithms=["ES256"]).claims
    assert claims == {"sub": "x"}


def test_private_key_is_sealed_at_rest_and_bound_to_its_row(emsp):
    key = signing_keys.active_key(emsp)
    assert "PRIVATE KEY" not in key.private_key_encrypted
    assert signing_keys.private_jwk(key).as_dict(private=True)["d"]
    other = make_tenant("other", is_emsp=True)
    copied = SigningKey(tenant=other, kid=key.kid, alg=key.alg, public_jwk=key.public_jwk,
                        private_key_encrypted=key.private_key_encrypted)
    with pytest.raises(signing_keys.KeyEncryptionError):
        signing_keys.private_jwk(copied)


def test_kek_from_the_environment_is_used_and_checked(emsp, settings):
    import base64
    import os

    settings.OAUTH_KEY_ENCRYPTION_KEY = base64.b64encode(os.urandom(32)).decode()
    key = signing_keys.rotate(emsp, at_once=True)
    assert signing_keys.private_jwk(key)
    settings.OAUTH_KEY_ENCRYPTION_KEY = base64.b64encode(os.urandom(32)).decode()
    with pytest.raises(signing_keys.KeyEncryptionError, match="does not open"):
        signing_keys.private_jwk(key)
    settings.OAUTH_KEY_ENCRYPTION_KEY = base64.b64encode(b"short").decode()
    with pytest.raises(signing_keys.KeyEncryptionError, match="32 bytes"):
        signing_keys.rotate(emsp, at_once=True)


def test_rotation_keeps_the_old_key_published_until_its_tokens_expire(client, emsp):
    first = signing_keys.active_key(emsp)
    second = signing_keys.rotate(emsp, "PS256", at_once=True)
    kids = [k["kid"] for k in client.get("/oauth/emsp/jwks").json()["keys"]]
    assert set(kids) == {first.kid, second.kid}
    first.refresh_from_db()
    assert first.state == "retiring"
    assert first.publish_until - timezone.now() > timedelta(minutes=59)
    SigningKey.objects.filter(pk=first.pk).update(publish_until=timezone.now() - timedelta(seconds=1))
    assert [k["kid"] for k in client.get("/oauth/emsp/jwks").json()["keys"]] == [second.kid]
    assert SigningKey.objects.get(pk=first.pk).state == "retired"
    rsa = client.get("/oauth/emsp/jwks").json()["keys"][0]
    assert rsa["kty"] == "RSA" and rsa["alg"] == "PS256" and not PRIVATE_MEMBERS & set(rsa)
    import base64
    n = base64.urlsafe_b64decode(rsa["n"] + "=" * (-len(rsa["n"]) % 4))
    assert len(n) * 8 >= 2048


def test_one_active_key_per_tenant(emsp):
    for _ in range(3):
        signing_keys.rotate(emsp, at_once=True)
    assert SigningKey.objects.filter(tenant=emsp, state="active").count() == 1


def test_tenants_without_an_authorization_server_have_no_jwks(client):
    make_tenant("cpo", operates_charging_stations=False)  # a tenant of no kind yet
    assert client.get("/oauth/cpo/jwks").status_code == 404
    assert client.get("/oauth/nope/jwks").status_code == 404


def test_keys_commands(emsp):
    rotated = json.loads(run_cmd("oauth", "keys", "rotate", "emsp", "--alg", "PS256", "--now", "--json"))
    assert rotated["alg"] == "PS256" and rotated["state"] == "active"
    ahead = json.loads(run_cmd("oauth", "keys", "rotate", "emsp", "--json"))
    assert ahead["state"] == "next" and ahead["signs_from"] > rotated["created_at"]
    with pytest.raises(CommandError, match="already published"):
        run_cmd("oauth", "keys", "rotate", "emsp")
    listed = json.loads(run_cmd("oauth", "keys", "list", "emsp", "--json"))
    assert [k["state"] for k in listed] == ["next", "active"]
    assert "signs from" in run_cmd("oauth", "keys", "list", "emsp")
    assert "BEGIN" not in json.dumps(listed)
    make_tenant("cpo", operates_charging_stations=False)  # a tenant of no kind yet
    with pytest.raises(CommandError, match="no authorization server"):
        run_cmd("oauth", "keys", "rotate", "cpo")


def test_user_add_reads_the_password_from_stdin(monkeypatch):
    from django.contrib.auth import authenticate

    from tenants.models import Membership

    make_tenant("acme")
    monkeypatch.setattr("sys.stdin", io.StringIO("correct-horse-battery\n"))
    out = json.loads(run_cmd("user", "add", "acme", "alice", "--role", "operator", "--password-stdin", "--json"))
    assert out == {"username": "alice", "tenant": "acme", "role": "operator", "created": True}
    assert authenticate(username="alice", password="correct-horse-battery")
    assert Membership.objects.get(user__username="alice").role == "operator"
    monkeypatch.setattr("sys.stdin", io.StringIO("password\n"))
    with pytest.raises(CommandError, match="password refused"):
        run_cmd("user", "add", "acme", "bob", "--role", "viewer", "--password-stdin")
    with pytest.raises(CommandError, match="needs a password"):
        run_cmd("user", "add", "acme", "carol", "--role", "viewer")
    # an existing user gets a role in another tenant without a new password
    make_tenant("other")
    run_cmd("user", "add", "other", "alice", "--role", "viewer")
    assert Membership.objects.filter(user__username="alice").count() == 2


def test_a_rotation_publishes_the_next_key_before_it_signs(client, emsp, settings):
    """Relying parties cache the JWKS: the next key is in it a day before it signs, the
    current one signs until then, and the periodic task makes the switch."""
    from oauth.tasks import promote_next_signing_keys

    current = signing_keys.active_key(emsp)
    upcoming = signing_keys.rotate(emsp)
    assert upcoming.state == "next"
    assert upcoming.signs_from - timezone.now() > timedelta(hours=23)
    kids = [k["kid"] for k in client.get("/oauth/emsp/jwks").json()["keys"]]
    assert set(kids) == {current.kid, upcoming.kid}  # published now
    assert signing_keys.active_key(emsp).kid == current.kid  # the current key still signs
    assert promote_next_signing_keys.apply().get() == 0  # not yet its time
    SigningKey.objects.filter(pk=upcoming.pk).update(signs_from=timezone.now() - timedelta(seconds=1))
    assert promote_next_signing_keys.apply().get() == 1
    assert signing_keys.active_key(emsp).kid == upcoming.kid
    current.refresh_from_db()
    assert current.state == "retiring"  # still published for the tokens it signed
    assert set(k["kid"] for k in client.get("/oauth/emsp/jwks").json()["keys"]) == {current.kid, upcoming.kid}


def test_at_once_uses_the_published_next_key_and_another_algorithm_discards_it(emsp):
    current = signing_keys.active_key(emsp)
    upcoming = signing_keys.rotate(emsp)
    used = signing_keys.rotate(emsp, at_once=True)  # a compromise: the published one, now
    assert used.pk == upcoming.pk and signing_keys.active_key(emsp).kid == upcoming.kid
    assert SigningKey.objects.get(pk=current.pk).state == "retiring"
    again = signing_keys.rotate(emsp)
    fresh = signing_keys.rotate(emsp, "PS256", at_once=True)
    assert fresh.alg == "PS256" and signing_keys.active_key(emsp).kid == fresh.kid
    assert SigningKey.objects.get(pk=again.pk).state == "retired"  # never signed: not published
