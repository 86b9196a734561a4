"""The MO CAs' audit trail: every change to a tenant's hierarchy (created, imported,
rolled over, activated, retired), who made it (a username, `cli`) and which CAs, by
level, key id and subject. Public facts only: never a key, sealed or not.

One function writes it, so where the trail is kept can change in one line; today it is
`csms.models.AuditEvent`, the platform's audit trail."""
from csms.models import AuditEvent


def record(tenant, actor: str, action: str, outcome: str, **detail) -> None:
    AuditEvent.objects.create(tenant_id=tenant.pk, actor=actor[:150], action=action, outcome=outcome, detail=detail)


def described(rows) -> dict[str, str]:
    """The CAs as the trail names them, one entry per level (flat, as the audit log
    page and its CSV show an entry's detail): subject, key id, and whether the key
    stayed with another PKI."""
    return {row.level: f"{row.subject}, key {row.key_id}" + ("" if row.private_key_sealed else ", key held elsewhere")
            for row in rows}
