"""`pnc ca import`: taking over an existing MO PKI from PEM or PKCS#12 files, then
issuing from it. The existing PKI is built here with plain `cryptography`, not with our
own profile code."""
import io
import json
import sys
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID
from django.core.management.base import CommandError
from django.test import Client as DjangoClient

from csms.models import AuditEvent
from pnc.models import CertificateAuthority
from tests.commands import run_cmd
from tests.pnc.conftest import access_token, near_detail
from tests.pnc.test_csr import csr_for, post, verify_chain

NOW = datetime.now(UTC)


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "MO")])


def ca(cn, key, issuer_cert=None, issuer_key=None, pathlen=None, days=3650, key_cert_sign=True):
    usage = x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=key_cert_sign, crl_sign=True,
                          encipher_only=False, decipher_only=False)
    builder = (x509.CertificateBuilder().subject_name(name(cn))
               .issuer_name(issuer_cert.subject if issuer_cert else name(cn)).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(NOW - timedelta(days=1))
               .not_valid_after(NOW + timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=True, path_length=pathlen), critical=True)
               .add_extension(usage, critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if issuer_cert is not None:
        issuer_ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski), critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


@pytest.fixture
def existing():
    """An existing MO PKI: (certificates root→sub2, keys root→sub2)."""
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(3)]
    root = ca("Elsewhere MO Root", keys[0], pathlen=2)
    sub1 = ca("Elsewhere MO Sub-CA 1", keys[1], root, keys[0], pathlen=1)
    sub2 = ca("Elsewhere MO Sub-CA 2", keys[2], sub1, keys[1], pathlen=0, days=700)
    return [root, sub1, sub2], keys


def pem_cert(*certs):
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def pem_key(key, password=None):
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def damaged(certificate) -> bytes:
    """The certificate's PEM with a run of its base64 replaced: still PEM, not DER."""
    text = pem_cert(certificate)
    return text[:100] + b"A" * 40 + text[140:]


def write(tmp_path, filename, data):
    path = tmp_path / filename
    path.write_bytes(data)
    return str(path)


def test_import_from_pem_files_in_any_order_then_issue(emsp, browser, ev_client, existing, tmp_path):
    (root, sub1, sub2), keys = existing
    chain = write(tmp_path, "chain.pem", pem_cert(sub1, root, sub2))  # not in order
    key = write(tmp_path, "sub2-key.pem", pem_key(keys[2]))
    shown = json.loads(run_cmd("pnc", "ca", "import", "emsp", "--pem", chain, "--pem", key, "--json"))
    assert [(r["level"], r["issuing"], r["has_private_key"]) for r in shown] == [
        ("root", False, False), ("sub-ca-1", False, False), ("sub-ca-2", True, True)]
    assert shown[2]["subject"] == "DC=MO,CN=Elsewhere MO Sub-CA 2"
    assert "PRIVATE" not in CertificateAuthority.objects.get(level="sub-ca-2").private_key_sealed

    token = access_token(browser, ev_client, near_detail())
    response = post(csr_for(ec.generate_private_key(ec.SECP256R1())), token,
                    accept="application/pem-certificate-chain")
    assert response.status_code == 201, response.content
    leaf, got_sub2, got_sub1 = x509.load_pem_x509_certificates(response.content)
    assert (got_sub2, got_sub1) == (sub2, sub1)
    verify_chain(leaf, [sub2, sub1], root)
    crl = DjangoClient().get(f"/pnc/emsp/crl/{shown[2]['key_id']}.crl")
    assert crl.status_code == 200 and x509.load_der_x509_crl(crl.content).is_signature_valid(sub2.public_key())
    not_ours = DjangoClient().get(f"/pnc/emsp/crl/{shown[0]['key_id']}.crl")  # the root's key stayed behind
    assert not_ours.status_code == 404 and not_ours["Content-Type"] == "application/problem+json"


def test_import_from_pkcs12_with_a_password_on_stdin(emsp, existing, tmp_path, monkeypatch):
    (root, sub1, sub2), keys = existing
    bundle = pkcs12.serialize_key_and_certificates(b"sub2", keys[2], sub2, [sub1, root],
                                                   serialization.BestAvailableEncryption(b"s3cret"))
    path = write(tmp_path, "sub2.p12", bundle)
    monkeypatch.setattr(sys, "stdin", io.StringIO("s3cret\n"))
    out = run_cmd("pnc", "ca", "import", "emsp", "--pkcs12", path, "--password-stdin")
    assert "s3cret" not in out and "(issues contract certificates)" in out
    assert "BEGIN" not in out  # a summary, like init
    assert CertificateAuthority.objects.get(issuing=True).key_id == \
        sub2.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest.hex()
    imported = AuditEvent.objects.get(action="ca.imported")  # who brought which CAs in; never a key
    assert imported.actor == "cli" and imported.outcome == "issuing"
    assert sorted(imported.detail) == ["root", "sub-ca-1", "sub-ca-2"]
    assert "s3cret" not in str(imported.detail) and "BEGIN" not in str(imported.detail)


def test_encrypted_pem_key_and_all_keys_allow_rollover(emsp, existing, tmp_path, monkeypatch):
    (root, sub1, sub2), keys = existing
    files = [write(tmp_path, "certs.pem", pem_cert(root, sub1, sub2)),
             write(tmp_path, "keys.pem", b"".join(pem_key(k, b"pw") for k in keys))]
    monkeypatch.setattr(sys, "stdin", io.StringIO("pw\n"))
    run_cmd("pnc", "ca", "import", "emsp", "--pem", files[0], "--pem", files[1], "--password-stdin")
    shown = json.loads(run_cmd("pnc", "ca", "rollover", "emsp", "--json"))
    assert shown[-1]["issuing"] and shown[-1]["parent_key_id"] == shown[1]["key_id"]


@pytest.mark.parametrize("case, message", [
    ("no sub2 key", "Sub-CA 2's private key is needed"),
    ("foreign key", "belongs to none of the certificates"),
    ("missing sub1", "exactly three CA certificates"),
    ("broken chain", "no single CA certificate is signed by"),
    ("rsa sub2", "must be EC P-256"),
    ("pathlen", "pathlen 0"),
    ("expired", "is not valid now"),
    ("no keyCertSign", "no keyUsage keyCertSign"),
])
def test_a_pki_we_cannot_issue_from_is_refused(emsp, existing, tmp_path, case, message):
    (root, sub1, sub2), keys = existing
    certs, key = [root, sub1, sub2], keys[2]
    if case == "no sub2 key":
        key = None
    elif case == "foreign key":
        key = ec.generate_private_key(ec.SECP256R1())
    elif case == "missing sub1":
        certs = [root, sub2]
    elif case == "broken chain":
        other_root_key = ec.generate_private_key(ec.SECP256R1())
        certs = [root, sub1, ca("Elsewhere MO Sub-CA 2", keys[2], ca("Other Root", other_root_key), other_root_key,
                                pathlen=0)]
    elif case == "rsa sub2":
        key = rsa.generate_private_key(65537, 2048)
        certs = [root, sub1, ca("Elsewhere MO Sub-CA 2", key, sub1, keys[1], pathlen=0)]
    elif case == "pathlen":
        certs = [root, sub1, ca("Elsewhere MO Sub-CA 2", keys[2], sub1, keys[1], pathlen=None)]
    elif case == "no keyCertSign":
        certs = [root, sub1, ca("Elsewhere MO Sub-CA 2", keys[2], sub1, keys[1], pathlen=0, key_cert_sign=False)]
    elif case == "expired":
        certs = [root, sub1, ca("Elsewhere MO Sub-CA 2", keys[2], sub1, keys[1], pathlen=0, days=-0.5)]
    args = ["--pem", write(tmp_path, "certs.pem", pem_cert(*certs))]
    if key is not None:
        args += ["--pem", write(tmp_path, "key.pem", pem_key(key))]
    with pytest.raises(CommandError, match=message):
        run_cmd("pnc", "ca", "import", "emsp", *args)
    assert not CertificateAuthority.objects.exists()


def test_unreadable_files_and_a_tenant_with_a_pki_are_refused(emsp, existing, tmp_path, monkeypatch, pki):
    (root, sub1, sub2), keys = existing
    with pytest.raises(CommandError, match="No such file"):
        run_cmd("pnc", "ca", "import", "emsp", "--pem", str(tmp_path / "nothing.pem"))
    with pytest.raises(CommandError, match="no PEM certificate or private key"):
        run_cmd("pnc", "ca", "import", "emsp", "--pem", write(tmp_path, "x.pem", b"hello"))
    with pytest.raises(CommandError, match="damaged.pem: a certificate in it does not parse"):
        run_cmd("pnc", "ca", "import", "emsp", "--pem", write(tmp_path, "damaged.pem", damaged(root)))
    bundle = pkcs12.serialize_key_and_certificates(b"x", keys[2], sub2, [sub1, root],
                                                   serialization.BestAvailableEncryption(b"right"))
    monkeypatch.setattr(sys, "stdin", io.StringIO("wrong\n"))
    with pytest.raises(CommandError, match="password is wrong"):
        run_cmd("pnc", "ca", "import", "emsp", "--pkcs12", write(tmp_path, "b.p12", bundle), "--password-stdin")
    files = ["--pem", write(tmp_path, "c.pem", pem_cert(root, sub1, sub2)), "--pem",
             write(tmp_path, "k.pem", pem_key(keys[2]))]
    with pytest.raises(CommandError, match="already has an MO PKI"):
        run_cmd("pnc", "ca", "import", "emsp", *files)


def test_levels_imported_without_their_keys_refuse_crl_ocsp_and_rollover_plainly(emsp, existing, tmp_path):
    """Only Sub-CA 2's key came: the root's and Sub-CA 1's CRLs and OCSP answers are the
    existing PKI's to publish; asking us for them is a clear refusal, never a crash."""
    (root, sub1, sub2), keys = existing
    run_cmd("pnc", "ca", "import", "emsp", "--pem", write(tmp_path, "c.pem", pem_cert(root, sub1, sub2)),
            "--pem", write(tmp_path, "k.pem", pem_key(keys[2])))
    shown = run_cmd("pnc", "ca", "show", "emsp")
    assert shown.count("key held by its own PKI, which publishes its CRL") == 2
    for row in CertificateAuthority.objects.exclude(level="sub-ca-2"):
        response = DjangoClient().get(f"/pnc/emsp/crl/{row.key_id}.crl")
        assert response.status_code == 404 and response["Content-Type"] == "application/problem+json"
        assert response.json()["detail"] == "this CA's CRL is published by the PKI that holds its key"
    der = ocsp.OCSPRequestBuilder().add_certificate(sub2, sub1, hashes.SHA1()).build().public_bytes(
        serialization.Encoding.DER)
    answer = DjangoClient().post("/pnc/emsp/ocsp", der, content_type="application/ocsp-request")
    assert ocsp.load_der_ocsp_response(answer.content).response_status == ocsp.OCSPResponseStatus.UNAUTHORIZED
    with pytest.raises(CommandError, match="private key of .* is not held here"):
        run_cmd("pnc", "ca", "rollover", "emsp")
    assert CertificateAuthority.objects.get(issuing=True).certificate_pem == pem_cert(sub2).decode()


def test_a_file_of_unclosed_key_armour_is_refused_in_linear_time():
    """A lazy BEGIN.+?END pattern rescanned the rest of the file from every BEGIN line, with
    the GIL held: 0.8 s for the CA page's 64 KiB, ~13 s for this quarter of a MiB."""
    import time

    from pnc import pki_files

    started = time.monotonic()
    with pytest.raises(pki_files.Unreadable, match="no PEM certificate or private key in it"):
        pki_files.pems([("k.pem", b"-----BEGIN PRIVATE KEY-----\n" * 9000)], None)
    assert time.monotonic() - started < 1
