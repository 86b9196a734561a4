"""Bearer access tokens (RFC 6750) for our own APIs, in Django REST framework.

A view opts in with `authentication_classes = [BearerTokenAuthentication]` and
`permission_classes = [HasScope]` plus `required_scopes`. The tenant comes from the
URL (`tenant` kwarg): a token is checked against that tenant's keys, issuer and
audience only, so one tenant's token is worthless at another's API.
"""
from dataclasses import dataclass

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission

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
            raise exceptions.AuthenticationFailed(f"invalid_token: {exc}") from None
        record = verified.record
        user = record.user or TokenClient(record.application.client_id, record.subject)
        return user, verified

    def authenticate_header(self, request):
        slug = request.parser_context["kwargs"].get("tenant", "")
        return f'Bearer realm="{issuer.issuer(Tenant(slug=slug))}"'


class HasScope(BasePermission):
    """The token carries every scope in the view's `required_scopes`; otherwise 403
    with `insufficient_scope` (RFC 6750 §3.1)."""

    def has_permission(self, request, view):
        verified = request.auth
        if not isinstance(verified, tokens.Verified):
            return False
        granted = set(str(verified.claims.get("scope", "")).split())
        missing = set(getattr(view, "required_scopes", ())) - granted
        if missing:
            self.message = f"insufficient_scope: needs {' '.join(sorted(missing))}"
            return False
        return True
