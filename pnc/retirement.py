"""Retiring CAs that no longer issue (`pnc ca retire`): the last step of a rollover,
after which their private keys no longer exist anywhere.

A CA is retired with every CA below it, once nothing they signed still needs a key:
none of them issues, and every contract certificate they issued has expired or is
revoked (renew the rest first: `POST contracts/<EMAID>/certificates`). Each CA whose
key we hold first signs a final CRL, valid until its own certificate ends, and then its
sealed key is erased. What keeps working without the key:

* its certificate and the chains through it: they are public data, stored;
* its CRL, at the same URL: the final one, served as stored;
* not OCSP: every answer is signed when asked (it echoes the nonce and carries the
  time), so the responder answers `unauthorized` for a retired CA and relying parties
  fall back to its CRL (RFC 6960 §2.3). The final CRL says all there is to say: what
  it lists stays revoked, the rest has expired.
"""
from django.db import transaction
from django.utils import timezone

from . import ca_audit, revocation
from .models import CertificateAuthority, IssuedCertificate

MIN_KEY_ID_PREFIX = 8


class RetireRefused(Exception):
    pass


def find(tenant, key_id: str) -> CertificateAuthority:
    """The tenant's CA by its key id, or a unique prefix of at least 8 hex digits."""
    wanted = key_id.strip().lower()
    if len(wanted) < MIN_KEY_ID_PREFIX:
        raise RetireRefused(f"give at least {MIN_KEY_ID_PREFIX} hex digits of the CA's key id (pnc ca show)")
    found = list(CertificateAuthority.objects.for_tenant(tenant).filter(key_id__startswith=wanted)[:2])
    if len(found) != 1:
        raise RetireRefused(f"{tenant.slug} has {'no' if not found else 'more than one'} CA whose key id "
                            f"starts with {wanted}")
    return found[0]


def with_descendants(ca: CertificateAuthority) -> list[CertificateAuthority]:
    """`ca` and every CA below it, parents before children."""
    rows = list(CertificateAuthority.objects.for_tenant(ca.tenant).order_by("created_at", "id"))
    family, ids = [], {ca.pk}
    for row in rows:  # a child is created after its parent
        if row.pk in ids or row.parent_id in ids:
            ids.add(row.pk)
            family.append(row)
    return family


def in_use(rows: list[CertificateAuthority]) -> set[int]:
    """The pks of the issuing CA and the CAs above it, among the tenant's `rows`: retiring
    one of them would retire the issuing CA too, which `retire` refuses (pages offer
    no retirement for them)."""
    by_pk = {row.pk: row for row in rows}
    line, row = set(), next((row for row in rows if row.issuing), None)
    while row is not None:
        line.add(row.pk)
        row = by_pk.get(row.parent_id)
    return line


def _refusal(family: list[CertificateAuthority], now) -> str | None:
    if family[0].retired_at is not None:
        return f"{family[0]} was retired on {family[0].retired_at:%Y-%m-%d}"
    issuing = next((row for row in family if row.issuing), None)
    if issuing is not None:
        return f"{issuing} still issues contract certificates: roll over first (pnc ca rollover)"
    valid = IssuedCertificate.objects.filter(issuer__in=family, revoked_at__isnull=True, not_after__gt=now)
    count = valid.count()
    if count:
        last = valid.order_by("-not_after").values_list("not_after", flat=True).first()
        return (f"{count} contract certificate(s) it signed are still valid, the last until {last:%Y-%m-%d}: "
                f"renew them (POST contracts/<EMAID>/certificates) or wait until then")
    return None


def retire(tenant, key_id: str, actor: str) -> list[CertificateAuthority]:
    """Retire the CA with this key id and every CA below it (RetireRefused: not yet).
    Returns the rows retired now, top first."""
    with transaction.atomic():
        type(tenant).objects.select_for_update().filter(pk=tenant.pk).update()
        now = timezone.now().replace(microsecond=0)
        family = with_descendants(find(tenant, key_id))
        refusal = _refusal(family, now)
        if refusal:
            raise RetireRefused(refusal)
        retired = [row for row in family if row.retired_at is None]
        for row in retired:
            if row.private_key_sealed:
                revocation.publish_crl(row, final=True)
            CertificateAuthority.objects.filter(pk=row.pk).update(private_key_sealed="", retired_at=now)
            ca_audit.record(tenant, actor, "ca.retired", "retired", level=row.level, key_id=row.key_id,
                            subject=row.subject, final_crl=bool(row.private_key_sealed))
        return [CertificateAuthority.objects.get(pk=row.pk) for row in retired]
