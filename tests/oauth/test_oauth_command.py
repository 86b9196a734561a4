"""`manage.py oauth client|trust|keys`: the scripting interface of the authorization server."""
import io
import json

import pytest
from django.core.management import CommandError, call_command
from joserfc.jwk import ECKey, RSAKey

from oauth.client_auth import ClientSecretHasher
from oauth.models import Client, TrustedKey
from tests.commands import run_cmd
from tests.factories import make_tenant

pytestmark = pytest.mark.django_db



@pytest.fixture
def rail():
    return make_tenant("rail", is_osdm_provider=True)


def test_client_add_prints_the_secret_once_and_stores_its_hash(rail):
    out = json.loads(run_cmd("oauth", "client", "add", "rail", "ev", "--grant", "authorization_code",
                             "--grant", "refresh_token", "--redirect-uri", "https://app.example/cb",
                             "--scope", "ccsr", "--require-par", "--detail-type", "pnc_contract_request", "--json"))
    secret = out["client_secret"]
    assert len(secret) >= 64 and out["require_par"] is True
    assert out["authorization_details_types"] == ["pnc_contract_request"]
    stored = Client.objects.get(client_id="ev")
    assert secret not in stored.client_secret and ClientSecretHasher().verify(secret, stored.client_secret)
    listed = json.loads(run_cmd("oauth", "client", "list", "rail", "--json"))
    assert listed == [{k: v for k, v in out.items() if k != "client_secret"}]
    assert secret not in run_cmd("oauth", "client", "list", "rail")


def test_client_add_with_a_jwks_file_creates_trust_records(rail, tmp_path):
    key = RSAKey.generate_key(2048)
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**key.as_dict(private=False), "kid": "k1", "alg": "PS256"}]}))
    out = run_cmd("oauth", "client", "add", "rail", "osdm", "--grant", "client_credentials", "--scope",
                  "uic_osdm", "--auth-method", "private_key_jwt", "--jwks", str(jwks))
    assert "secret" not in out
    record = TrustedKey.objects.get()
    assert (record.issuer, record.subject, record.kid, record.algorithms) == ("osdm", "osdm", "k1", ["PS256"])
    assert "d" not in record.public_jwk


@pytest.mark.parametrize("args, message", [
    (["--grant", "password"], "invalid choice"),
    (["--grant", "authorization_code"], "needs at least one redirect URI"),
    (["--grant", "authorization_code", "--redirect-uri", "http://evil.example/cb"], "127.0.0.1"),
    (["--grant", "authorization_code", "--redirect-uri", "http://localhost:8080/cb"], "127.0.0.1"),
    (["--grant", "authorization_code", "--redirect-uri", "javascript:alert(1)"], "not allowed"),
    (["--grant", "authorization_code", "--redirect-uri", "https://a.example/cb#frag"], "fragment"),
    (["--grant", "client_credentials", "--auth-method", "none"], "public client"),
    (["--grant", "client_credentials", "--auth-method", "private_key_jwt"], "needs --jwks"),
    (["--grant", "authorization_code", "--redirect-uri", "https://a.example/cb", "--detail-type", "payment"],
     "unknown authorization details types: payment"),
    (["--grant", "client_credentials", "--detail-type", "pnc_contract_request"], "only for the authorization code"),
])
def test_client_add_refuses_bad_registrations(rail, args, message):
    with pytest.raises((CommandError, SystemExit)) as raised:
        call_command("oauth", "client", "add", "rail", "c1", *args, stdout=io.StringIO(), stderr=io.StringIO())
    if isinstance(raised.value, CommandError):
        assert message in str(raised.value)
    assert not Client.objects.exists()


def test_trust_add_list_retire(rail, tmp_path):
    run_cmd("oauth", "client", "add", "rail", "consumer", "--grant", "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "--scope", "uic_osdm")
    key = ECKey.generate_key("P-256")
    pem = tmp_path / "consumer.pem"
    pem.write_bytes(key.as_pem(private=False))
    added = json.loads(run_cmd("oauth", "trust", "add", "rail", "consumer", "--issuer", "https://osdm-consumer.eu/",
                               "--subject", "UIC_OSDM_1080_4", "--kid", "1234567890", "--public-key", str(pem),
                               "--alg", "ES256", "--scope", "uic_osdm", "--valid-until", "2030-01-01T00:00:00Z",
                               "--json"))
    assert added["kid"] == "1234567890" and added["algorithms"] == ["ES256"]
    assert "1234567890" in run_cmd("oauth", "trust", "list", "rail")
    run_cmd("oauth", "trust", "retire", "rail", "https://osdm-consumer.eu/", "1234567890")
    assert TrustedKey.objects.get().retired_at is not None
    assert "retired" in run_cmd("oauth", "trust", "list", "rail")


@pytest.mark.parametrize("make_key, algs, message", [
    (lambda: ECKey.generate_key("P-256"), ["RS256"], "cannot be used with a EC key"),
    (lambda: ECKey.generate_key("P-384"), ["ES256"], "curve"),
    (lambda: RSAKey.generate_key(2048), ["HS256"], "cannot be used"),
    (lambda: RSAKey.generate_key(2048), ["none"], "cannot be used"),
])
def test_trust_add_refuses_unsafe_algorithms(rail, tmp_path, make_key, algs, message):
    run_cmd("oauth", "client", "add", "rail", "consumer", "--grant", "client_credentials", "--scope", "uic_osdm")
    pem = tmp_path / "k.pem"
    pem.write_bytes(make_key().as_pem(private=False))
    args = [x for a in algs for x in ("--alg", a)]
    with pytest.raises(CommandError, match=message):
        run_cmd("oauth", "trust", "add", "rail", "consumer", "--issuer", "i", "--subject", "s", "--kid", "k",
                "--public-key", str(pem), *args)


def test_trust_add_refuses_private_keys(rail, tmp_path):
    run_cmd("oauth", "client", "add", "rail", "consumer", "--grant", "client_credentials")
    pem = tmp_path / "private.pem"
    pem.write_bytes(ECKey.generate_key("P-256").as_pem(private=True))
    with pytest.raises(CommandError, match="private key"):
        run_cmd("oauth", "trust", "add", "rail", "consumer", "--issuer", "i", "--subject", "s", "--kid", "k",
                "--public-key", str(pem), "--alg", "ES256")
    assert not TrustedKey.objects.exists()


def test_tenants_without_an_authorization_server_are_refused(db):
    make_tenant("cpo", operates_charging_stations=False)  # a tenant of no kind yet
    with pytest.raises(CommandError, match="no authorization server"):
        run_cmd("oauth", "client", "list", "cpo")


@pytest.mark.parametrize("client_id", ["12345", "has space", "a" * 101, "semi;colon", "trailing\n"])
def test_client_ids_are_url_safe_names_with_a_letter(rail, client_id):
    with pytest.raises(CommandError, match="client id"):
        run_cmd("oauth", "client", "add", "rail", client_id, "--grant", "client_credentials")


def test_client_rotate_secret_prints_a_new_secret_once_and_the_old_one_stops_matching(rail):
    old = json.loads(run_cmd("oauth", "client", "add", "rail", "backend", "--grant", "client_credentials",
                             "--json"))["client_secret"]
    new = json.loads(run_cmd("oauth", "client", "rotate-secret", "rail", "backend", "--json"))["client_secret"]
    stored = Client.objects.get(client_id="backend").client_secret
    assert new != old and ClientSecretHasher().verify(new, stored) and not ClientSecretHasher().verify(old, stored)
    run_cmd("oauth", "client", "add", "rail", "app", "--grant", "authorization_code",
            "--redirect-uri", "https://app.example/cb", "--auth-method", "none")
    with pytest.raises(CommandError, match="no secret"):
        run_cmd("oauth", "client", "rotate-secret", "rail", "app")


def test_trust_rollover_overlaps_the_old_key_until_the_given_time(rail, tmp_path):
    run_cmd("oauth", "client", "add", "rail", "consumer", "--grant", "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "--scope", "uic_osdm")
    for name in ("old", "new"):
        (tmp_path / f"{name}.pem").write_bytes(ECKey.generate_key("P-256").as_pem(private=False))
    run_cmd("oauth", "trust", "add", "rail", "consumer", "--issuer", "https://c.example/", "--subject", "S1",
            "--kid", "k1", "--public-key", str(tmp_path / "old.pem"), "--alg", "ES256", "--scope", "uic_osdm")
    fresh = json.loads(run_cmd("oauth", "trust", "rollover", "rail", "https://c.example/", "k1", "--new-kid", "k2",
                               "--public-key", str(tmp_path / "new.pem"), "--alg", "ES256",
                               "--overlap-until", "2099-01-01T00:00:00Z", "--json"))
    assert fresh["kid"] == "k2" and fresh["subject"] == "S1" and fresh["scopes"] == ["uic_osdm"]
    assert fresh["valid_from"] is not None
    assert TrustedKey.objects.get(kid="k1").valid_until.year == 2099
    with pytest.raises(CommandError, match="future"):
        run_cmd("oauth", "trust", "rollover", "rail", "https://c.example/", "k2", "--new-kid", "k3",
                "--public-key", str(tmp_path / "old.pem"), "--alg", "ES256", "--overlap-until", "2000-01-01")
