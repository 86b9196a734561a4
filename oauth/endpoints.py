"""The authorization server's back-channel endpoints: PAR, token, introspection,
revocation. Each is a form POST from a client, answered in JSON, never cached."""
import functools
import logging

from django.conf import settings
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from lib.hashing import HashingBusy
from lib.machine_endpoint import machine_endpoint
from lib.throttle import Throttled

from . import (
    authorization_request,
    client_auth,
    grants,
    issuer,
    jti,
    params,
    pushed_requests,
    revocation,
    signing_keys,
    tokens,
)
from .errors import OAuthError, json_response
from .models import AccessToken, GrantType, PushedRequest, RefreshToken

log = logging.getLogger(__name__)


def back_channel(name: str):
    """POST only, no CSRF (no cookies are involved), OAuth errors as JSON; served past the
    page middleware (portal/machine_http.py)."""
    def wrap(view):
        @machine_endpoint
        @csrf_exempt
        @functools.wraps(view)
        def endpoint(request, tenant):
            t = issuer.authorization_server(tenant, signs=name == "token")
            try:
                if request.method != "POST":
                    raise OAuthError("invalid_request", "use POST", status=405)
                return view(request, t, params.form(request))
            except OAuthError as exc:
                log.info("oauth %s %s: %s %s", t.slug, name, exc.error, exc.description)
                response = exc.response(realm=issuer.issuer(t))
                if exc.status == 405:
                    response["Allow"] = "POST"
                return response
            except (Throttled, HashingBusy) as exc:
                # RFC 6749 has no code for "slow down" here: temporarily_unavailable (its
                # §4.1.2.1) with the HTTP status that says which, and when to come back.
                log.info("oauth %s %s: refused before checking credentials (%s)", t.slug, name,
                         type(exc).__name__)
                response = json_response({"error": "temporarily_unavailable",
                                          "error_description": "too many failed attempts; retry later"
                                          if isinstance(exc, Throttled) else "busy; retry shortly"},
                                         429 if isinstance(exc, Throttled) else 503)
                response["Retry-After"] = str(exc.retry_after)
                return response
            except signing_keys.KeyEncryptionError:
                log.error("oauth %s %s: the signing key does not open (OAUTH_KEY_ENCRYPTION_KEY?)", t.slug, name)
                return json_response({"error": "server_error"}, 500)
        return endpoint
    return wrap


@back_channel("par")
def par(request, tenant, form):
    """RFC 9126: validate everything now, answer 201 with a single-use request URI."""
    client = client_auth.authenticate(request, tenant, form, endpoint="par")
    try:
        validated = authorization_request.validate(client, form, now=timezone.now())
    except authorization_request.RedirectableError as exc:
        raise OAuthError(exc.error, exc.description) from None
    _, secret = pushed_requests.store(client, validated, PushedRequest.Source.PUSHED)
    return json_response({"request_uri": pushed_requests.URN_PREFIX + secret,
                          "expires_in": settings.OAUTH["PAR_SECONDS"]}, 201)


# Grants that change nothing before the token is recorded: their assertions' jtis are
# spent in the token's own transaction (oauth/jti.py).
_JTI_WITH_THE_TOKEN = (GrantType.CLIENT_CREDENTIALS, GrantType.JWT_BEARER)


@back_channel("token")
def token(request, tenant, form):
    params.require(form, "grant_type")
    grant_type = form["grant_type"]
    if grant_type not in GrantType.values:
        raise OAuthError("unsupported_grant_type", "grant_type is not supported")
    if grant_type in _JTI_WITH_THE_TOKEN:
        with jti.spent_with_the_token():
            return _token(request, tenant, form, grant_type)
    return _token(request, tenant, form, grant_type)


def _token(request, tenant, form, grant_type):
    if grant_type == GrantType.JWT_BEARER and not client_auth.presents_credentials(request, form):
        client = None  # RFC 7523 §3.1: client authentication is optional for this grant
    else:
        client = client_auth.authenticate(request, tenant, form, endpoint="token")
        if not client.allows_grant_type(grant_type):
            raise OAuthError("unauthorized_client", "this client may not use this grant type")
    if grant_type == GrantType.AUTHORIZATION_CODE:
        issued = grants.authorization_code(client, form)
    elif grant_type == GrantType.REFRESH_TOKEN:
        issued = grants.refresh_token(client, form)
    elif grant_type == GrantType.CLIENT_CREDENTIALS:
        issued = grants.client_credentials(client, form)
    else:
        issued = grants.jwt_bearer(tenant, client, form)
    return json_response(issued.response())


def _find_token(tenant, form):
    """The access or refresh token record for `token` in this tenant, if any."""
    checksum = tokens.checksum(form["token"])
    order = (RefreshToken, AccessToken) if form.get("token_type_hint") == "refresh_token" else (
        AccessToken, RefreshToken)
    for model in order:
        row = model.objects.for_tenant(tenant).filter(token_checksum=checksum).first()
        if row is not None:
            return row
    return None


@back_channel("introspect")
def introspect(request, tenant, form):
    """RFC 7662. A client may introspect only its own tokens; anything else, expired or
    revoked is `{"active": false}` and nothing more."""
    client = client_auth.authenticate(request, tenant, form, endpoint="introspect")
    if client.token_endpoint_auth_method == client.AuthMethod.NONE:
        raise OAuthError("invalid_client", "public clients cannot introspect tokens")
    params.require(form, "token")
    row = _find_token(tenant, form)
    if row is not None and row.application_id != client.pk:
        row = None
    now = timezone.now()
    if isinstance(row, AccessToken) and row.expires > now:
        exp = int(row.expires.timestamp())
        return json_response({
            "active": True, "token_type": "Bearer", "scope": row.scope, "client_id": client.client_id,
            "sub": row.subject, "aud": issuer.resource_audience(tenant), "iss": issuer.issuer(tenant),
            "exp": exp, "iat": exp - tokens.access_token_seconds(), "jti": row.jti,
            **({"username": row.user.get_username()} if row.user else {}),
            **({"authorization_details": row.authorization_details} if row.authorization_details else {}),
        })
    if isinstance(row, RefreshToken) and row.revoked is None and not tokens.refresh_expired(row, now):
        return json_response({
            "active": True, "token_type": "refresh_token", "scope": row.scope, "client_id": client.client_id,
            "sub": str(row.user_id), "iss": issuer.issuer(tenant), "iat": int(row.created.timestamp()),
            "exp": int(tokens.refresh_expires_at(row).timestamp()),
            **({"authorization_details": row.authorization_details} if row.authorization_details else {}),
        })
    return json_response({"active": False})


@back_channel("revoke")
def revoke(request, tenant, form):
    """RFC 7009: 200 for the client's own tokens and for unknown ones; another client's
    token is refused. Revoking a refresh token revokes its family's access tokens too;
    revoking an access token revokes its refresh family."""
    client = client_auth.authenticate(request, tenant, form, endpoint="revoke")
    params.require(form, "token")
    row = _find_token(tenant, form)
    if row is not None and row.application_id != client.pk:
        # RFC 7009 §2.1: refused, and the client told so.
        raise OAuthError("unauthorized_client", "this token was not issued to this client")
    if isinstance(row, RefreshToken):
        if row.token_family:
            RefreshToken.revoke_family(row.token_family)
        else:
            row.revoke()
    elif isinstance(row, AccessToken):
        refresh = RefreshToken.objects.filter(access_token=row).first()
        if refresh is not None and refresh.token_family:
            RefreshToken.revoke_family(refresh.token_family)
        revocation.revoke_access_tokens(AccessToken.objects.filter(pk=row.pk))
    return json_response({})
