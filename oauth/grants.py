"""The token endpoint's grants (RFC 6749 §4.1.3, §4.4, §6; RFC 7523 §2.1)."""
import base64
import hashlib
import hmac
import re

from django.db import transaction
from django.utils import timezone

from . import assertions, client_auth, tokens
from .authorization_request import granted_scope
from .errors import OAuthError
from .models import AccessToken, Client, Grant, GrantType, RefreshToken
from .params import require

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
        AccessToken.objects.filter(grant=grant).delete()


def authorization_code(client: Client, params: dict[str, str]) -> tokens.Issued:
    require(params, "code", "redirect_uri", "code_verifier")
    now = timezone.now()
    rows = Grant.objects.for_tenant(client.tenant).filter(code=code_hash(params["code"]), application=client)
    grant = rows.select_related("user").first()
    if grant is None:
        raise _invalid_grant("the authorization code is invalid")
    # Spent before anything else is checked: a code gets one attempt, right or wrong.
    if rows.filter(used_at__isnull=True).update(used_at=now) != 1:
        revoke_issued_from(grant)
        raise _invalid_grant("the authorization code was already used; the tokens it issued are revoked")
    if grant.expires <= now:
        raise _invalid_grant("the authorization code has expired")
    if params["redirect_uri"] != grant.redirect_uri:
        raise _invalid_grant("redirect_uri differs from the authorization request's")
    verifier = params["code_verifier"]
    if not CODE_VERIFIER.match(verifier) or not hmac.compare_digest(s256(verifier), grant.code_challenge):
        raise _invalid_grant("PKCE verification failed")
    return tokens.issue(client, subject=str(grant.user.pk), scope=grant.scope, user=grant.user,
                        authorization_details=grant.authorization_details, grant=grant,
                        with_refresh=client.allows_grant_type(GrantType.REFRESH_TOKEN))


def refresh_token(client: Client, params: dict[str, str]) -> tokens.Issued:
    """Rotating refresh tokens: each is used once; a second use revokes its family."""
    require(params, "refresh_token")
    now = timezone.now()
    rows = RefreshToken.objects.for_tenant(client.tenant).filter(
        token_checksum=tokens.checksum(params["refresh_token"]), application=client)
    row = rows.select_related("user").first()
    if row is None:
        raise _invalid_grant("the refresh token is invalid")
    if row.revoked or rows.filter(revoked__isnull=True).update(revoked=now, updated=now) != 1:
        RefreshToken.revoke_family(row.token_family)
        raise _invalid_grant("the refresh token was already used; its tokens are revoked")
    if tokens.refresh_expired(row, now):
        raise _invalid_grant("the refresh token has expired")
    scope = row.scope
    if "scope" in params:
        wanted = params["scope"].split(" ")
        if not set(wanted) <= set(row.scope.split()):
            raise OAuthError("invalid_scope", "a refresh may only narrow the approved scope")
        scope = params["scope"]
    AccessToken.objects.filter(pk=row.access_token_id).delete()
    return tokens.issue(client, subject=str(row.user.pk), scope=scope, user=row.user,
                        authorization_details=row.authorization_details, grant=row.grant,
                        with_refresh=True, family=row.token_family, source_refresh=row,
                        refresh_scope=row.scope)


def client_credentials(client: Client, params: dict[str, str]) -> tokens.Issued:
    if client.token_endpoint_auth_method == Client.AuthMethod.NONE:
        raise OAuthError("unauthorized_client", "a public client cannot use client_credentials")
    scope = granted_scope(client, params.get("scope"))
    bounded = getattr(client, "assertion_scopes", None)  # private_key_jwt: the trust record's
    if bounded is not None and "scope" not in params:
        scope = granted_scope(client, " ".join(bounded))
    return tokens.issue(client, subject=client.client_id, scope=scope)


def jwt_bearer(tenant, client: Client | None, params: dict[str, str]) -> tokens.Issued:
    """RFC 7523 §2.1 (the OSDM seed's form): the assertion is the grant; client
    authentication is optional, and if present must be the trust record's client."""
    require(params, "assertion")
    requested = params["scope"].split(" ") if "scope" in params else None
    try:
        verified = client_auth.verify_assertion(tenant, params["assertion"], purpose="grant",
                                                endpoint="token", requested_scopes=requested)
    except assertions.AssertionRejected as exc:
        raise OAuthError(exc.error, exc.description) from None
    owner = verified.record.client
    if client is not None and client.pk != owner.pk:
        raise _invalid_grant("the assertion was issued for another client")
    if not owner.allows_grant_type(GrantType.JWT_BEARER):
        raise OAuthError("unauthorized_client", "this client may not use the jwt-bearer grant")
    scope = granted_scope(owner, " ".join(verified.scopes) if verified.scopes else None)
    return tokens.issue(owner, subject=verified.claims["sub"], scope=scope)
