"""`pnc ca init|show`: the tenant's MO PKI, Root → Sub-CA 1 (pathlen 1) → Sub-CA 2
(pathlen 0), P-256 keys sealed at rest."""
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.management.base import CommandError

from lib.sealing import KeyEncryptionError
from pnc import authorities
from pnc.models import CertificateAuthority
from tests.commands import run_cmd
from tests.factories import make_tenant

PUBLIC = "http://127.0.0.1:8000"


def certs(shown):
    return [x509.load_pem_x509_certificate(row["certificate_pem"].encode()) for row in shown]


def ext(cert, cls):
    return cert.extensions.get_extension_for_class(cls)


def test_init_creates_the_three_level_hierarchy(emsp):
    shown = json.loads(run_cmd("pnc", "ca", "init", "emsp", "--json"))
    assert [row["level"] for row in shown] == ["root", "sub-ca-1", "sub-ca-2"]
    assert [row["issuing"] for row in shown] == [False, False, True]
    root, sub1, sub2 = certs(shown)
    assert root.subject == root.issuer and sub1.issuer == root.subject and sub2.issuer == sub1.subject
    root.verify_directly_issued_by(root)
    sub1.verify_directly_issued_by(root)
    sub2.verify_directly_issued_by(sub1)
    for cert, pathlen in ((root, 2), (sub1, 1), (sub2, 0)):
        constraints = ext(cert, x509.BasicConstraints)
        assert constraints.critical and constraints.value.ca and constraints.value.path_length == pathlen
        usage = ext(cert, x509.KeyUsage)
        assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
        assert not usage.value.digital_signature
        assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
        assert cert.public_key().curve.name == "secp256r1"
        assert cert.signature_hash_algorithm.name == "sha256"
        assert cert.subject.get_attributes_for_oid(x509.oid.NameOID.DOMAIN_COMPONENT)[0].value == "MO"
        assert cert.version == x509.Version.v3
    assert sub1.subject.rfc4514_string().startswith("DC=MO,C=DE,O=OpenID Charge,CN=OpenID Charge MO Sub-CA 1")
    for child, parent in ((sub1, root), (sub2, sub1)):
        assert ext(child, x509.AuthorityKeyIdentifier).value.key_identifier == \
            ext(parent, x509.SubjectKeyIdentifier).value.digest
        assert child.not_valid_after_utc <= parent.not_valid_after_utc
        [point] = ext(child, x509.CRLDistributionPoints).value
        parent_key_id = ext(parent, x509.SubjectKeyIdentifier).value.digest.hex()
        assert point.full_name[0].value == f"{PUBLIC}/pnc/emsp/crl/{parent_key_id}.crl"
        [ocsp] = ext(child, x509.AuthorityInformationAccess).value
        assert ocsp.access_location.value == f"{PUBLIC}/pnc/emsp/ocsp"


def test_private_keys_are_sealed_at_rest_and_bound_to_their_tenant(emsp):
    run_cmd("pnc", "ca", "init", "emsp")
    rows = CertificateAuthority.objects.all()
    assert len(rows) == 3
    assert all(r.private_key_sealed and "PRIVATE KEY" not in r.private_key_sealed for r in rows)
    opened = authorities.open_issuing(emsp)
    assert opened.row.level == "sub-ca-2"
    assert opened.private_key.public_key().public_numbers() == opened.certificate.public_key().public_numbers()
    other = make_tenant("other", is_emsp=True)
    CertificateAuthority.objects.filter(pk=opened.row.pk).update(tenant=other)
    with pytest.raises(KeyEncryptionError):
        authorities.open_issuing(other)


def test_show_prints_public_parts_only(emsp):
    run_cmd("pnc", "ca", "init", "emsp")
    text = run_cmd("pnc", "ca", "show", "emsp", "--pem")
    assert "sub-ca-2" in text and "(issues contract certificates)" in text
    assert "BEGIN CERTIFICATE" in text and "PRIVATE" not in text
    shown = json.loads(run_cmd("pnc", "ca", "show", "emsp", "--json"))
    assert all(row["has_private_key"] for row in shown)
    assert not any("sealed" in key or "private_key" == key for row in shown for key in row)


def test_init_twice_refuses_and_keeps_the_first(emsp):
    first = json.loads(run_cmd("pnc", "ca", "init", "emsp", "--json"))
    with pytest.raises(CommandError, match="already has an MO PKI"):
        run_cmd("pnc", "ca", "init", "emsp")
    assert [r["key_id"] for r in json.loads(run_cmd("pnc", "ca", "show", "emsp", "--json"))] == \
        [r["key_id"] for r in first]


def test_only_an_existing_emsp_gets_a_pki(db):
    make_tenant("cpo")
    with pytest.raises(CommandError, match="not an eMSP"):
        run_cmd("pnc", "ca", "init", "cpo")
    with pytest.raises(CommandError, match="no tenant"):
        run_cmd("pnc", "ca", "init", "nobody")
    with pytest.raises(CommandError, match="no MO PKI"):
        run_cmd("pnc", "ca", "show", "cpo")


def _exactly_100(text: str) -> str:
    assert len(text) >= 100
    return text[:100]


LONG_NAMES = {
    "ascii": _exactly_100("Northern Regional Electric Mobility Charging Services and Roaming Partnership "
                          "Cooperative of the Lowlands"),
    "non-ascii": _exactly_100("Ladesäulen- und Elektromobilitätsgesellschaft Österreich–Ελλάδα–Česká "
                              "republika ąčęėįšųūž 電気自動車充電サービス株式会社"),
}
LABELS = ("MO Root CA", "MO Sub-CA 1", "MO Sub-CA 2", "MO Root CA G2", "MO Sub-CA 1 G2", "MO Sub-CA 2 G2")


def _name_parts(certificate):
    [cn] = certificate.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
    [org] = certificate.subject.get_attributes_for_oid(x509.oid.NameOID.ORGANIZATION_NAME)
    return cn.value, org.value


@pytest.mark.parametrize("kind", LONG_NAMES)
def test_a_100_character_name_in_any_script_gives_cas_within_x509s_limits(db, kind):
    from django.contrib.auth import get_user_model

    from tests.portal.test_oauth_pages import contract_with_certificate

    name = LONG_NAMES[kind]
    tenant = make_tenant("long", name=name, is_emsp=True, emsp_country_code="AT", emsp_provider_id="8AA")
    twin = make_tenant("twin", name=name, is_emsp=True, emsp_country_code="AT", emsp_provider_id="8AB")
    other = make_tenant("other", name=name[:-1] + "!", is_emsp=True, emsp_country_code="AT", emsp_provider_id="8AC")
    run_cmd("pnc", "ca", "init", "long")
    run_cmd("pnc", "ca", "rollover", "long", "--level", "root")
    shown = json.loads(run_cmd("pnc", "ca", "show", "long", "--json"))
    for certificate, label in zip(certs(shown), LABELS, strict=True):
        common_name, organisation = _name_parts(certificate)
        assert len(common_name.encode()) <= 64 and len(organisation.encode()) <= 64
        assert common_name.endswith(f" {label}") and common_name.startswith(name[:20])
        assert organisation.startswith(name[:40]) and organisation != name
    leaf = contract_with_certificate(  # issued by pnc.issuance, with the eMSP's name as O
        tenant, get_user_model().objects.create_user("d"), "1A2B3C4D5")
    [issued] = leaf.certificates.all()
    assert _name_parts(x509.load_pem_x509_certificate(issued.certificate_pem.encode()))[1] == organisation
    # The same name always gives the same subjects; a name that differs only at its end, others.
    run_cmd("pnc", "ca", "init", "twin")
    run_cmd("pnc", "ca", "init", "other")
    subjects = {slug: [row.subject for row in authorities.hierarchy(make)] for slug, make in
                (("long", tenant), ("twin", twin), ("other", other))}
    assert subjects["twin"] == subjects["long"][:3]
    assert set(subjects["other"]).isdisjoint(subjects["long"])


def test_every_change_to_the_hierarchy_is_audited_with_public_facts_only(emsp):
    from csms.models import AuditEvent

    initialised = json.loads(run_cmd("pnc", "ca", "init", "emsp", "--json"))
    staged = json.loads(run_cmd("pnc", "ca", "rollover", "emsp", "--level", "root", "--staged", "--json"))[3:]
    run_cmd("pnc", "ca", "activate", "emsp", staged[2]["key_id"])
    run_cmd("pnc", "ca", "retire", "emsp", initialised[0]["key_id"])
    events = list(AuditEvent.objects.filter(tenant=emsp).order_by("id"))
    assert [(e.action, e.actor, e.outcome) for e in events] == [
        ("ca.initialised", "cli", "issuing"), ("ca.rolled_over", "cli", "staged"), ("ca.activated", "cli", "issuing"),
        ("ca.retired", "cli", "retired"), ("ca.retired", "cli", "retired"), ("ca.retired", "cli", "retired")]
    assert events[0].detail == {row["level"]: f"{row['subject']}, key {row['key_id']}" for row in initialised}
    assert events[1].detail["level"] == "root" and events[1].detail["staged"] is True
    assert events[1].detail["replaces"] == initialised[2]["key_id"]
    assert [events[1].detail[row["level"]] for row in staged] == [f"{row['subject']}, key {row['key_id']}"
                                                                  for row in staged]
    sealed = [row.private_key_sealed for row in CertificateAuthority.objects.exclude(private_key_sealed="")]
    for event in events:
        text = json.dumps(event.detail)
        assert "PRIVATE" not in text and not any(s[:40] in text for s in sealed)
