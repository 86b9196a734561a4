"""Revoking a contract revokes its certificate and tokens; the issuing CA's CRL, at the
URL the certificate names, lists it at once. `pnc contract list|show|revoke`."""
import json
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.management.base import CommandError
from django.test import Client as DjangoClient
from django.utils import timezone

from csms.models import AuditEvent
from pnc import emaid
from pnc.models import Contract, IssuedCertificate
from tests.commands import run_cmd
from tests.factories import make_tenant
from tests.pnc.conftest import access_token, near_detail
from tests.pnc.test_csr import csr_for, post


@pytest.fixture
def issued(browser, ev_client, pki):
    """(access token, contract certificate) of a fresh registration."""
    token = access_token(browser, ev_client, near_detail())
    response = post(csr_for(ec.generate_private_key(ec.SECP256R1())), token)
    assert response.status_code == 201
    return token, x509.load_pem_x509_certificate(response.content)


def crl_of(certificate) -> tuple[x509.CertificateRevocationList, str]:
    [point] = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    path = urlsplit(point.full_name[0].value).path
    response = DjangoClient().get(path)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/pkix-crl"
    return x509.load_der_x509_crl(response.content), path


def sub_ca_2(pki):
    return x509.load_pem_x509_certificate(pki[2].certificate_pem.encode())


def test_a_fresh_crl_is_empty_signed_numbered_and_served_again_unchanged(issued, pki):
    _, leaf = issued
    crl, _ = crl_of(leaf)
    assert crl.is_signature_valid(sub_ca_2(pki).public_key())
    assert crl.issuer == leaf.issuer and len(crl) == 0
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 1
    assert timedelta(days=6) < crl.next_update_utc - timezone.now() <= timedelta(days=7)
    again, _ = crl_of(leaf)
    assert again.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 1


def test_revoking_the_contract_revokes_its_certificate_in_the_crl_and_its_tokens(issued, pki):
    token, leaf = issued
    crl_of(leaf)
    contract = Contract.objects.get()
    shown = json.loads(run_cmd("pnc", "contract", "revoke", "emsp", emaid.hyphenated(contract.emaid),
                               "--reason", "keyCompromise", "--json"))
    assert shown["state"] == "revoked"
    assert shown["certificates"][0]["serial_number"] == format(leaf.serial_number, "x")
    assert shown["certificates"][0]["revoked_at"]
    crl, _ = crl_of(leaf)
    assert crl.is_signature_valid(sub_ca_2(pki).public_key())
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 2
    entry = crl.get_revoked_certificate_by_serial_number(leaf.serial_number)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
    assert IssuedCertificate.objects.get().revocation_reason == "keyCompromise"
    assert post(csr_for(ec.generate_private_key(ec.SECP256R1())), token).status_code == 401  # its token is gone
    event = AuditEvent.objects.get(action="contract.revoked")
    assert (event.actor, event.detail["reason"]) == ("cli", "keyCompromise")


def test_a_contract_without_certificate_can_be_revoked_and_then_gets_none(browser, ev_client, pki):
    token = access_token(browser, ev_client, near_detail())
    contract = Contract.objects.get()
    run_cmd("pnc", "contract", "revoke", "emsp", contract.emaid)
    assert Contract.objects.get().state == Contract.State.REVOKED
    assert post(csr_for(ec.generate_private_key(ec.SECP256R1())), token).status_code == 401
    with pytest.raises(CommandError, match="revoked cannot become revoked"):
        run_cmd("pnc", "contract", "revoke", "emsp", contract.emaid)


def test_unspecified_reason_is_an_entry_without_reason_code(issued):
    _, leaf = issued
    run_cmd("pnc", "contract", "revoke", "emsp", Contract.objects.get().emaid)
    entry = crl_of(leaf)[0].get_revoked_certificate_by_serial_number(leaf.serial_number)
    assert entry is not None and len(entry.extensions) == 0


def test_contract_list_and_show(issued):
    contract = Contract.objects.get()
    [row] = json.loads(run_cmd("pnc", "contract", "list", "emsp", "--json"))
    assert (row["emaid"], row["state"], row["driver"], row["client_id"]) == (
        contract.emaid, "certificate_issued", "driver", "example_emsp")
    assert json.loads(run_cmd("pnc", "contract", "list", "emsp", "--state", "revoked", "--json")) == []
    assert emaid.hyphenated(contract.emaid) in run_cmd("pnc", "contract", "show", "emsp", contract.emaid.lower())
    with pytest.raises(CommandError, match="no contract"):
        run_cmd("pnc", "contract", "show", "emsp", "DE8AA000000000" + emaid.check_digit("DE8AA000000000"))


def test_crls_are_per_tenant_and_unknown_ones_are_404(issued):
    _, leaf = issued
    _, path = crl_of(leaf)
    make_tenant("other", is_emsp=True)
    for url in (path.replace("/emsp/", "/other/"), "/pnc/emsp/crl/00.crl", "/pnc/nobody/crl/00.crl"):
        response = DjangoClient().get(url)
        assert response.status_code == 404 and response["Content-Type"] == "application/problem+json"


def test_ended_contracts_expire_in_the_periodic_sweep(issued):
    from pnc.tasks import expire_ended_contracts

    Contract.objects.update(ends_at=timezone.now() - timedelta(seconds=1))
    assert expire_ended_contracts() == 1
    assert Contract.objects.get().state == Contract.State.EXPIRED
    assert AuditEvent.objects.filter(action="contract.expired", actor="system").count() == 1
    assert expire_ended_contracts() == 0

