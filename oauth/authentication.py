"""Bearer access tokens (RFC 6750) for our own APIs, in Django REST framework.

A view opts in by subclassing `BearerProtectedView` and naming its `required_scopes`. The tenant comes from the
URL (`tenant` kwarg): a token is checked against that tenant's keys, issuer and
audience only, so one tenant's token is worthless at another's API.
"""
from dataclasses import dataclass

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission
from rest_framework.views import APIView

from tenants.models import Tenant

from . import issuer, tokens


@dataclass(frozen=True)
class TokenClient:
    """`request.user` for a token obtained without a user (client credentials, JWT
    assertions): the client, with the subject the token names."""

    client_id: str
    subject: str
    is_authenticated: bool = True
    is_anonymous: bool = False

    def get_username(self) -> str:
        return self.subject


class BearerTokenAuthentication(BaseAuthentication):
    def authenticate(self, request):
        scheme, _, token = get_authorization_header(request).decode("latin-1").partition(" ")
        if scheme.lower() != "bearer":
            return None
        token = token.strip()
        if not token:
            raise exceptions.AuthenticationFailed("invalid_token: empty bearer token")
        slug = request.parser_context["kwargs"].get("tenant", "")
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            raise exceptions.NotFound()
        try:
            verified = tokens.verify_access_token(tenant, token)
        except tokens.InvalidToken as exc:
            request._bearer_error = "invalid_token"  # for the challenge (RFC 6750 §3.1)
            raise exceptions.AuthenticationFailed(f"invalid_token: {exc}") from None
        record = verified.record
        user = record.user or TokenClient(record.application.client_id, record.subject)
        return user, verified

    def authenticate_header(self, request):
        return challenge(request, getattr(request, "_bearer_error", None))


def challenge(request, error: str | None, scope: str | None = None) -> str:
    """`WWW-Authenticate: Bearer realm=…[, error=…][, scope=…]` (RFC 6750 §3)."""
    return bearer_challenge(request.parser_context["kwargs"].get("tenant", ""), error, scope)


def bearer_challenge(slug: str, error: str | None = None, scope: str | None = None) -> str:
    """The challenge of the tenant's resource servers, DRF views or not; the realm is
    the tenant's issuer, so a client knows where to get a token."""
    value = f'Bearer realm="{issuer.issuer(Tenant(slug=slug))}"'
    if error:
        value += f', error="{error}"'
    if scope:
        value += f', scope="{scope}"'
    return value


class InsufficientScope(exceptions.PermissionDenied):
    def __init__(self, scopes: list[str]):
        super().__init__(f"insufficient_scope: needs {' '.join(scopes)}")
        self.scopes = scopes


class BearerProtectedView(APIView):
    """Base for views that take our access tokens: a missing scope is 403 with a
    `Bearer error="insufficient_scope"` challenge, as RFC 6750 §3.1 asks."""

    authentication_classes = [BearerTokenAuthentication]
    required_scopes: list[str] = []

    def get_permissions(self):
        return [HasScope()]

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        if isinstance(exc, InsufficientScope):
            response["WWW-Authenticate"] = challenge(self.request, "insufficient_scope", " ".join(exc.scopes))
        return response


class ClientToken(BasePermission):
    """The token was issued to a client for itself (client credentials, a JWT assertion),
    not on a driver's behalf: APIs that act for a whole tenant (the eMSP's) take no
    user's token, whatever scopes a misregistered client could have had approved."""

    message = "this API takes a client's own access token (client_credentials), not one issued for a user"

    def has_permission(self, request, view):
        return isinstance(request.auth, tokens.Verified) and request.auth.record.user_id is None


class BearerScheme(OpenApiAuthenticationExtension):
    """The OpenAPI security scheme of `BearerTokenAuthentication` (drf-spectacular finds
    it by the class)."""

    target_class = "oauth.authentication.BearerTokenAuthentication"
    name = "tenantBearer"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": "An access token (RFC 9068 JWT) from the tenant's own authorization server, "
                               "{PUBLIC_URL}/oauth/<tenant>/token; a token of another tenant is invalid here."}


class HasScope(BasePermission):
    """The token carries every scope in the view's `required_scopes`; otherwise 403
    with `insufficient_scope` (RFC 6750 §3.1)."""

    def has_permission(self, request, view):
        verified = request.auth
        if not isinstance(verified, tokens.Verified):
            return False
        granted = set(str(verified.claims.get("scope", "")).split())
        required = list(getattr(view, "required_scopes", ()))
        if set(required) - granted:
            raise InsufficientScope(required)
        return True
