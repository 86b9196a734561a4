"""A root rollover to its end: the overlap (old chains validate, new issuance chains to
the new root), then `pnc ca retire` of the old hierarchy once nothing it signed is still
valid. Its keys are gone; its chains still validate and its final CRLs are still served;
its OCSP answers are `unauthorized`. Checked as relying parties see it: cryptography's
path validation, the CRLs at their public URLs, an independent OCSP client."""
import json

import pytest
from cryptography import x509
from cryptography.x509 import ocsp
from django.core.management.base import CommandError
from django.test import Client as DjangoClient

from csms.models import AuditEvent
from pnc import issuance, profile
from pnc.models import CertificateAuthority, Contract
from tests.commands import run_cmd
from tests.pnc import test_api
from tests.pnc.api_client import api, call
from tests.pnc.test_csr import csr_for, p256, verify_chain
from tests.pnc.test_ocsp import ask_post, certificate, request_der
from tests.pnc.test_revocation import crl_of
from tests.pnc.test_rollover import loaded, register

backend, token = test_api.backend, test_api.token  # the eMSP backend's token, as the API tests have it


def contract_of(leaf) -> Contract:
    return Contract.objects.get(certificates__serial_number=format(leaf.serial_number, "x"))


def served_crl(row) -> x509.CertificateRevocationList:
    response = DjangoClient().get(f"/pnc/emsp/crl/{row['key_id']}.crl")
    assert response.status_code == 200, response.content
    return x509.load_der_x509_crl(response.content)


@pytest.fixture
def rolled(browser, ev_client, pki):
    """Two contracts certified by the old hierarchy, then a root rollover, then one by the new."""
    old = [register(browser, ev_client), register(browser, ev_client)]
    shown = json.loads(run_cmd("pnc", "ca", "rollover", "emsp", "--level", "root", "--json"))
    return old, register(browser, ev_client), shown[:3], shown[3:]


def test_the_old_hierarchy_is_retired_once_nothing_it_signed_is_valid(emsp, rolled, token):
    (compromised, moved), new_leaf, old_rows, new_rows = rolled
    old_root, old_sub1, old_sub2 = (loaded(r) for r in old_rows)
    new_root = loaded(new_rows[0])

    with pytest.raises(CommandError, match=r"2 contract certificate\(s\) it signed are still valid"):
        run_cmd("pnc", "ca", "retire", "emsp", old_rows[0]["key_id"])
    with pytest.raises(CommandError, match="still issues contract certificates"):
        run_cmd("pnc", "ca", "retire", "emsp", new_rows[0]["key_id"][:8])

    # The eMSP ends what the old hierarchy still vouches for: a revocation and a renewal.
    run_cmd("pnc", "contract", "revoke", "emsp", contract_of(compromised).emaid, "--reason", "keyCompromise")
    renewed = issuance.renew(emsp, contract_of(moved), profile.load_csr(csr_for(p256())), "client:test")
    assert renewed.replaces.issuer.key_id == old_rows[2]["key_id"]

    retired = json.loads(run_cmd("pnc", "ca", "retire", "emsp", old_rows[0]["key_id"][:10], "--json"))
    assert [(r["level"], r["has_private_key"], bool(r["retired_at"])) for r in retired] == [
        ("root", False, True), ("sub-ca-1", False, True), ("sub-ca-2", False, True)]
    assert not CertificateAuthority.objects.filter(key_id__in=[r["key_id"] for r in old_rows]).exclude(
        private_key_sealed="").exists()
    assert [e.detail["level"] for e in AuditEvent.objects.filter(action="ca.retired").order_by("id")] == [
        "root", "sub-ca-1", "sub-ca-2"]
    shown = run_cmd("pnc", "ca", "show", "emsp")
    assert shown.count("no key, final CRL") == 3 and "(issues contract certificates)" in shown
    listed = {ca["key_id"]: ca for ca in call("GET", api("cas/"), token).json()}
    for row in old_rows:  # the API's CA list: retired, and the final CRL still at its URL
        assert listed[row["key_id"]]["retired_at"] and listed[row["key_id"]]["crl_url"].endswith(".crl")
    assert listed[new_rows[2]["key_id"]]["retired_at"] is None

    # Chains are public data: a station that trusts both roots validates both generations.
    assert verify_chain(moved, [old_sub2, old_sub1], old_root, new_root).chain[-1] == old_root
    assert verify_chain(new_leaf, [loaded(new_rows[2]), loaded(new_rows[1])], old_root, new_root).chain[-1] == \
        new_root

    # The final CRLs, signed before the keys went, are served and last until their CA ends.
    crl, _ = crl_of(moved)
    assert crl.is_signature_valid(old_sub2.public_key()) and crl.next_update_utc == old_sub2.not_valid_after_utc
    reasons = {entry.serial_number: entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
               for entry in crl}
    assert reasons == {compromised.serial_number: x509.ReasonFlags.key_compromise,
                       moved.serial_number: x509.ReasonFlags.superseded}
    assert served_crl(old_rows[1]).is_signature_valid(old_sub1.public_key())
    assert served_crl(old_rows[0]).is_signature_valid(old_root.public_key())

    # OCSP needs the key for every answer: unauthorized, the CRL answers instead.
    for leaf, issuer in ((compromised, old_sub2), (old_sub2, old_sub1)):
        assert ask_post(request_der(leaf, issuer)).response_status == ocsp.OCSPResponseStatus.UNAUTHORIZED
    assert ask_post(request_der(new_leaf, loaded(new_rows[2]))).certificate_status == ocsp.OCSPCertStatus.GOOD

    with pytest.raises(CommandError, match="was retired on"):
        run_cmd("pnc", "ca", "retire", "emsp", old_rows[2]["key_id"])


def test_a_sub_ca_2_alone_is_retired_and_its_sub_ca_1_keeps_its_key(browser, ev_client, pki):
    old_sub2 = pki[2]
    run_cmd("pnc", "ca", "rollover", "emsp")
    [retired] = json.loads(run_cmd("pnc", "ca", "retire", "emsp", old_sub2.key_id, "--json"))
    assert retired["key_id"] == old_sub2.key_id
    assert CertificateAuthority.objects.get(pk=pki[1].pk).private_key_sealed  # it signs the new Sub-CA 2
    after = register(browser, ev_client)
    assert after.issuer != certificate(old_sub2).subject
    # Its parent still answers for it: the retired Sub-CA 2 was not revoked.
    answer = ask_post(request_der(certificate(old_sub2), certificate(pki[1])))
    assert answer.certificate_status == ocsp.OCSPCertStatus.GOOD


@pytest.mark.parametrize("key_id, message", [("abc", "at least 8 hex digits"),
                                              ("ffffffffffff", "no CA whose key id starts with")])
def test_a_key_id_must_name_one_ca(pki, key_id, message):
    with pytest.raises(CommandError, match=message):
        run_cmd("pnc", "ca", "retire", "emsp", key_id)
