"""The MO CAs' audit trail: every change to a tenant's hierarchy (created, imported,
rolled over, activated, retired), who made it (a username, `cli`) and which CAs, by
level, key id and subject. Public facts only: never a key, sealed or not.

Written through the platform's one audit function (`tenants.audit.record`); the words
the audit page shows for each action are in pnc/audit_actions.py."""
from tenants import audit


def record(tenant, actor: str, action: str, outcome: str, **detail) -> None:
    audit.record(tenant, actor, action, outcome, **detail)


def described(rows) -> dict[str, str]:
    """The CAs as the trail names them, one entry per level (flat, as the audit log
    page and its CSV show an entry's detail): subject, key id, and whether the key
    stayed with another PKI."""
    return {row.level: f"{row.subject}, key {row.key_id}" + ("" if row.private_key_sealed else ", key held elsewhere")
            for row in rows}
