"""Contract certificates: from an access token and a CSR to a certificate chained to
the tenant's MO PKI, once per contract."""
from dataclasses import dataclass

from cryptography import x509
from django.db import transaction
from django.utils import timezone

from . import authorities, contracts, profile
from .authorization_details import TYPE
from .models import Contract, IssuedCertificate

State = Contract.State


class NoContract(Exception):
    """The token carries no approved contract that can still get a certificate (403)."""


class AlreadyIssued(Exception):
    """This authorization's contract has its certificate already (409)."""


@dataclass(frozen=True)
class Issued:
    record: IssuedCertificate
    certificate_pem: str
    chain_pems: list[str]  # the issuing Sub-CA 2 and its Sub-CA 1; the EV already trusts the root


def contract_for_token(tenant, verified) -> Contract:
    """The contract behind a verified access token: the one its approval created. The
    token must carry the pnc_contract_request it was approved with."""
    record = verified.record
    details = verified.claims.get("authorization_details") or []
    if record.grant_id is None or not any(isinstance(d, dict) and d.get("type") == TYPE for d in details):
        raise NoContract("the access token carries no approved pnc_contract_request")
    contract = Contract.objects.for_tenant(tenant).filter(grant_id=record.grant_id).first()
    if contract is None:
        raise NoContract("the access token's authorization has no contract")
    return usable(contract)


def usable(contract: Contract) -> Contract:
    if contract.state == State.CERTIFICATE_ISSUED:
        raise AlreadyIssued(f"a certificate was already issued for this authorization (contract {contract.emaid})")
    if contract.state == State.AUTHORIZED and contract.ends_at <= timezone.now():
        contract = contracts.transition(contract, State.EXPIRED, "system", reason="ended before a certificate")
    if contract.state != State.AUTHORIZED:
        raise NoContract(f"the contract is {contract.state}")
    return contract


def issue(tenant, contract: Contract, csr: x509.CertificateSigningRequest, actor: str) -> Issued:
    """Sign the CSR's key into the contract's certificate and record it. The subject is
    the eMSP's (CN = EMAID); nothing of the CSR but its key is used. Exactly one
    certificate per contract, also when two requests race: the state change is the
    lock, and the loser gets AlreadyIssued."""
    public_key = csr.public_key()
    profile.check_key(public_key, tenant.pnc_key_profile)
    ca = authorities.open_issuing(tenant)
    try:
        not_before, not_after = profile.contract_validity(timezone.now(), contract.starts_at, contract.ends_at,
                                                          ca.certificate)
    except ValueError as exc:
        raise NoContract(str(exc)) from None
    certificate = profile.contract_certificate(
        public_key, contract.emaid, authorities.names(tenant), ca.certificate, ca.private_key,
        not_before=not_before, not_after=not_after, crl_url=authorities.crl_url(tenant, ca.row.key_id),
        ocsp_url=authorities.ocsp_url(tenant))
    serial = format(certificate.serial_number, "x")
    certificate_pem = profile.pem(certificate)
    with transaction.atomic():
        try:
            contracts.transition(contract, State.CERTIFICATE_ISSUED, actor, serial_number=serial,
                                 key=profile.describe_key(public_key))
        except contracts.TransitionRefused:
            usable(contract)  # says why: already issued (409), or revoked or expired meanwhile (403)
            raise
        record = IssuedCertificate.objects.create(
            tenant=tenant, contract=contract, issuer=ca.row, serial_number=serial, not_before=not_before,
            not_after=not_after, certificate_pem=certificate_pem)
    return Issued(record, certificate_pem, authorities.chain_above(ca.row))
