"""Revoking access tokens: the one way this server does it, so that whoever must act on
a revocation hears of it, whatever the path (RFC 7009, a retired station key, a replayed
code, `AccessToken.revoke()` from DOT or the admin).

Revoking deletes the token's record (DOT's semantics: introspection, the APIs and the
CSMS all refuse a token without one). A charging station's tokens (client
`ocpp-stations`) are then announced through `lib.station_authority.tokens_revoked`,
after the transaction commits: the CSMS closes the connection each one opened. After the
commit, not inside it: a handshake with the token reads its record after claiming the
station, so either that read finds it gone (the handshake is refused), or its claim came
first and the CSMS's close, which runs later, finds it (docs/station-auth.md, "Bearer").

The announcement is kept in an outbox: the revoking transaction writes a
`StationTokenRevocation` row per station token, and the row is deleted once every
listener acted. A process killed between the commit and the announcement, or a channel
layer that was down, leaves rows behind; `announce_pending` (the beat runs it every
`OAUTH["REVOCATION_RETRY_SECONDS"]`) announces them again. Announcing twice is harmless:
the CSMS closes only a connection that is open with that very token.

Refresh families (`RefreshToken.revoke_family`, DOT's) delete their access tokens
themselves; a family is never a station's (the jwt-bearer grant issues no refresh token).
Expired tokens purged by housekeeping are not revoked: that is not a revocation.
"""
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from lib import station_authority

from .models import STATION_CLIENT_ID, AccessToken, StationTokenRevocation

# Rows announced per pass: a backlog after a long outage drains over several passes.
ANNOUNCE_BATCH = 500


def revoke_access_tokens(rows) -> int:
    """Revoke the access tokens of the queryset `rows`; how many there were."""
    with transaction.atomic():
        stations = [StationTokenRevocation(tenant_id=tenant_id, identity=subject, jti=jti)
                    for tenant_id, subject, jti in rows.filter(application__client_id=STATION_CLIENT_ID)
                    .values_list("tenant_id", "subject", "jti")]
        _, deleted = rows.delete()
        if stations:
            pending = StationTokenRevocation.objects.bulk_create(stations)
            transaction.on_commit(lambda: _announce(pending), robust=True)
    return deleted.get(AccessToken._meta.label, 0)


def _announce(pending: list[StationTokenRevocation]) -> bool:
    heard = station_authority.tokens_revoked(
        station_authority.RevokedToken(row.tenant_id, row.identity, row.jti) for row in pending)
    if heard:
        StationTokenRevocation.objects.filter(pk__in=[row.pk for row in pending]).delete()
    return heard


def announce_pending(now=None) -> int:
    """Announce again the revocations older than the retry period whose announcement
    never completed; how many were announced. Younger rows are left to the revoking
    process's own announcement, which is normally on its way."""
    now = now or timezone.now()
    due = now - timedelta(seconds=settings.OAUTH["REVOCATION_RETRY_SECONDS"])
    pending = list(StationTokenRevocation.objects.filter(revoked_at__lte=due).order_by("pk")[:ANNOUNCE_BATCH])
    return len(pending) if pending and _announce(pending) else 0
