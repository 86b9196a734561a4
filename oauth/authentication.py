"""Bearer access tokens (RFC 6750) for our own APIs, in Django REST framework.

A view opts in by subclassing `BearerProtectedView` and naming its `required_scopes`. The tenant comes from the
URL (`tenant` kwarg): a token is checked against that tenant's keys, issuer and
audience only, so one tenant's token is worthless at another's API.
"""
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.permissions import BasePermission
from rest_framework.views import APIView

from lib.api import InsufficientScope

from . import tokens
from .token_authentication import BearerTokenAuthentication, TokenClient, bearer_challenge, challenge

__all__ = ["BearerTokenAuthentication", "TokenClient", "bearer_challenge", "challenge", "BearerProtectedView",
           "ClientToken", "HasScope", "InsufficientScope"]


class BearerProtectedView(APIView):
    """Base for views that take our access tokens: a missing scope is 403 with a
    `Bearer error="insufficient_scope"` challenge, as RFC 6750 §3.1 asks (`HasScope`
    raises `lib.api.InsufficientScope`, whose problem response carries it)."""

    authentication_classes = [BearerTokenAuthentication]
    required_scopes: list[str] = []

    def get_permissions(self):
        return [HasScope()]


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

    target_class = "oauth.token_authentication.BearerTokenAuthentication"
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
