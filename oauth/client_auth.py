"""Client authentication at the token, PAR, introspection and revocation endpoints.

Methods (RFC 6749 §2.3, RFC 7523 §2.2): `client_secret_basic`, `client_secret_post`,
`private_key_jwt`, and `none` for public clients. A client uses the one method it
registered; a request carrying two is refused (RFC 6749 §2.3). Every failure is the same
`invalid_client`, so a caller cannot tell an unknown client from a wrong secret, and an
unknown client costs the same hash as a known one.
"""
import base64
import json
from urllib.parse import unquote_plus

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.http import HttpRequest
from django.utils import timezone

from lib import throttle
from lib.hashing import MachineSecretHasher
from lib.prepared import Prepared
from lib.verified import RecentlyVerified

from . import assertions, issuer, jti
from .errors import OAuthError
from .models import Client, TrustedKey
from .params import requested_scopes

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_DUMMY_SECRET_HASH = None


class ClientSecretHasher(MachineSecretHasher):
    """A generated client secret carries far more entropy than a password, so the hash
    need only resist a leaked table (OWASP's lightest argon2id profile), and like every
    hash it runs through the process-wide gate (`lib.hashing`)."""


def hash_secret(secret: str) -> str:
    return make_password(secret, hasher=ClientSecretHasher())


# Client secrets this process verified lately: a client asking for tokens again within
# this time costs no argon2 run, and is not refused with 503 while a flood of wrong
# secrets fills the hashing gate (lib/verified.py says what is kept, and why it is safe).
VERIFIED_TTL_SECONDS = 15 * 60
_recently_verified = RecentlyVerified(VERIFIED_TTL_SECONDS, max_entries=10_000)


def _secret_matches(secret: str, encoded: str) -> bool:
    raw = secret.encode("utf-8", "surrogatepass")
    if _recently_verified.matches(encoded, raw):
        return True
    if check_password(secret, encoded):
        _recently_verified.remember(encoded, raw)
        return True
    return False


def _fail(description: str = "client authentication failed") -> OAuthError:
    return OAuthError("invalid_client", description)


def _basic_credentials(request: HttpRequest) -> tuple[str, str] | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        raise _fail("unsupported authentication scheme")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except ValueError:  # not base64 (binascii.Error), not ASCII, not UTF-8
        raise _fail("malformed Basic credentials") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise _fail("malformed Basic credentials")
    # RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
    return unquote_plus(client_id), unquote_plus(secret)


def _burn_a_hash(secret: str) -> None:
    """Spend what checking a real secret costs, so timing does not reveal client ids."""
    global _DUMMY_SECRET_HASH
    if _DUMMY_SECRET_HASH is None:
        _DUMMY_SECRET_HASH = hash_secret("not a client secret")
    check_password(secret, _DUMMY_SECRET_HASH)


# Read on every request (a retired record or withdrawn grant refuses the very next one),
# compiled once (lib/prepared.py); scoped by tenant like `for_tenant`.
_client_at = Prepared(lambda tenant_id, client_id: Client.objects.filter(
    tenant_id=tenant_id, client_id=client_id).order_by("pk")[:1], tenant_id=int, client_id=str)
_records_of_tenant = Prepared(lambda tenant_id, kid: TrustedKey.objects.filter(
    tenant_id=tenant_id, kid=kid).select_related("client").order_by("pk"), tenant_id=int, kid=str)
_records_of_client = Prepared(lambda tenant_id, client_id, kid: TrustedKey.objects.filter(
    tenant_id=tenant_id, client_id=client_id, kid=kid).select_related("client").order_by("pk"),
    tenant_id=int, client_id=int, kid=str)


def _client(tenant, client_id: str) -> Client | None:
    if not client_id:
        return None
    client = _client_at.first(tenant_id=tenant.pk, client_id=client_id)
    if client is not None:
        client.tenant = tenant  # the row it was scoped by: no second read, and its signing kid comes along
    return client


CREDENTIAL_PARAMS = ("client_id", "client_secret", "client_assertion", "client_assertion_type")


def presents_credentials(request: HttpRequest, params: dict[str, str]) -> bool:
    """Whether the request tries to identify a client at all (what `authenticate` reads)."""
    return bool(request.META.get("HTTP_AUTHORIZATION")) or any(k in params for k in CREDENTIAL_PARAMS)


def authenticate(request: HttpRequest, tenant, params: dict[str, str], *, endpoint: str) -> Client:
    """The client that sent this request, authenticated; or `invalid_client` (401)."""
    basic = _basic_credentials(request)
    has_secret = "client_secret" in params
    has_assertion = "client_assertion" in params or "client_assertion_type" in params
    if sum([basic is not None, has_secret, has_assertion]) > 1:
        raise OAuthError("invalid_request", "use exactly one client authentication method")
    if basic is not None:
        client_id, secret = basic
        if params.get("client_id", client_id) != client_id:
            raise OAuthError("invalid_request", "client_id differs from the authenticated client")
        return _by_secret(request, tenant, client_id, secret, Client.AuthMethod.CLIENT_SECRET_BASIC)
    if has_secret:
        if "client_id" not in params:
            raise _fail()
        return _by_secret(request, tenant, params["client_id"], params["client_secret"],
                          Client.AuthMethod.CLIENT_SECRET_POST)
    if has_assertion:
        return _by_assertion(tenant, params, endpoint)
    client = _client(tenant, params.get("client_id", ""))
    if client is None or client.token_endpoint_auth_method != Client.AuthMethod.NONE:
        raise _fail()
    return client


def _by_secret(request: HttpRequest, tenant, client_id: str, secret: str, method: str) -> Client:
    # Throttled like user passwords (lib.throttle): per client id and address, before any
    # hash runs; an unknown client id counts like a known one.
    subject, source = f"{tenant.slug}/{client_id}", request.META.get("REMOTE_ADDR") or "unknown"
    throttle.clients.check_or_raise(subject, source)
    client = _client(tenant, client_id)
    if client is None or client.token_endpoint_auth_method != method or not client.client_secret:
        _burn_a_hash(secret)
        throttle.clients.failed(subject, source)
        raise _fail()
    if not _secret_matches(secret, client.client_secret):
        throttle.clients.failed(subject, source)
        raise _fail()
    throttle.clients.succeeded(subject, source)
    return client


def _unverified_subject(token: str) -> str:
    """The `sub` of an assertion, read before verification only to find which client's
    trust records to verify it against; it is verified (iss = sub = client) after."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return claims["sub"] if isinstance(claims, dict) and isinstance(claims.get("sub"), str) else ""
    except (IndexError, ValueError, RecursionError):
        return ""


def _by_assertion(tenant, params: dict[str, str], endpoint: str) -> Client:
    if params.get("client_assertion_type") != ASSERTION_TYPE or "client_assertion" not in params:
        raise _fail(f"client_assertion_type must be {ASSERTION_TYPE}, with a client_assertion")
    token = params["client_assertion"]
    client_id = params.get("client_id") or _unverified_subject(token)
    client = _client(tenant, client_id)
    if client is None or client.token_endpoint_auth_method != Client.AuthMethod.PRIVATE_KEY_JWT:
        raise _fail()
    requested = requested_scopes(params) if endpoint == "token" else None
    try:
        verified = verify_assertion(tenant, token, purpose="client_auth", client=client, endpoint=endpoint,
                                    requested_scopes=requested)
    except assertions.AssertionRejected as exc:
        if exc.error == "invalid_scope":
            raise OAuthError("invalid_scope", exc.description) from None
        raise _fail(exc.description) from None
    if verified.record.client_id != client.pk:
        raise _fail()
    # The trust record bounds what the client may ask for (OSDM: uic_osdm).
    client.assertion_scopes = verified.scopes
    return client


def audiences(tenant, endpoint: str) -> set[str]:
    """What an assertion's `aud` may name: the token endpoint (RFC 7523), the issuer
    (RFC 7523bis, OpenID Connect), or the endpoint it was sent to."""
    return {issuer.endpoint(tenant, "token"), issuer.issuer(tenant), issuer.endpoint(tenant, endpoint)}


def verify_assertion(tenant, token: str, *, purpose: str, endpoint: str, client: Client | None = None,
                     requested_scopes=None):
    """Validate an RFC 7523 assertion against the tenant's trust records and spend its
    `jti`. The one path for both the jwt-bearer grant and private_key_jwt."""
    now = timezone.now()

    def find_records(kid: str):
        if client is None:
            found = _records_of_tenant(tenant_id=tenant.pk, kid=kid)
        else:
            found = _records_of_client(tenant_id=tenant.pk, client_id=client.pk, kid=kid)
        for record in found:
            record.client.tenant = tenant  # as in _client
        return found

    verified = assertions.validate(
        token, purpose=purpose, find_records=find_records,
        audiences=audiences(tenant, endpoint), now=now,
        leeway_seconds=settings.OAUTH["ASSERTION_LEEWAY_SECONDS"],
        max_lifetime_seconds=settings.OAUTH["ASSERTION_MAX_LIFETIME_SECONDS"],
        requested_scopes=requested_scopes, client_id=client.client_id if client else None)
    jti.spend(jti.Jti(tenant, verified.record.issuer, verified.jti, verified.expires_at, purpose))
    return verified
