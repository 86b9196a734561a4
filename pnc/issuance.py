"""Contract certificates: from an access token and a CSR to a certificate chained to
the tenant's MO PKI, once per authorization; and renewing it for the same contract
(ISO 15118 certificate update) when it nears its end or its CA was replaced by a rollover."""
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.db import transaction
from django.utils import timezone

from lib.prepared import Prepared

from . import authorities, contracts, profile, revocation
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


# Read for every CSR, compiled once (lib/prepared.py); scoped by tenant like `for_tenant`.
_contract_of_grant = Prepared(lambda tenant_id, grant_id: Contract.objects.filter(
    tenant_id=tenant_id, grant_id=grant_id)[:1], tenant_id=int, grant_id=int)


def contract_for_token(tenant, verified) -> Contract:
    """The contract behind a verified access token: the one its approval created. The
    token must carry the pnc_contract_request it was approved with."""
    record = verified.record
    details = verified.claims.get("authorization_details") or []
    if record.grant_id is None or not any(isinstance(d, dict) and d.get("type") == TYPE for d in details):
        raise NoContract("the access token carries no approved pnc_contract_request")
    contract = next(iter(_contract_of_grant(tenant_id=tenant.pk, grant_id=record.grant_id)), None)
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


def _sign(tenant, contract: Contract, public_key) -> tuple[authorities.OpenedAuthority, x509.Certificate]:
    """The contract's certificate for `public_key`, from the issuing Sub-CA 2."""
    profile.check_key(public_key, tenant.pnc_key_profile)
    ca = authorities.open_issuing(tenant)
    try:
        not_before, not_after = profile.contract_validity(timezone.now(), contract.starts_at, contract.ends_at,
                                                          ca.certificate)
    except ValueError as exc:
        raise NoContract(str(exc)) from None
    return ca, profile.contract_certificate(
        public_key, contract.emaid, authorities.names(tenant), ca.certificate, ca.private_key,
        not_before=not_before, not_after=not_after, crl_url=authorities.crl_url(tenant, ca.row.key_id),
        ocsp_url=authorities.ocsp_url(tenant))


def _record(tenant, contract: Contract, ca: authorities.OpenedAuthority,
            certificate: x509.Certificate) -> IssuedCertificate:
    return IssuedCertificate.objects.create(
        tenant=tenant, contract=contract, issuer=ca.row, serial_number=format(certificate.serial_number, "x"),
        not_before=certificate.not_valid_before_utc, not_after=certificate.not_valid_after_utc,
        certificate_pem=profile.pem(certificate))


def issue(tenant, contract: Contract, csr: x509.CertificateSigningRequest, actor: str) -> Issued:
    """Sign the CSR's key into the contract's certificate and record it. The subject is
    the eMSP's (CN = EMAID); nothing of the CSR but its key is used. Exactly one
    certificate per contract, also when two requests race: the state change is the
    lock, and the loser gets AlreadyIssued."""
    public_key = csr.public_key()
    ca, certificate = _sign(tenant, contract, public_key)
    with transaction.atomic():
        try:
            contracts.transition(contract, State.CERTIFICATE_ISSUED, actor,
                                 serial_number=format(certificate.serial_number, "x"),
                                 key=profile.describe_key(public_key))
        except contracts.TransitionRefused:
            usable(contract)  # says why: already issued (409), or revoked or expired meanwhile (403)
            raise
        record = _record(tenant, contract, ca, certificate)
    return Issued(record, record.certificate_pem, authorities.chain_above(ca.row))


# ---------------------------------------------------------------------------------------
# Renewal (ISO 15118 certificate update): same contract, same EMAID, a new key

RENEWAL_WINDOW = timedelta(days=60)  # an EV may go weeks without charging: ask early
SUPERSEDED = "superseded"  # RFC 5280: replaced by a new certificate, nothing compromised


class NotRenewable(Exception):
    """The contract's certificate cannot or need not be renewed now (409)."""


@dataclass(frozen=True)
class Renewed(Issued):
    replaces: IssuedCertificate


def current_certificate(contract: Contract) -> IssuedCertificate | None:
    """The contract's certificate in force: its newest one, not revoked."""
    return (IssuedCertificate.objects.filter(contract=contract, revoked_at__isnull=True)
            .select_related("issuer").order_by("-created_at", "-id").first())


def renewal_reason(contract: Contract, current: IssuedCertificate | None, now: datetime) -> str:
    """Why the contract's certificate may be renewed now ("issuer replaced" or "expires
    soon"); NotRenewable says why not. A renewal that would end no later than the
    certificate in force, from the same CA, would change nothing but the key."""
    if contract.state != State.CERTIFICATE_ISSUED:
        raise NotRenewable(f"the contract is {contract.state}: only a contract with its certificate issued "
                           f"can renew it")
    if contract.ends_at <= now:
        raise NotRenewable("the contract has ended")
    if current is None:
        raise NotRenewable("the contract has no certificate in force")
    if not current.issuer.issuing:
        return "issuer replaced"
    if current.not_after >= contract.ends_at:
        raise NotRenewable(f"the certificate in force lasts until the contract ends ({current.not_after:%Y-%m-%d}); "
                           f"a longer contract needs a new authorization")
    if current.not_after - now > RENEWAL_WINDOW:
        raise NotRenewable(f"the certificate in force is valid until {current.not_after:%Y-%m-%d}; it can be "
                           f"renewed from {current.not_after - RENEWAL_WINDOW:%Y-%m-%d}")
    return "expires soon"


def renew(tenant, contract: Contract, csr: x509.CertificateSigningRequest, actor: str) -> Renewed:
    """A new certificate for the contract's EMAID and the CSR's new key, without a new
    consent: the driver's approval still stands. The certificate in force stays valid
    until the new one is recorded; then, in the same transaction, it is revoked as
    `superseded` and its CA's CRL republished, so a contract has one valid certificate
    at a time and an old key (an EV sold, a head unit replaced) stops working."""
    public_key = csr.public_key()
    with transaction.atomic():
        # The contract row is the lock: a revocation or another renewal waits for us.
        contract = Contract.objects.select_for_update().get(pk=contract.pk)
        now = timezone.now()
        current = current_certificate(contract)
        why = renewal_reason(contract, current, now)
        if _same_key(public_key, current):
            raise profile.RefusedCsr("the certificate request carries the key of the certificate in force; "
                                     "a renewal needs a new key pair")
        try:
            ca, certificate = _sign(tenant, contract, public_key)
        except NoContract as exc:
            raise NotRenewable(str(exc)) from None
        if why == "expires soon" and certificate.not_valid_after_utc <= current.not_after:
            raise NotRenewable(f"a new certificate would end no later than the one in force: the issuing "
                               f"Sub-CA 2 ends on {ca.certificate.not_valid_after_utc:%Y-%m-%d} "
                               f"(pnc ca rollover first)")
        record = _record(tenant, contract, ca, certificate)
        IssuedCertificate.objects.filter(pk=current.pk).update(revoked_at=now, revocation_reason=SUPERSEDED)
        Contract.objects.filter(pk=contract.pk).update(state_changed_at=now)
        contracts.audit(contract, actor, "contract.certificate_renewed", serial_number=record.serial_number,
                        replaces=current.serial_number, replaced_reason=SUPERSEDED, why=why,
                        key=profile.describe_key(public_key))
        revocation.publish_crl(current.issuer)
    current.refresh_from_db()
    return Renewed(record, record.certificate_pem, authorities.chain_above(ca.row), current)


def _same_key(public_key, issued: IssuedCertificate) -> bool:
    old = x509.load_pem_x509_certificate(issued.certificate_pem.encode()).public_key()
    encoding, form = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return old.public_bytes(encoding, form) == public_key.public_bytes(encoding, form)
