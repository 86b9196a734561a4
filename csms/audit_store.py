"""Where `tenants.audit.record` puts what it is told: a `csms.AuditEvent` row, written in
the caller's transaction. Connected once, in `CsmsConfig.ready`."""
from .models import AuditEvent


def store(sender, *, tenant_id, actor, action, outcome, detail, station, **kwargs) -> AuditEvent:
    return AuditEvent.objects.create(tenant_id=tenant_id, actor=actor, action=action, outcome=outcome,
                                     detail=detail, station=station)
