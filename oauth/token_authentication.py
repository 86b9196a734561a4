"""Bearer access tokens (RFC 6750) as a DRF authentication class: the tenant comes from
the URL (`tenant` kwarg), and a token is checked against that tenant's keys, issuer and
audience only, so one tenant's token is worthless at another's API.

Its own module, importing nothing of `rest_framework.views`: the project's settings name
it among DRF's default authentication classes (for the operator API, `csms.api_access`),
and DRF imports those while `rest_framework.views` itself is being imported.
"""
from dataclasses import dataclass

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from lib.challenges import ChallengedAuthenticationFailed
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
            raise ChallengedAuthenticationFailed("invalid_token: empty bearer token", challenge(request, "invalid_token"))
        slug = request.parser_context["kwargs"].get("tenant", "")
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            raise exceptions.NotFound()
        try:
            verified = tokens.verify_access_token(tenant, token)
        except tokens.InvalidToken as exc:
            raise ChallengedAuthenticationFailed(f"invalid_token: {exc}", challenge(request, "invalid_token")) from None
        record = verified.record
        user = record.user or TokenClient(record.application.client_id, record.subject)
        return user, verified

    def authenticate_header(self, request):
        if "tenant" not in request.parser_context["kwargs"]:
            return None  # no tenant, no realm to name: not a resource of an authorization server
        return challenge(request, None)

    def scope_challenge(self, request, scopes: list[str]) -> str:
        """For `lib.api.InsufficientScope`: the token is good, its scopes are not."""
        return challenge(request, "insufficient_scope", " ".join(scopes))


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
