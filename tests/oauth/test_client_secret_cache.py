"""A client secret verified a moment ago is recognised without another argon2 run
(lib/verified.py), so a backend asking for tokens is neither slowed by the hash nor
refused when a flood of wrong secrets fills the hashing gate; a wrong secret still
costs the full check, and a changed secret is never taken from memory."""
import pytest
from django.contrib.auth import hashers

from oauth import client_auth
from oauth.models import Client, GrantType
from oauth.registration import ClientSpec, add_client
from tests.oauth.conftest import basic


@pytest.fixture
def backend(emsp):
    client, secret = add_client(emsp, ClientSpec(
        client_id="backend", name="", redirect_uris=[], grant_types=[GrantType.CLIENT_CREDENTIALS],
        scopes=["profile"], auth_method="client_secret_basic"))
    return client, secret


@pytest.fixture
def argon2_runs(monkeypatch):
    runs = []
    real = hashers.check_password

    def counting(*args, **kwargs):
        runs.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(client_auth, "check_password", counting)
    return runs


def token(client, secret, client_id="backend"):
    return client.post("/oauth/emsp/token", {"grant_type": "client_credentials", "scope": "profile"},
                       HTTP_AUTHORIZATION=basic(client_id, secret))


def test_the_second_request_with_the_right_secret_runs_no_hash(client, backend, argon2_runs):
    _, secret = backend
    assert token(client, secret).status_code == 200
    assert token(client, secret).status_code == 200
    assert len(argon2_runs) == 1


def test_a_wrong_secret_always_runs_the_hash_and_fails(client, backend, argon2_runs):
    _, secret = backend
    assert token(client, secret).status_code == 200
    for guess in (secret + "x", secret[:-1], ""):
        assert token(client, guess).status_code == 401
    assert len(argon2_runs) == 1 + 3


def test_a_replaced_secret_is_not_taken_from_memory(client, backend, argon2_runs):
    record, secret = backend
    assert token(client, secret).status_code == 200
    Client.objects.filter(pk=record.pk).update(client_secret=client_auth.hash_secret("a-new-secret-of-length-40-chars-xxxxxxxx"))
    assert token(client, secret).status_code == 401
    assert token(client, "a-new-secret-of-length-40-chars-xxxxxxxx").status_code == 200
