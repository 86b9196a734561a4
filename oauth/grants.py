"""The token endpoint's grants (RFC 6749 §4.1.3, §4.4, §6; RFC 7523 §2.1)."""
import base64
import hashlib
import hmac
import re

from django.db import transaction
from django.utils import timezone

from tenants.scoping import is_member

from . import assertions, client_auth, revocation, station_keys, tokens
from .authorization_request import granted_scope
from .errors import OAuthError
from .models import AccessToken, Client, Grant, GrantType, RefreshToken
from .params import requested_scopes, require

CODE_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")  # RFC 7636 §4.1


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def _invalid_grant(description: str) -> OAuthError:
    return OAuthError("invalid_grant", description)


def revoke_issued_from(grant: Grant) -> None:
    """A replayed code means it leaked: what it produced may be in the wrong hands."""
    with transaction.atomic():
        for family in (RefreshToken.objects.filter(grant=grant).exclude(token_family=None)
                       .values_list("token_family", flat=True).distinct()):
            RefreshToken.revoke_family(family)
        revocation.revoke_access_tokens(AccessToken.objects.filter(grant=grant))


def _code_problem(grant: Grant, params: dict[str, str], now) -> str | None:
    if grant.expires <= now:
        return "the authorization code has expired"
    if "redirect_uri" in params or grant.redirect_uri_given:
        if params.get("redirect_uri") != grant.redirect_uri:
            return "redirect_uri differs from the authorization request's"
    verifier = params["code_verifier"]
    if not CODE_VERIFIER.fullmatch(verifier) or not hmac.compare_digest(s256(verifier), grant.code_challenge):
        return "PKCE verification failed"
    if not _user_may_hold_tokens(grant.user, grant.tenant_id):
        return "the resource owner can no longer authorize this client"
    return None


def _user_may_hold_tokens(user, tenant_id: int) -> bool:
    return user.is_active and is_member(user, tenant_id)


def authorization_code(client: Client, params: dict[str, str]) -> tokens.Issued:
    """A code is spent on its first presentation, right or wrong, and its tokens are
    minted in the same transaction: a concurrent replay either waits and then finds
    the tokens to revoke, or never sees the code unspent."""
    require(params, "code", "code_verifier")
    now = timezone.now()
    rows = Grant.objects.for_tenant(client.tenant).filter(code=code_hash(params["code"]), application=client)
    with transaction.atomic():
        # The write comes first: it takes the row (PostgreSQL) or database (SQLite) lock
        # before anything is read.
        won = rows.filter(used_at__isnull=True).update(used_at=now) == 1
        grant = rows.select_related("user").first()
        if grant is None:
            raise _invalid_grant("the authorization code is invalid")
        if won:
            problem = _code_problem(grant, params, now)
            if problem is None:
                return tokens.issue(client, subject=str(grant.user.pk), scope=grant.scope, user=grant.user,
                                    authorization_details=grant.authorization_details, grant=grant,
                                    with_refresh=client.allows_grant_type(GrantType.REFRESH_TOKEN))
    if not won:
        revoke_issued_from(grant)
        raise _invalid_grant("the authorization code was already used; the tokens it issued are revoked")
    raise _invalid_grant(problem)


def _narrowed_scope(row: RefreshToken, params: dict[str, str]) -> str:
    if "scope" not in params:
        return row.scope
    if not set(params["scope"].split(" ")) <= set(row.scope.split()):
        raise OAuthError("invalid_scope", "a refresh may only narrow the approved scope")
    return params["scope"]


def refresh_token(client: Client, params: dict[str, str]) -> tokens.Issued:
    """Rotating refresh tokens: each is used once; a second use revokes its family.
    Spending and minting share one transaction, as for codes."""
    require(params, "refresh_token")
    now = timezone.now()
    rows = RefreshToken.objects.for_tenant(client.tenant).filter(
        token_checksum=tokens.checksum(params["refresh_token"]), application=client)
    with transaction.atomic():
        won = rows.filter(revoked__isnull=True).update(revoked=now, updated=now) == 1
        row = rows.select_related("user").first()
        if row is None:
            raise _invalid_grant("the refresh token is invalid")
        if won:
            if tokens.refresh_expired(row, now):
                problem = "the refresh token has expired"
            elif not _user_may_hold_tokens(row.user, row.tenant_id):
                problem = "the resource owner can no longer authorize this client"
            else:
                scope = _narrowed_scope(row, params)  # invalid_scope rolls back: the token stays usable
                AccessToken.objects.filter(pk=row.access_token_id).delete()
                return tokens.issue(client, subject=str(row.user.pk), scope=scope, user=row.user,
                                    authorization_details=row.authorization_details, grant=row.grant,
                                    with_refresh=True, family=row.token_family, source_refresh=row,
                                    refresh_scope=row.scope, family_expires_at=row.family_expires_at)
    RefreshToken.revoke_family(row.token_family)
    if not won:
        raise _invalid_grant("the refresh token was already used; its tokens are revoked")
    raise _invalid_grant(problem)


def client_credentials(client: Client, params: dict[str, str]) -> tokens.Issued:
    if client.token_endpoint_auth_method == Client.AuthMethod.NONE:
        raise OAuthError("unauthorized_client", "a public client cannot use client_credentials")
    scope = granted_scope(client, params.get("scope"))
    bounded = getattr(client, "assertion_scopes", None)  # private_key_jwt: the trust record's
    if bounded and "scope" not in params:
        scope = granted_scope(client, " ".join(bounded))
    return tokens.issue(client, subject=client.client_id, scope=scope)


def jwt_bearer(tenant, client: Client | None, params: dict[str, str]) -> tokens.Issued:
    """RFC 7523 §2.1 (the OSDM seed's form): the assertion is the grant; client
    authentication is optional, and if present must be the trust record's client."""
    require(params, "assertion")
    try:
        verified = client_auth.verify_assertion(tenant, params["assertion"], purpose="grant",
                                                endpoint="token", requested_scopes=requested_scopes(params))
    except assertions.AssertionRejected as exc:
        raise OAuthError(exc.error, exc.description) from None
    owner = verified.record.client
    if client is not None and client.pk != owner.pk:
        raise _invalid_grant("the assertion was issued for another client")
    if not owner.allows_grant_type(GrantType.JWT_BEARER):
        raise OAuthError("unauthorized_client", "this client may not use the jwt-bearer grant")
    scope = granted_scope(owner, " ".join(verified.scopes) if verified.scopes else None)
    if station_keys.is_station_client(owner):  # a charging station: a token for its OCPP endpoint
        return tokens.issue(owner, subject=verified.claims["sub"], scope=scope,
                            audience=station_keys.audience(tenant), lifetime=station_keys.lifetime())
    return tokens.issue(owner, subject=verified.claims["sub"], scope=scope)
