"""`pnc ca rollover`: a new Sub-CA 2 takes over issuing while the old one keeps serving
the CRL and OCSP answers of the certificates it issued."""
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from django.core.management.base import CommandError

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
