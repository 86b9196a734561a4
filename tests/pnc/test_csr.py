"""`POST /pnc/<tenant>/csr`: an access token from the tenant's AS carrying an approved
pnc_contract_request, and a PKCS#10 request, give the contract certificate — once.
Every certificate is checked with `cryptography`, every error's problem+json too."""
import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, rsa
from cryptography.x509.oid import ExtensionOID, NameOID
from cryptography.x509.verification import ExtensionPolicy, PolicyBuilder, Store
from django.test import Client as DjangoClient
from django.utils import timezone
from joserfc import jwt
from joserfc.jwk import ECKey

from csms.models import AuditEvent
from lib import jose
from oauth import signing_keys, tokens
from pnc import issuance, profile
from pnc.models import Contract, IssuedCertificate
from tests.factories import make_tenant
from tests.oauth.conftest import FormClient, basic
from tests.pnc.conftest import access_token, near_detail

URL = "/pnc/emsp/csr"
PUBLIC = "http://127.0.0.1:8000"
REALM = f'Bearer realm="{PUBLIC}/oauth/emsp"'
REFERENCE_CSR = (Path(__file__).parent / "reference_ev_csr.pem").read_bytes()


def csr_for(key, common_name="DE-8AA-1A2B3C4D5-9", encoding=serialization.Encoding.PEM) -> bytes:
    """A CSR as an EV makes it, asking for a subject of its own choosing."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CarCompany")])
    algorithm = None if isinstance(key, ed448.Ed448PrivateKey) else hashes.SHA256()
    request = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, algorithm)
    return request.public_bytes(encoding)


def p256():
    return ec.generate_private_key(ec.SECP256R1())


def post(body: bytes, token: str | None = None, content_type="application/pkcs10", scheme="Bearer", **headers):
    extra = {f"HTTP_{k.upper()}": v for k, v in headers.items()}
    if token is not None:
        extra["HTTP_AUTHORIZATION"] = f"{scheme} {token}"
    return DjangoClient().post(URL, body, content_type=content_type, **extra)


def assert_problem(response, status, title=None):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["type"] == "about:blank" and body["title"]
    if title:
        assert body["title"] == title
    return body


@pytest.fixture
def token(browser, ev_client, pki):
    return access_token(browser, ev_client, near_detail())


def chain_of(pem_text: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem_text.encode())


def verify_chain(leaf, intermediates, *roots):
    """RFC 5280 path validation by cryptography against the trust anchors `roots`, with
    the contract profile's own extensions (no web PKI EKU rules for the leaf)."""
    verifier = (PolicyBuilder().store(Store(list(roots))).time(datetime.now(UTC) + timedelta(minutes=1))
                .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(),
                                    ee_policy=ExtensionPolicy.permit_all())
                .build_client_verifier())
    return verifier.verify(leaf, intermediates)


# --- the certificate -------------------------------------------------------------------

def test_issues_the_contract_certificate_with_the_emsp_subject_and_profile(token, pki, emsp):
    key = p256()
    response = post(csr_for(key), token)
    assert response.status_code == 201, response.content
    assert response["Content-Type"] == "application/x-x509-user-cert"
    [leaf] = chain_of(response.content.decode())
    contract = Contract.objects.get()
    root, sub1, sub2 = (x509.load_pem_x509_certificate(ca.certificate_pem.encode()) for ca in pki)

    assert leaf.version == x509.Version.v3
    assert leaf.public_key().public_numbers() == key.public_key().public_numbers()
    assert leaf.subject.rfc4514_string() == f"DC=MO,C=DE,O=OpenID Charge,CN={contract.emaid}"
    assert leaf.issuer == sub2.subject
    assert leaf.signature_hash_algorithm.name == "sha256"
    assert {e.oid for e in leaf.extensions} == {
        ExtensionOID.BASIC_CONSTRAINTS, ExtensionOID.KEY_USAGE, ExtensionOID.SUBJECT_KEY_IDENTIFIER,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER, ExtensionOID.CRL_DISTRIBUTION_POINTS,
        ExtensionOID.AUTHORITY_INFORMATION_ACCESS}
    constraints = leaf.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca is False
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value == x509.KeyUsage(
        digital_signature=True, content_commitment=True, key_encipherment=True, data_encipherment=False,
        key_agreement=True, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False)
    ski = leaf.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    sub2_ski = sub2.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert aki.key_identifier == sub2_ski
    [point] = leaf.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert point.full_name[0].value == f"{PUBLIC}/pnc/emsp/crl/{sub2_ski.hex()}.crl"
    [ocsp] = leaf.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert ocsp.access_method == x509.oid.AuthorityInformationAccessOID.OCSP
    assert ocsp.access_location.value == f"{PUBLIC}/pnc/emsp/ocsp"

    assert leaf.not_valid_after_utc == contract.ends_at  # the contract's end, within 2 years
    assert abs(leaf.not_valid_before_utc - timezone.now()) < timedelta(minutes=1)
    assert verify_chain(leaf, [sub2, sub1], root).chain == [leaf, sub2, sub1, root]


def test_the_chain_is_the_leaf_and_its_sub_cas_when_asked_for(token, pki):
    response = post(csr_for(p256()), token, accept="application/pem-certificate-chain")
    assert response.status_code == 201
    assert response["Content-Type"] == "application/pem-certificate-chain"
    leaf, sub2, sub1 = chain_of(response.content.decode())
    assert [sub2.subject, sub1.subject] == [leaf.issuer, sub2.issuer]
    root = x509.load_pem_x509_certificate(pki[0].certificate_pem.encode())
    verify_chain(leaf, [sub2, sub1], root)


def test_the_certificate_is_stored_and_the_contract_moves_on_audited(token, ev_client):
    response = post(csr_for(p256()), token)
    [leaf] = chain_of(response.content.decode())
    record = IssuedCertificate.objects.get()
    assert record.serial_number == format(leaf.serial_number, "x")
    assert record.not_after == leaf.not_valid_after_utc
    assert record.certificate_pem == response.content.decode()
    assert record.contract.state == Contract.State.CERTIFICATE_ISSUED
    event = AuditEvent.objects.get(action="contract.certificate_issued")
    assert event.actor == f"client:{ev_client.client_id}"
    assert event.detail["serial_number"] == record.serial_number and event.detail["key"] == "EC secp256r1"
    assert "PRIVATE" not in str(event.detail)


def test_the_reference_evs_request_shape_lowercase_bearer_and_rsa_key(token, emsp):
    emsp.pnc_key_profile = "compatible"
    emsp.save()
    response = post(REFERENCE_CSR, token, scheme="bearer", content_type="application/pkcs10; charset=utf-8")
    assert response.status_code == 201, response.content
    [leaf] = chain_of(response.content.decode())
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == Contract.objects.get().emaid
    assert "1A2B3C4D5-9" not in leaf.subject.rfc4514_string()  # the EV's own choice is ignored
    assert isinstance(leaf.public_key(), rsa.RSAPublicKey) and leaf.public_key().key_size == 4096


def test_base64_der_as_in_est(token):
    der = csr_for(p256(), encoding=serialization.Encoding.DER)
    wrapped = b"\r\n".join(base64.b64encode(der)[i:i + 64] for i in range(0, len(base64.b64encode(der)), 64))
    assert post(wrapped, token).status_code == 201


def test_a_contract_starting_later_gets_a_certificate_from_its_start(browser, ev_client, pki):
    token = access_token(browser, ev_client, near_detail(start_days=30, end_days=400))
    [leaf] = chain_of(post(csr_for(p256()), token).content.decode())
    contract = Contract.objects.get()
    assert leaf.not_valid_before_utc == contract.starts_at
    assert leaf.not_valid_after_utc == contract.ends_at


def test_validity_is_capped_by_the_issuing_ca(browser, ev_client, pki):
    token = access_token(browser, ev_client, near_detail(end_days=3 * 365))
    [leaf] = chain_of(post(csr_for(p256()), token).content.decode())
    assert leaf.not_valid_after_utc == pki[2].not_after
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc <= timedelta(days=730)


@pytest.mark.parametrize("profile, key", [
    ("iso15118-20", lambda: ec.generate_private_key(ec.SECP521R1())),
    ("iso15118-20", ed448.Ed448PrivateKey.generate),
    ("compatible", lambda: rsa.generate_private_key(65537, 2048)),
    ("compatible", p256),
])
def test_key_profiles_accept_their_keys(token, emsp, profile, key):
    emsp.pnc_key_profile = profile
    emsp.save()
    assert post(csr_for(key()), token).status_code == 201


# --- errors ----------------------------------------------------------------------------

@pytest.mark.parametrize("profile, key, named", [
    ("iso15118-2", lambda: ec.generate_private_key(ec.SECP384R1()), "EC secp384r1"),
    ("iso15118-2", lambda: rsa.generate_private_key(65537, 2048), "RSA 2048"),
    ("iso15118-2", lambda: ec.generate_private_key(ec.SECP521R1()), "EC secp521r1"),
    ("iso15118-20", p256, "EC secp256r1"),
    ("compatible", lambda: rsa.generate_private_key(65537, 1024), "RSA 1024"),
    ("compatible", ed448.Ed448PrivateKey.generate, "Ed448"),
])
def test_400_for_a_key_the_profile_refuses(token, emsp, profile, key, named):
    emsp.pnc_key_profile = profile
    emsp.save()
    body = assert_problem(post(csr_for(key()), token), 400, "Certificate request refused")
    assert named in body["detail"] and profile in body["detail"]
    assert Contract.objects.get().state == Contract.State.AUTHORIZED  # still usable with a good key
    assert post(csr_for(p256() if profile != "iso15118-20" else ed448.Ed448PrivateKey.generate()),
                token).status_code == 201


def test_400_for_the_reference_evs_rsa_key_under_iso15118_2(token):
    assert "RSA 4096" in assert_problem(post(REFERENCE_CSR, token), 400)["detail"]


@pytest.mark.parametrize("body", [b"\n", b"hello", b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
                                  base64.b64encode(b"\x30\x03\x02\x01\x00"), "Zürich".encode()])
def test_400_for_a_malformed_csr(token, body):
    assert "not a PKCS#10" in assert_problem(post(body, token), 400)["detail"]


def spki(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_400_for_a_csr_whose_signature_does_not_verify(token):
    """Someone else's key put into a signed request: the proof of possession fails."""
    mine, theirs = p256(), p256()
    der = csr_for(mine, encoding=serialization.Encoding.DER)
    forged = der.replace(spki(mine), spki(theirs))
    assert forged != der and x509.load_der_x509_csr(forged).public_key().public_numbers() == \
        theirs.public_key().public_numbers()
    body = assert_problem(post(base64.b64encode(forged), token), 400)
    assert body["detail"] == "the certificate request's signature does not verify"
    assert not IssuedCertificate.objects.exists()


def test_401_without_a_token_has_a_bare_bearer_challenge(pki):
    response = post(csr_for(p256()))
    assert_problem(response, 401, "Unauthorized")
    assert response["WWW-Authenticate"] == REALM


@pytest.mark.parametrize("scheme, value", [("Basic", basic("example_emsp", "secret").split()[1]),
                                           ("Bearer", "not-a-jwt"), ("Bearer", "")])
def test_401_for_another_scheme_or_a_bad_token(pki, scheme, value):
    response = post(csr_for(p256()), value, scheme=scheme)
    assert_problem(response, 401)
    if scheme == "Bearer":
        assert response["WWW-Authenticate"] == REALM + ', error="invalid_token"'
    else:
        assert response["WWW-Authenticate"] == REALM


def test_401_for_a_token_of_another_tenant(browser, ev_client, pki):
    token = access_token(browser, ev_client, near_detail())
    make_tenant("other", is_emsp=True)
    response = DjangoClient().post("/pnc/other/csr", csr_for(p256()), content_type="application/pkcs10",
                                   HTTP_AUTHORIZATION=f"Bearer {token}")
    assert_problem(response, 401)
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


def test_401_for_a_revoked_token(token, ev_client):
    FormClient().post("/oauth/emsp/revoke", {"token": token},
                      HTTP_AUTHORIZATION=basic(ev_client.client_id, ev_client.plain_secret))
    assert "revoked" in assert_problem(post(csr_for(p256()), token), 401)["detail"]


def test_401_for_a_token_signed_by_another_key_under_our_kid(token):
    header_segment, payload_segment, _ = token.split(".")
    forged = jwt.encode(jose.decode_header(header_segment), jose.parse_claims(jose.b64url_decode(payload_segment)),
                        ECKey.generate_key("P-256"), algorithms=["ES256"])
    assert "signature" in assert_problem(post(csr_for(p256()), forged), 401)["detail"]


def test_the_token_check_reads_only_the_tokens_record(token, emsp, django_assert_num_queries):
    """The signing key a kid names is kept per process (oauth.signing_keys.verifier): a
    check is one indexed read, not the tenant's JWKS read and parsed again."""
    tokens.verify_access_token(emsp, token)
    with django_assert_num_queries(1):
        tokens.verify_access_token(emsp, token)


def test_a_token_from_a_key_rotated_at_once_is_taken_at_once(token, browser, ev_client, emsp):
    tokens.verify_access_token(emsp, token)  # the old key is kept
    signing_keys.rotate(emsp, at_once=True)  # a compromise: the fresh key signs now
    fresh = access_token(browser, ev_client, near_detail())
    assert post(csr_for(p256()), fresh).status_code == 201


def test_403_for_a_token_without_a_contract(pki, backend_client):
    response = FormClient().post("/oauth/emsp/token", {"grant_type": "client_credentials", "scope": "emsp:read",
                                                       "client_id": backend_client.client_id,
                                                       "client_secret": backend_client.plain_secret})
    body = assert_problem(post(csr_for(p256()), response.json()["access_token"]), 403, "No contract to certify")
    assert "pnc_contract_request" in body["detail"]


def test_403_for_a_revoked_or_ended_contract(token):
    contract = Contract.objects.get()
    Contract.objects.filter(pk=contract.pk).update(ends_at=timezone.now() - timedelta(seconds=1))
    assert "expired" in assert_problem(post(csr_for(p256()), token), 403)["detail"]
    assert Contract.objects.get().state == Contract.State.EXPIRED
    assert AuditEvent.objects.filter(action="contract.expired", actor="system").exists()


def test_409_for_a_second_certificate_for_the_same_authorization(token):
    assert post(csr_for(p256()), token).status_code == 201
    body = assert_problem(post(csr_for(p256()), token), 409, "Certificate already issued")
    assert Contract.objects.get().emaid in body["detail"]
    assert IssuedCertificate.objects.count() == 1


def test_a_request_that_lost_the_race_gets_409_and_no_second_certificate(token, emsp):
    """Both requests found the contract unused; the state change lets one through."""
    stale = Contract.objects.get()
    first = issuance.issue(emsp, Contract.objects.get(), profile.load_csr(csr_for(p256())), "client:a")
    with pytest.raises(issuance.AlreadyIssued):
        issuance.issue(emsp, stale, profile.load_csr(csr_for(p256())), "client:b")
    assert list(IssuedCertificate.objects.all()) == [first.record]
    assert AuditEvent.objects.filter(action="contract.certificate_issued").count() == 1


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "application/pkcs10-x",
                                          "application/octet-stream"])
def test_415_for_another_content_type(token, content_type):
    response = post(csr_for(p256()), token, content_type=content_type)
    assert_problem(response, 415, "Unsupported media type")
    assert response["Accept-Post"] == "application/pkcs10"


def test_413_for_an_oversized_body_and_nothing_issued(token):
    body = csr_for(p256()) + b"\n" * (16 * 1024)
    assert "at most 16384 bytes" in assert_problem(post(body, token), 413, "Content too large")["detail"]
    assert Contract.objects.get().state == Contract.State.AUTHORIZED


def test_404_for_a_tenant_that_is_no_emsp(db):
    make_tenant("cpo")
    for url in ("/pnc/cpo/csr", "/pnc/nobody/csr"):
        assert_problem(DjangoClient().post(url, b"", content_type="application/pkcs10"), 404)


def test_405_for_get(pki):
    response = DjangoClient().get(URL)
    assert_problem(response, 405)
    assert response["Allow"] == "POST"


def test_503_when_the_emsp_has_no_ca(browser, ev_client):
    token = access_token(browser, ev_client, near_detail())
    assert_problem(post(csr_for(p256()), token), 503)
    assert Contract.objects.get().state == Contract.State.AUTHORIZED
