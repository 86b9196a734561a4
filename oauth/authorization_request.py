"""Validating an authorization request, pushed (RFC 9126) or in the query string.

The same rules hold for both, and all of them are checked before the driver sees
anything: response type, registered redirect URI (exact string match, loopback ports aside: `oauth.redirect_uris`), PKCE with S256
only (RFC 7636; `plain` is refused, RFC 9700 §2.1.1), scope, and authorization details
(RFC 9396, through the type registry in `oauth.rar`).
"""
import re
from dataclasses import dataclass, field
from datetime import datetime

from . import rar, redirect_uris
from .errors import OAuthError
from .models import Client, GrantType

CODE_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # BASE64URL(SHA-256(verifier)), unpadded
MAX_STATE = 2048


@dataclass
class AuthorizationRequest:
    redirect_uri: str
    scope: str
    state: str
    code_challenge: str
    authorization_details: list = field(default_factory=list)
    redirect_uri_given: bool = True


class RedirectableError(OAuthError):
    """An error the redirect URI may receive (RFC 6749 §4.1.2.1): raised only once the
    client and its redirect URI are known good."""

    def __init__(self, error: str, description: str, redirect_uri: str, state: str):
        super().__init__(error, description)
        self.redirect_uri = redirect_uri
        self.state = state


def registered_redirect_uri(client: Client, params: dict[str, str]) -> tuple[str, bool]:
    """The redirect URI and whether the request named it. Compared as an exact string
    with the registered ones (RFC 9700 §4.1.3), loopback ports aside; it may be left out
    only when the client registered exactly one (RFC 6749 §3.1.2.3). Not DOT's
    `redirect_uri_allowed`: it compares parsed parts, so host and scheme case differ."""
    registered = client.redirect_uris.split()
    uri = params.get("redirect_uri")
    if uri is None:
        if len(registered) != 1:
            raise OAuthError("invalid_request", "redirect_uri is required")
        return registered[0], False
    if not redirect_uris.matches(registered, uri):
        raise OAuthError("invalid_request", "redirect_uri is not registered for this client")
    return uri, True


def granted_scope(client: Client, requested: str | None) -> str:
    """The requested scopes if the client may have them all; the client's registered
    scopes when it asks for none (RFC 6749 §3.3)."""
    if requested is None:
        return " ".join(client.scopes)
    wanted = requested.split(" ")
    if any(not s for s in wanted) or len(set(wanted)) != len(wanted):
        raise OAuthError("invalid_scope", "scope must be distinct names separated by single spaces")
    unknown = [s for s in wanted if s not in client.scopes]
    if unknown:
        raise OAuthError("invalid_scope", f"scope not allowed for this client: {' '.join(unknown)[:100]}")
    return requested


def validate(client: Client, params: dict[str, str], *, now: datetime) -> AuthorizationRequest:
    if "request" in params:
        raise OAuthError("request_not_supported", "request objects are not supported")
    if "request_uri" in params:
        raise OAuthError("invalid_request", "request_uri is not allowed here")
    redirect_uri, redirect_uri_given = registered_redirect_uri(client, params)
    state = params.get("state", "")

    def fail(error, description):
        raise RedirectableError(error, description, redirect_uri, state)

    if len(state) > MAX_STATE:
        fail("invalid_request", "state is too long")
    if "response_type" not in params:
        fail("invalid_request", "response_type is required")
    if params["response_type"] != "code":
        fail("unsupported_response_type", "response_type must be code")
    if not client.allows_grant_type(GrantType.AUTHORIZATION_CODE):
        fail("unauthorized_client", "this client may not use the authorization code flow")
    if params.get("response_mode", "query") != "query":
        fail("invalid_request", "response_mode must be query")
    if "code_challenge" not in params:
        fail("invalid_request", "code_challenge is required (PKCE)")
    if params.get("code_challenge_method") != "S256":
        fail("invalid_request", "code_challenge_method must be S256")
    if not CODE_CHALLENGE.fullmatch(params["code_challenge"]):
        fail("invalid_request", "code_challenge must be 43 base64url characters")
    try:
        scope = granted_scope(client, params.get("scope"))
        details = rar.parse(params.get("authorization_details"), now=now,
                            allowed_types=client.authorization_details_types)
    except rar.InvalidAuthorizationDetails as exc:
        fail("invalid_authorization_details", str(exc))
    except RedirectableError:
        raise
    except OAuthError as exc:
        fail(exc.error, exc.description)
    return AuthorizationRequest(redirect_uri, scope, state, params["code_challenge"], details, redirect_uri_given)
