"""The tenant's MO certificate authorities: creating the hierarchy, opening the issuing
CA's key, and the public URLs of their CRLs and OCSP responder."""
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from lib.prepared import Prepared
from lib.sealing import seal, unseal

from . import profile
from .contracts import record_event
from .models import CertificateAuthority

Level = CertificateAuthority.Level
HIERARCHY = (Level.ROOT, Level.SUB_CA_1, Level.SUB_CA_2)


class NoAuthority(Exception):
    """The tenant has no MO CA that can issue (`pnc ca init` first)."""


class AuthorityExists(Exception):
    pass


@dataclass(frozen=True)
class OpenedAuthority:
    row: CertificateAuthority
    certificate: x509.Certificate
    private_key: object  # never logged, never leaves the process


def public_base(tenant) -> str:
    return f"{settings.PUBLIC_URL}/pnc/{tenant.slug}"


def crl_url(tenant, ca_key_id: str) -> str:
    """Where the CRL of the CA with this key id is published (reserved; docs/pnc.md)."""
    return f"{public_base(tenant)}/crl/{ca_key_id}.crl"


def ocsp_url(tenant) -> str:
    """The tenant's OCSP responder (RFC 6960; reserved, docs/pnc.md)."""
    return f"{public_base(tenant)}/ocsp"


def names(tenant) -> profile.Names:
    return profile.Names(organisation=tenant.name, country=tenant.emsp_country_code)


def _aad(tenant_id: int, key_id: str) -> bytes:
    return f"pnc-ca:{tenant_id}:{key_id}".encode()


def _store(tenant, level: str, certificate: x509.Certificate, key, parent=None, issuing=False):
    key_id = profile.key_id(certificate)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()) if key is not None else b""
    return CertificateAuthority.objects.create(
        tenant=tenant, level=level, parent=parent, subject=certificate.subject.rfc4514_string(), key_id=key_id,
        serial_number=format(certificate.serial_number, "x"), not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc, certificate_pem=profile.pem(certificate),
        private_key_sealed=seal(private, _aad(tenant.pk, key_id)) if private else "", issuing=issuing)


def initialise(tenant, *, actor: str = "cli") -> list[CertificateAuthority]:
    """Root → Sub-CA 1 → Sub-CA 2 with fresh P-256 keys; Sub-CA 2 issues."""
    with transaction.atomic():
        type(tenant).objects.select_for_update().filter(pk=tenant.pk).update()
        if CertificateAuthority.objects.for_tenant(tenant).exists():
            raise AuthorityExists(f"{tenant.slug} already has an MO PKI")
        now = timezone.now().replace(microsecond=0)
        rows, issuer, issuer_key = [], None, None
        for level in HIERARCHY:
            key = profile.new_ca_key()
            pointers = {"crl_url": crl_url(tenant, profile.key_id(issuer)), "ocsp_url": ocsp_url(tenant)} if issuer else {}
            certificate = profile.ca_certificate(level, key, names(tenant), now, issuer=issuer,
                                                 issuer_key=issuer_key, **pointers)
            rows.append(_store(tenant, level, certificate, key, parent=rows[-1] if rows else None,
                               issuing=level == Level.SUB_CA_2))
            issuer, issuer_key = certificate, key
        _audit_made(tenant, actor, "ca.initialised", rows)
        return rows


def import_hierarchy(tenant, certificates: list[x509.Certificate], keys: list, *,
                     actor: str = "cli") -> list[CertificateAuthority]:
    """An existing MO PKI (profile.arrange_hierarchy says what it must be); its keys
    are sealed like generated ones. The certificates are stored as they are: their CRL
    and OCSP pointers are the existing PKI's, ours are in the contract certificates."""
    members = profile.arrange_hierarchy(certificates, keys, timezone.now())
    with transaction.atomic():
        type(tenant).objects.select_for_update().filter(pk=tenant.pk).update()
        if CertificateAuthority.objects.for_tenant(tenant).exists():
            raise AuthorityExists(f"{tenant.slug} already has an MO PKI")
        rows = []
        for member in members:
            rows.append(_store(tenant, member.level, member.certificate, member.private_key,
                               parent=rows[-1] if rows else None, issuing=member.level == Level.SUB_CA_2))
        _audit_made(tenant, actor, "ca.imported", rows)
        return rows


def _audit_made(tenant, actor: str, action: str, rows: list[CertificateAuthority], outcome: str = "") -> None:
    """CAs made or brought in: which (level, key id, subject), never a key."""
    record_event(tenant.pk, actor, action, outcome or f"{len(rows)} CAs", {
        "authorities": [{"level": r.level, "key_id": r.key_id, "subject": r.subject} for r in rows]})


class NotActivatable(Exception):
    pass


def rollover(tenant, level: str = Level.SUB_CA_2, *, staged: bool = False,
             actor: str = "cli") -> list[CertificateAuthority]:
    """A new CA at `level` and new CAs below it take over issuing; the CAs they replace
    keep their keys and go on signing the CRLs and OCSP answers of what they issued
    until it expires (they are not revoked: certificates issued before stay valid).

    * `sub-ca-2`: a new Sub-CA 2 under the issuing one's Sub-CA 1.
    * `sub-ca-1`: a new Sub-CA 1 under the same root, and a new Sub-CA 2 under it (a
      Sub-CA 1 issues no contract certificates itself).
    * `root`: a whole new hierarchy. Relying parties must be given the new root: no
      cross-certificate is made (docs/pnc.md says why).

    Every new CA gets its own name (`… G2`, G3, …), so no two CAs share a subject.
    `staged`: the new CAs are made and published, but issuing stays where it is until
    `activate` (a new root reaches relying parties before anything needs it).
    Returns the new rows, top first; the last one issues, unless staged."""
    level = Level(level)
    with transaction.atomic():
        type(tenant).objects.select_for_update().filter(pk=tenant.pk).update()
        old = (CertificateAuthority.objects.for_tenant(tenant).filter(issuing=True)
               .select_related("parent__parent").first())
        if old is None or old.parent is None or old.parent.parent is None:
            raise NoAuthority(f"{tenant.slug} has no issuing MO Sub-CA 2 (pnc ca init)")
        above = {Level.SUB_CA_2: old.parent, Level.SUB_CA_1: old.parent.parent, Level.ROOT: None}[level]
        issuer = open_authority(above) if above is not None else None
        now = timezone.now().replace(microsecond=0)
        if not staged:
            CertificateAuthority.objects.filter(pk=old.pk).update(issuing=False)
        rows, parent = [], above
        for step in HIERARCHY[HIERARCHY.index(level):]:
            generation = CertificateAuthority.objects.for_tenant(tenant).filter(level=step).count() + 1
            key = profile.new_ca_key()
            pointers = ({"crl_url": crl_url(tenant, parent.key_id), "ocsp_url": ocsp_url(tenant)}
                        if issuer is not None else {})
            certificate = profile.ca_certificate(
                step, key, names(tenant), now, issuer=issuer and issuer.certificate,
                issuer_key=issuer and issuer.private_key, generation=generation, **pointers)
            parent = _store(tenant, step, certificate, key, parent=parent,
                            issuing=step == Level.SUB_CA_2 and not staged)
            rows.append(parent)
            issuer = OpenedAuthority(parent, certificate, key)
        _audit_made(tenant, actor, "ca.rolled_over", rows, f"{level.value}, staged" if staged else level.value)
        return rows


def activate(tenant, key_id: str, actor: str) -> CertificateAuthority:
    """The staged Sub-CA 2 with this key id takes over issuing (NotActivatable: it cannot);
    audited, as where contract certificates come from changes."""
    with transaction.atomic():
        type(tenant).objects.select_for_update().filter(pk=tenant.pk).update()
        row = CertificateAuthority.objects.for_tenant(tenant).filter(key_id=key_id.strip().lower()).first()
        now = timezone.now()
        if row is None or row.level != Level.SUB_CA_2:
            raise NotActivatable(f"{tenant.slug} has no MO Sub-CA 2 with key id {key_id} (pnc ca show)")
        if row.issuing:
            raise NotActivatable(f"{row} issues already")
        if row.retired_at is not None or not row.private_key_sealed:
            raise NotActivatable(f"the private key of {row} is not held here")
        if not row.not_before <= now < row.not_after:
            raise NotActivatable(f"{row} is not valid now")
        CertificateAuthority.objects.for_tenant(tenant).filter(issuing=True).update(issuing=False)
        CertificateAuthority.objects.filter(pk=row.pk).update(issuing=True)
        row.issuing = True
        record_event(tenant.pk, actor, "ca.activated", "issuing", {"key_id": row.key_id, "subject": row.subject})
        return row


def is_staged(row: CertificateAuthority, issuing: CertificateAuthority | None) -> bool:
    """Made by a staged rollover and not activated yet: a Sub-CA 2 newer than the one
    that issues, which has issued nothing."""
    return (row.level == Level.SUB_CA_2 and not row.issuing and row.retired_at is None and issuing is not None
            and (row.created_at, row.pk) > (issuing.created_at, issuing.pk) and not row.issued.exists())


def hierarchy(tenant) -> list[CertificateAuthority]:
    return list(CertificateAuthority.objects.for_tenant(tenant).order_by("created_at", "id"))


# Read for every certificate issued, compiled once (lib/prepared.py); with its parent and
# grandparent, which chain_above() walks for the response.
_issuing_of = Prepared(lambda tenant_id: CertificateAuthority.objects.filter(
    tenant_id=tenant_id, issuing=True).select_related("parent__parent")[:1], tenant_id=int)


def open_issuing(tenant) -> OpenedAuthority:
    row = next(iter(_issuing_of(tenant_id=tenant.pk)), None)
    if row is None or not row.private_key_sealed:
        raise NoAuthority(f"{tenant.slug} has no MO Sub-CA 2 that can issue")
    return open_authority(row)


def open_authority(row: CertificateAuthority) -> OpenedAuthority:
    """The CA's certificate and its private key, unsealed (NoAuthority: not held here)."""
    if not row.private_key_sealed:
        raise NoAuthority(f"the private key of {row} is not held here")
    private = unseal(row.private_key_sealed, _aad(row.tenant_id, row.key_id))
    return OpenedAuthority(row, x509.load_pem_x509_certificate(row.certificate_pem.encode()),
                           serialization.load_pem_private_key(private, password=None))


def chain_above(row: CertificateAuthority) -> list[str]:
    """The PEMs of `row` and its ancestors below the root: what an EV installs with its
    contract certificate (the root is the trust anchor it must already have)."""
    pems = []
    while row is not None and row.level != Level.ROOT:
        pems.append(row.certificate_pem)
        row = row.parent
    return pems
