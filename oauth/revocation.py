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

Refresh families (`RefreshToken.revoke_family`, DOT's) delete their access tokens
themselves; a family is never a station's (the jwt-bearer grant issues no refresh token).
Expired tokens purged by housekeeping are not revoked: that is not a revocation.
"""
from django.db import transaction

from lib import station_authority

from .models import STATION_CLIENT_ID, AccessToken


def revoke_access_tokens(rows) -> int:
    """Revoke the access tokens of the queryset `rows`; how many there were."""
    with transaction.atomic():
        stations = [station_authority.RevokedToken(tenant_id, subject, jti) for tenant_id, subject, jti in
                    rows.filter(application__client_id=STATION_CLIENT_ID)
                    .values_list("tenant_id", "subject", "jti")]
        _, deleted = rows.delete()
        if stations:
            transaction.on_commit(lambda: station_authority.tokens_revoked(stations), robust=True)
    return deleted.get(AccessToken._meta.label, 0)
