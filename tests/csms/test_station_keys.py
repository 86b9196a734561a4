"""Station public keys for Bearer (`station key add|list|retire`, and
/api/v1/tenants/<t>/stations/<id>/keys/): JWK or PEM, EC P-256, Ed25519 or RSA of 2048
bits or more, never a private key; stored as jwt-bearer trust records of the tenant's
stations client; another tenant's caller sees nothing."""
import json

import pytest
from django.core.management.base import CommandError
from joserfc.jwk import ECKey, OKPKey, RSAKey

from csms.models import AuditEvent
from oauth.models import Client, TrustedKey
from tenants.models import Role
from tests.commands import run_cmd
from tests.csms.test_api import client_for
from tests.factories import make_station, make_tenant

pytestmark = pytest.mark.django_db
EC = ECKey.generate_key("P-256", parameters={"kid": "ec-1"})


@pytest.fixture
def acme():
    tenant = make_tenant("acme")
    make_station(tenant, "CP1")
    return tenant


def pem_file(tmp_path, key, private=False):
    path = tmp_path / "key.pem"
    path.write_bytes(key.as_pem(private=private))
    return str(path)


def test_a_pem_key_becomes_the_stations_trust_record(acme, client, tmp_path):
    out = run_cmd("station", "key", "add", "acme", "CP1", pem_file(tmp_path, EC), "--kid", "ec-1")
    assert out.startswith("key ec-1\tEC P-256\tES256") and "may not use Bearer yet" in out
    record = TrustedKey.objects.get()
    assert (record.issuer, record.subject, record.kid, record.algorithms) == ("CP1", "CP1", "ec-1", ["ES256"])
    assert record.client.client_id == "ocpp-stations" and record.client.token_endpoint_auth_method == "none"
    assert "d" not in record.public_jwk
    assert client.get("/oauth/acme/jwks").status_code == 200
    assert AuditEvent.objects.filter(action="key.added", outcome="ec-1").exists()
    listed = json.loads(run_cmd("station", "key", "list", "acme", "CP1", "--json"))
    assert [(k["kid"], k["active"]) for k in listed] == [("ec-1", True)]


def test_jwk_ed25519_and_rsa_keys_and_their_default_kids(acme, tmp_path):
    ed = OKPKey.generate_key("Ed25519")
    jwk = tmp_path / "ed.jwk"
    jwk.write_text(json.dumps(ed.as_dict(private=False)))
    shown = json.loads(run_cmd("station", "key", "add", "acme", "CP1", str(jwk), "--json"))
    assert shown["kid"] == ed.thumbprint() and shown["algorithms"] == ["EdDSA", "Ed25519"]
    rsa = RSAKey.generate_key(2048)
    shown = json.loads(run_cmd("station", "key", "add", "acme", "CP1", pem_file(tmp_path, rsa), "--json"))
    assert shown["algorithms"] == ["RS256", "PS256"]


@pytest.mark.parametrize("key, private, message", [
    (ECKey.generate_key("P-256"), True, "private key"),
    (ECKey.generate_key("P-384"), False, "EC P-256, Ed25519 or RSA"),
    (OKPKey.generate_key("Ed448"), False, "EC P-256, Ed25519 or RSA"),
])
def test_private_and_unsupported_keys_are_refused(acme, tmp_path, key, private, message):
    with pytest.raises(CommandError, match=message):
        run_cmd("station", "key", "add", "acme", "CP1", pem_file(tmp_path, key, private))
    assert not TrustedKey.objects.exists()


def test_a_kid_is_once_per_station_and_retiring_stops_it(acme, tmp_path):
    run_cmd("station", "key", "add", "acme", "CP1", pem_file(tmp_path, EC), "--kid", "ec-1")
    with pytest.raises(CommandError, match="already has a key ec-1"):
        run_cmd("station", "key", "add", "acme", "CP1", pem_file(tmp_path, EC), "--kid", "ec-1")
    assert "retired; 0 access token(s) revoked" in run_cmd("station", "key", "retire", "acme", "CP1", "ec-1")
    assert TrustedKey.objects.get().retired_at is not None
    with pytest.raises(CommandError, match="has no key"):
        run_cmd("station", "key", "retire", "acme", "CP1", "nope")


def test_removing_a_station_retires_its_keys_so_a_new_one_of_that_name_inherits_none(acme, tmp_path):
    run_cmd("station", "key", "add", "acme", "CP1", pem_file(tmp_path, EC), "--kid", "ec-1")
    run_cmd("station", "remove", "acme", "CP1", "--yes")
    assert TrustedKey.objects.get().retired_at is not None
    make_station(acme, "CP1")
    assert json.loads(run_cmd("station", "key", "list", "acme", "CP1", "--json"))[0]["active"] is False


def test_the_stations_client_id_is_reserved(acme):
    from oauth.registration import ClientSpec, RegistrationError, add_client
    with pytest.raises(RegistrationError, match="reserved"):
        add_client(make_tenant("emsp", is_emsp=True), ClientSpec(
            client_id="ocpp-stations", name="", redirect_uris=[], grant_types=["client_credentials"],
            scopes=[], auth_method="client_secret_basic"))


def test_rest_keys_by_role_and_tenant(acme):
    viewer, operator = client_for("v", acme), client_for("o", acme, Role.OPERATOR)
    outsider = client_for("x", make_tenant("other"), Role.ADMIN)
    url = "/api/v1/tenants/acme/stations/CP1/keys/"
    body = {"public_key": json.dumps(EC.as_dict(private=False)), "kid": "ec-1"}
    assert viewer.post(url, body, format="json").status_code == 403
    assert outsider.get(url).status_code == 404
    created = operator.post(url, body, format="json")
    assert created.status_code == 201 and created.json()["kid"] == "ec-1"
    private = {"public_key": json.dumps(EC.as_dict(private=True)), "kid": "ec-2"}
    refused = operator.post(url, private, format="json")
    assert refused.status_code == 400 and "private key" in refused.json()["detail"]
    assert [k["kid"] for k in viewer.get(url).json()] == ["ec-1"]
    retired = operator.delete(url + "ec-1/")
    assert retired.status_code == 200 and retired.json()["active"] is False
    assert operator.delete(url + "ec-9/").status_code == 404
    assert Client.objects.filter(client_id="ocpp-stations").count() == 1
