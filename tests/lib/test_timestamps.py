"""One timestamp format for machines: CLI --json, the REST API and trust records alike."""
import json
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.test import Client

from lib.timestamps import rfc3339
from tests.commands import run_cmd
from tests.factories import AL1000_KEY, make_station, make_tenant

RFC3339_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def test_rfc3339_is_utc_with_z_to_the_second():
    east = timezone(timedelta(hours=5, minutes=30))
    assert rfc3339(datetime(2027, 1, 1, 5, 30, 0, 123456, tzinfo=east)) == "2027-01-01T00:00:00Z"
    assert rfc3339(datetime(1, 1, 3, tzinfo=UTC)) == "0001-01-03T00:00:00Z"
    assert rfc3339(None) is None


def stamps(value):
    if isinstance(value, dict):
        return [s for v in value.values() for s in stamps(v)]
    if isinstance(value, list):
        return [s for v in value for s in stamps(v)]
    return [value] if isinstance(value, str) and re.match(r"^\d{4}-\d\d-\d\d[T ]", value) else []


@pytest.mark.django_db
def test_cli_api_and_trust_records_write_the_same_format(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from django.contrib.auth import get_user_model

    from tenants.models import Membership, Role

    tenant = make_tenant("acme")
    make_station(tenant, "CP1", AL1000_KEY)
    run_cmd("idtag", "add", "acme", "TAG1", "--expires", "2027-01-01T01:00:00+01:00")
    found = stamps(json.loads(run_cmd("station", "show", "acme", "CP1", "--json")))
    found += stamps(json.loads(run_cmd("rotation", "status", "acme", "CP1", "--json")))
    found += stamps(json.loads(run_cmd("idtag", "list", "acme", "--json")))
    assert "2027-01-01T00:00:00Z" in found

    run_cmd("tenant", "add", "rail", "--name", "Rail", "--osdm", "--no-stations")
    run_cmd("oauth", "client", "add", "rail", "consumer", "--grant", "client_credentials", "--scope", "uic_osdm")
    pem = tmp_path / "consumer.pem"
    pem.write_bytes(ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    run_cmd("oauth", "trust", "add", "rail", "consumer", "--issuer", "https://c.example/", "--subject", "S",
            "--kid", "k1", "--public-key", str(pem), "--alg", "ES256", "--scope", "uic_osdm",
            "--valid-until", "2030-01-01T00:00:00")
    trust = stamps(json.loads(run_cmd("oauth", "trust", "list", "rail", "--json")))
    assert "2030-01-01T00:00:00Z" in trust
    found += trust

    user = get_user_model().objects.create_user("viewer", password="pw-for-the-test-only")
    Membership.objects.create(user=user, tenant=tenant, role=Role.VIEWER)
    client = Client()
    client.force_login(user)
    api = client.get("/api/v1/tenants/acme/stations/CP1/").json()
    found += stamps(api)
    assert stamps(api)
    assert found and all(RFC3339_Z.match(s) for s in found), found
