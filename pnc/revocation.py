"""Revocation: a revoked contract revokes its certificate and its tokens, and the
issuing CA's CRL is republished at once. CRLs are kept on the CA row and reissued
before they go stale, so serving one is a read."""
from datetime import timedelta

from cryptography.hazmat.primitives import serialization
from django.db import transaction
from django.utils import timezone

from oauth.grants import revoke_issued_from

from . import authorities, contracts, profile
from .models import CertificateAuthority, Contract, IssuedCertificate

CRL_VALIDITY = timedelta(days=7)
CRL_REFRESH_BEFORE = timedelta(days=3)  # reissue when less than this is left


def publish_crl(ca: CertificateAuthority, *, final: bool = False) -> bytes:
    """Sign and store the CA's next CRL: every certificate it issued that is revoked
    and not yet expired (RFC 5280 §3.3: an expired one may leave the list). A `final`
    one, signed just before the key is destroyed (pnc.retirement), is valid until the CA
    itself ends: nothing it signed can change state after that, and nothing can sign
    another."""
    with transaction.atomic():
        ca = CertificateAuthority.objects.select_for_update().get(pk=ca.pk)
        now = timezone.now().replace(microsecond=0)
        next_update = ca.not_after if final else now + CRL_VALIDITY
        revoked = [profile.Revoked(int(c.serial_number, 16), c.revoked_at, c.revocation_reason or "unspecified")
                   for c in IssuedCertificate.objects.filter(issuer=ca, revoked_at__isnull=False,
                                                              not_after__gt=now).order_by("revoked_at", "id")]
        opened = authorities.open_authority(ca)
        number = ca.crl_number + 1
        der = profile.crl(opened.certificate, opened.private_key, revoked, number=number, this_update=now,
                          next_update=next_update).public_bytes(serialization.Encoding.DER)
        CertificateAuthority.objects.filter(pk=ca.pk).update(crl_number=number, crl_der=der,
                                                             crl_next_update=next_update)
    return der


def current_crl(ca: CertificateAuthority) -> bytes:
    """The CA's CRL as stored, reissued first when it is missing or nearly stale.
    NoAuthority when no CRL of ours can be had: the key is held by another PKI."""
    if ca.retired_at is not None:
        if ca.crl_der is None:  # an imported CA without its key, retired with its hierarchy
            raise authorities.NoAuthority(f"{ca} was retired, and its CRL is published by the PKI that held its key")
        return bytes(ca.crl_der)  # its final CRL
    if ca.crl_der is None or ca.crl_next_update - timezone.now() < CRL_REFRESH_BEFORE:
        return publish_crl(ca)
    return bytes(ca.crl_der)


def revoke_contract(contract: Contract, actor: str, reason: str = "unspecified") -> Contract:
    """Revoke the contract, its certificates and the tokens of its authorization, and
    republish the CRLs that list them."""
    if reason not in profile.REASONS:
        raise ValueError(f"reason must be one of {', '.join(profile.REASONS)}")
    with transaction.atomic():
        contract = contracts.transition(contract, Contract.State.REVOKED, actor, reason=reason)
        certificates = IssuedCertificate.objects.filter(contract=contract, revoked_at__isnull=True)
        issuers = set(certificates.values_list("issuer_id", flat=True))
        certificates.update(revoked_at=timezone.now(), revocation_reason=reason)
        if contract.grant is not None:
            revoke_issued_from(contract.grant)
        # A retired CA issued nothing still valid (pnc.retirement), so what it lists cannot change.
        for ca in CertificateAuthority.objects.filter(pk__in=issuers, retired_at__isnull=True):
            publish_crl(ca)
    return contract


STANDING = (Contract.State.AUTHORIZED, Contract.State.CERTIFICATE_ISSUED)
WITHDRAWN = "privilegeWithdrawn"  # RFC 5280: the holder's approval behind it was withdrawn


def on_approval_withdrawn(sender, grant, actor, **kwargs) -> None:
    """The withdrawal is audited, and the approval's contract revoked with it (if it
    still stands)."""
    contract = Contract.objects.for_tenant(grant.tenant).filter(grant=grant).first()
    contracts.audit_withdrawal(grant, actor, contract)
    if contract is not None and contract.state in STANDING:
        try:
            revoke_contract(contract, actor, WITHDRAWN)
        except contracts.TransitionRefused:
            pass  # revoked or expired meanwhile: what the withdrawal wanted
