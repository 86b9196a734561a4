"""`pnc ca rollover [--level sub-ca-2|sub-ca-1|root]`: new CAs take over issuing while
the old ones keep serving the CRLs and OCSP answers of the certificates they issued, and
relying parties validate old and new contract chains with cryptography's verifier."""
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.verification import VerificationError
from django.core.management.base import CommandError

from csms.models import AuditEvent
from pnc.models import CertificateAuthority, Contract
from tests.commands import run_cmd
from tests.pnc.conftest import access_token, near_detail
from tests.pnc.test_csr import csr_for, post, verify_chain
from tests.pnc.test_ocsp import ask_post, certificate, request_der
from tests.pnc.test_revocation import crl_of


def register(browser, ev_client) -> x509.Certificate:
    token = access_token(browser, ev_client, near_detail())
    response = post(csr_for(ec.generate_private_key(ec.SECP256R1())), token)
    assert response.status_code == 201
    return x509.load_pem_x509_certificate(response.content)


def test_rollover_moves_issuing_and_the_old_ca_keeps_answering(browser, ev_client, pki):
    root, sub1, old_sub2 = (certificate(row) for row in pki)
    before = register(browser, ev_client)
    shown = json.loads(run_cmd("pnc", "ca", "rollover", "emsp", "--json"))
    assert [r["level"] for r in shown] == ["root", "sub-ca-1", "sub-ca-2", "sub-ca-2"]
    assert [r["issuing"] for r in shown] == [False, False, False, True]
    assert shown[3]["parent_key_id"] == shown[1]["key_id"]
    new_sub2 = x509.load_pem_x509_certificate(shown[3]["certificate_pem"].encode())
    assert new_sub2.subject != old_sub2.subject
    assert new_sub2.subject.rfc4514_string().endswith("CN=OpenID Charge MO Sub-CA 2 G2")
    new_sub2.verify_directly_issued_by(sub1)
    assert new_sub2.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0

    after = register(browser, ev_client)
    assert after.issuer == new_sub2.subject and before.issuer == old_sub2.subject
    verify_chain(after, [new_sub2, sub1], root)
    verify_chain(before, [old_sub2, sub1], root)

    old_contract = Contract.objects.get(certificates__serial_number=format(before.serial_number, "x"))
    run_cmd("pnc", "contract", "revoke", "emsp", old_contract.emaid)
    crl, _ = crl_of(before)
    assert crl.is_signature_valid(old_sub2.public_key())
    assert crl.get_revoked_certificate_by_serial_number(before.serial_number) is not None
    assert ask_post(request_der(before, old_sub2)).certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert ask_post(request_der(after, new_sub2)).certificate_status == ocsp.OCSPCertStatus.GOOD
    assert len(crl_of(after)[0]) == 0


def test_rollover_without_a_pki_is_refused(emsp):
    with pytest.raises(CommandError, match="no issuing MO Sub-CA 2"):
        run_cmd("pnc", "ca", "rollover", "emsp")
    assert not CertificateAuthority.objects.exists()


def relying_party(*roots):
    """A station or EV that trusts `roots` and validates a contract chain as RFC 5280 says."""
    return lambda leaf, intermediates: verify_chain(leaf, intermediates, *roots)


def rows_by_level(shown, level):
    return [r for r in shown if r["level"] == level]


def loaded(row) -> x509.Certificate:
    return x509.load_pem_x509_certificate(row["certificate_pem"].encode())


def test_sub_ca_1_rollover_makes_a_new_sub_ca_1_and_2_under_the_same_root(browser, ev_client, pki):
    root, old_sub1, old_sub2 = (certificate(row) for row in pki)
    before = register(browser, ev_client)
    shown = json.loads(run_cmd("pnc", "ca", "rollover", "emsp", "--level", "sub-ca-1", "--json"))
    assert [r["level"] for r in shown] == ["root", "sub-ca-1", "sub-ca-2", "sub-ca-1", "sub-ca-2"]
    assert [r["issuing"] for r in shown] == [False, False, False, False, True]
    new_sub1, new_sub2 = loaded(shown[3]), loaded(shown[4])
    assert new_sub1.subject.rfc4514_string().endswith("CN=OpenID Charge MO Sub-CA 1 G2")
    assert shown[3]["parent_key_id"] == shown[0]["key_id"] and shown[4]["parent_key_id"] == shown[3]["key_id"]
    assert new_sub1.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 1

    after = register(browser, ev_client)
    assert after.issuer == new_sub2.subject
    station = relying_party(root)  # nothing to distribute: the root is the same
    assert station(after, [new_sub2, new_sub1]).chain == [after, new_sub2, new_sub1, root]
    assert station(before, [old_sub2, old_sub1]).chain == [before, old_sub2, old_sub1, root]

    # The old Sub-CA 1 and Sub-CA 2 still answer for what they signed.
    assert ask_post(request_der(old_sub2, old_sub1)).certificate_status == ocsp.OCSPCertStatus.GOOD
    assert ask_post(request_der(new_sub2, new_sub1)).certificate_status == ocsp.OCSPCertStatus.GOOD
    assert crl_of(old_sub2)[0].is_signature_valid(old_sub1.public_key())
    run_cmd("pnc", "contract", "revoke", "emsp", Contract.objects.get(
        certificates__serial_number=format(before.serial_number, "x")).emaid, "--reason", "keyCompromise")
    crl, _ = crl_of(before)
    assert crl.is_signature_valid(old_sub2.public_key())
    assert crl.get_revoked_certificate_by_serial_number(before.serial_number) is not None
    assert ask_post(request_der(before, old_sub2)).certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert ask_post(request_der(after, new_sub2)).certificate_status == ocsp.OCSPCertStatus.GOOD


def test_root_rollover_makes_a_new_hierarchy_the_old_one_keeps_validating_and_answering(browser, ev_client, pki):
    old_root, old_sub1, old_sub2 = (certificate(row) for row in pki)
    before = register(browser, ev_client)
    shown = json.loads(run_cmd("pnc", "ca", "rollover", "emsp", "--level", "root", "--json"))
    assert [r["level"] for r in shown] == ["root", "sub-ca-1", "sub-ca-2"] * 2
    assert [r["issuing"] for r in shown] == [False] * 5 + [True]
    new_root, new_sub1, new_sub2 = (loaded(r) for r in shown[3:])
    assert shown[3]["parent_key_id"] is None
    assert new_root.subject.rfc4514_string().endswith("CN=OpenID Charge MO Root CA G2")
    assert new_root.issuer == new_root.subject != old_root.subject
    new_root.verify_directly_issued_by(new_root)
    assert len({r["subject"] for r in shown}) == 6  # no two CAs share a name

    after = register(browser, ev_client)
    assert after.issuer == new_sub2.subject
    # A station that was given only the old root keeps validating the old certificates,
    # and cannot validate the new ones until it is given the new root (no cross-certificate).
    old_station = relying_party(old_root)
    assert old_station(before, [old_sub2, old_sub1]).chain[-1] == old_root
    with pytest.raises(VerificationError):
        old_station(after, [new_sub2, new_sub1])
    updated_station = relying_party(old_root, new_root)
    assert updated_station(after, [new_sub2, new_sub1]).chain == [after, new_sub2, new_sub1, new_root]
    assert updated_station(before, [old_sub2, old_sub1]).chain == [before, old_sub2, old_sub1, old_root]

    # The old hierarchy serves its CRLs and OCSP answers; the new one its own.
    run_cmd("pnc", "contract", "revoke", "emsp", Contract.objects.get(
        certificates__serial_number=format(before.serial_number, "x")).emaid)
    crl, _ = crl_of(before)
    assert crl.is_signature_valid(old_sub2.public_key())
    assert crl.get_revoked_certificate_by_serial_number(before.serial_number) is not None
    assert crl_of(old_sub2)[0].is_signature_valid(old_sub1.public_key())
    assert ask_post(request_der(before, old_sub2)).certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert ask_post(request_der(old_sub1, old_root)).certificate_status == ocsp.OCSPCertStatus.GOOD
    assert ask_post(request_der(after, new_sub2)).certificate_status == ocsp.OCSPCertStatus.GOOD
    assert ask_post(request_der(new_sub1, new_root)).certificate_status == ocsp.OCSPCertStatus.GOOD
    new_crl, _ = crl_of(after)
    assert new_crl.is_signature_valid(new_sub2.public_key()) and len(new_crl) == 0


def test_sub_ca_1_rollover_needs_the_roots_key(emsp, pki):
    CertificateAuthority.objects.filter(pk=pki[0].pk).update(private_key_sealed="")  # an imported root
    with pytest.raises(CommandError, match="private key of .* is not held here"):
        run_cmd("pnc", "ca", "rollover", "emsp", "--level", "sub-ca-1")
    assert CertificateAuthority.objects.get(issuing=True).pk == pki[2].pk  # nothing changed
    assert CertificateAuthority.objects.count() == 3


def test_a_staged_root_rollover_publishes_the_new_root_before_it_issues(browser, ev_client, pki):
    """Step one makes and publishes the new hierarchy while the old one goes on issuing,
    so relying parties can get the new root first; step two, `activate`, moves issuing."""
    old_root, old_sub1, old_sub2 = (certificate(row) for row in pki)
    shown = json.loads(run_cmd("pnc", "ca", "rollover", "emsp", "--level", "root", "--staged", "--json"))
    assert [(r["issuing"], r["staged"]) for r in shown] == [(False, False)] * 2 + [(True, False)] + \
        [(False, False)] * 2 + [(False, True)]
    assert "(staged: issues after pnc ca activate)" in run_cmd("pnc", "ca", "show", "emsp")
    new_root, new_sub1, new_sub2 = (loaded(r) for r in shown[3:])

    during = register(browser, ev_client)  # still from the old hierarchy
    assert during.issuer == old_sub2.subject
    station = relying_party(old_root, new_root)  # given the new root early
    assert station(during, [old_sub2, old_sub1]).chain[-1] == old_root

    with pytest.raises(CommandError, match="no MO Sub-CA 2 with key id"):
        run_cmd("pnc", "ca", "activate", "emsp", shown[3]["key_id"])  # a root is not what issues
    run_cmd("pnc", "ca", "activate", "emsp", shown[5]["key_id"])
    assert AuditEvent.objects.get(action="ca.activated").detail["key_id"] == shown[5]["key_id"]
    after = register(browser, ev_client)
    assert after.issuer == new_sub2.subject
    assert station(after, [new_sub2, new_sub1]).chain == [after, new_sub2, new_sub1, new_root]
    assert station(during, [old_sub2, old_sub1]).chain[-1] == old_root
    assert ask_post(request_der(during, old_sub2)).certificate_status == ocsp.OCSPCertStatus.GOOD
    with pytest.raises(CommandError, match="issues already"):
        run_cmd("pnc", "ca", "activate", "emsp", shown[5]["key_id"])
    assert not any(r["staged"] for r in json.loads(run_cmd("pnc", "ca", "show", "emsp", "--json")))
