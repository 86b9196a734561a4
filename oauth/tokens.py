"""JWT access tokens (RFC 9068) and refresh tokens, and their records.

An access token is a JWT signed with the tenant's active key, `typ: at+jwt`. It is also
recorded (by checksum, `AccessToken`), so introspection and revocation work and our own
resource servers can refuse a revoked token before it expires. Refresh tokens are
opaque random strings, stored as checksums only, rotated on every use, and grouped in
families so a replayed one revokes the whole family (RFC 9700 §4.14.2).
"""
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from joserfc import jwt
from joserfc.errors import JoseError
from oauth2_provider.models import set_token_value

from lib import jose
from lib.access import GrantedToken
from lib.prepared import Prepared
from lib.prepared_insert import PreparedInsert

from . import issuer, signing_keys
from . import jti as replay
from .models import AccessToken, Client, Grant, RefreshToken

ACCESS_TOKEN_TYPE = "at+jwt"
MAX_TOKEN_CHARS = 8192
_insert_access_token = PreparedInsert(AccessToken)  # one per token request: its SQL built once


def checksum(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _lifetime(name: str) -> timedelta:
    return timedelta(seconds=settings.OAUTH[name])


@dataclass
class Issued:
    access_token: str
    record: AccessToken
    expires_in: int
    refresh_token: str | None = None

    def response(self) -> dict:
        """The token response (RFC 6749 §5.1, RFC 9396 §7)."""
        body = {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": self.record.scope,
        }
        if self.refresh_token:
            body["refresh_token"] = self.refresh_token
        if self.record.authorization_details:
            body["authorization_details"] = self.record.authorization_details
        return body


def issue(client: Client, *, subject: str, scope: str, user=None, authorization_details=(),
          grant: Grant | None = None, with_refresh: bool = False, family: uuid.UUID | None = None,
          source_refresh: RefreshToken | None = None, refresh_scope: str | None = None,
          family_expires_at: datetime | None = None, audience: str | None = None,
          lifetime: timedelta | None = None) -> Issued:
    """Mint an access token (and, if asked, a refresh token) and record them. `audience`
    and `lifetime`: another resource than the tenant's APIs (a station's OCPP endpoint)
    and its own lifetime, instead of ACCESS_TOKEN_SECONDS."""
    tenant = client.tenant
    now = timezone.now().replace(microsecond=0)
    expires = now + (lifetime or _lifetime("ACCESS_TOKEN_SECONDS"))
    jti = uuid.uuid4().hex
    claims = {
        "iss": issuer.issuer(tenant),
        "sub": subject,
        "aud": audience or issuer.resource_audience(tenant),
        "client_id": client.client_id,
        "scope": scope,
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
        "jti": jti,
    }
    if authorization_details:
        claims["authorization_details"] = list(authorization_details)
    key = signing_keys.signer(tenant)
    token = jwt.encode({"alg": key.alg, "kid": key.kid, "typ": ACCESS_TOKEN_TYPE}, claims, key.private_key,
                       algorithms=[key.alg])
    with transaction.atomic():
        replay.spend_pending()  # the request's assertion jtis, if any (oauth.jti)
        record = AccessToken(tenant=tenant, application=client, user=user, jti=jti, subject=subject,
                             scope=scope, expires=expires, authorization_details=list(authorization_details),
                             grant=grant, source_refresh_token=source_refresh)
        set_token_value(record, token)
        _insert_access_token(record)
        refresh = None
        if with_refresh:
            refresh = secrets.token_urlsafe(32)
            row = RefreshToken(tenant=tenant, application=client, user=user, access_token=record,
                               token_family=family or uuid.uuid4(), grant=grant,
                               scope=scope if refresh_scope is None else refresh_scope,
                               family_expires_at=family_expires_at or now + _lifetime("REFRESH_TOKEN_SECONDS"),
                               authorization_details=list(authorization_details))
            set_token_value(row, refresh)
            row.save()
    return Issued(token, record, int((expires - now).total_seconds()), refresh)


def access_token_seconds() -> int:
    return settings.OAUTH["ACCESS_TOKEN_SECONDS"]


def refresh_expires_at(row: RefreshToken) -> datetime:
    return row.family_expires_at or row.created + _lifetime("REFRESH_TOKEN_SECONDS")


def refresh_expired(row: RefreshToken, now: datetime) -> bool:
    return refresh_expires_at(row) <= now


class InvalidToken(Exception):
    pass


@dataclass(frozen=True)
class Verified(GrantedToken):
    claims: dict
    record: AccessToken

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(str(self.claims.get("scope", "")).split())

    @property
    def client_id(self) -> str:
        return self.record.application.client_id

    @property
    def for_user(self) -> bool:
        return self.record.user_id is not None


# Read for every token a resource server checks, compiled once (lib/prepared.py); scoped
# by tenant like `for_tenant`. A checksum names one record at most.
_record_of = Prepared(lambda tenant_id, token_checksum: AccessToken.objects.filter(
    tenant_id=tenant_id, token_checksum=token_checksum).select_related("application", "user")[:1],
    tenant_id=int, token_checksum=str)


def verify_access_token(tenant, token: str, *, now: datetime | None = None) -> Verified:
    """For our resource servers: the token must be one this tenant issued, signed by a
    key it publishes, for its own APIs, unexpired and not revoked."""
    now = now or timezone.now()
    if len(token) > MAX_TOKEN_CHARS:
        raise InvalidToken("token too long")
    try:
        kid = jose.decode_header(jose.split_compact_jws(token, MAX_TOKEN_CHARS)[0]).get("kid")
    except jose.Refused:
        raise InvalidToken("token signature or format invalid") from None
    key = signing_keys.verifier(tenant, kid) if isinstance(kid, str) and kid else None
    if key is None:
        raise InvalidToken("token not signed by a key of this tenant")
    try:
        decoded = jwt.decode(token, key.public_key, algorithms=[key.alg])
    except (JoseError, ValueError, TypeError):
        raise InvalidToken("token signature or format invalid") from None
    if str(decoded.header.get("typ", "")).lower() not in (ACCESS_TOKEN_TYPE, "application/at+jwt"):
        raise InvalidToken("not an access token")
    claims = decoded.claims
    exp = claims.get("exp")
    if claims.get("iss") != issuer.issuer(tenant) or claims.get("aud") != issuer.resource_audience(tenant):
        raise InvalidToken("token is for another issuer or audience")
    if not isinstance(exp, int) or isinstance(exp, bool) or exp <= now.timestamp():
        raise InvalidToken("token expired")
    record = next(iter(_record_of(tenant_id=tenant.pk, token_checksum=checksum(token))), None)
    if record is None:
        raise InvalidToken("token revoked")
    if record.user is not None and not record.user.is_active:
        raise InvalidToken("the token's user is deactivated")
    return Verified(claims, record)
