"""Storing validated authorization requests and handing out their request URIs.

A request URI is `urn:ietf:params:oauth:request_uri:` + 32 random bytes; only the
SHA-256 of the random part is stored, so a database read gives no usable request URI.
It is bound to the client that pushed it and used once (RFC 9126 §4, §7.3).
"""
import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from .authorization_request import AuthorizationRequest
from .errors import OAuthError
from .models import Client, PushedRequest

URN_PREFIX = "urn:ietf:params:oauth:request_uri:"


def _handle(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def store(client: Client, request: AuthorizationRequest, source: str) -> tuple[PushedRequest, str]:
    """Save the request; return it and the secret its request URI carries."""
    secret = secrets.token_urlsafe(32)
    now = timezone.now()
    row = PushedRequest.objects.create(
        tenant=client.tenant, client=client, source=source, handle=_handle(secret),
        redirect_uri=request.redirect_uri, redirect_uri_given=request.redirect_uri_given,
        scope=request.scope, state=request.state,
        code_challenge=request.code_challenge, authorization_details=request.authorization_details,
        expires_at=now + timedelta(seconds=settings.OAUTH["PAR_SECONDS"]),
        opened_at=now if source == PushedRequest.Source.QUERY else None)
    return row, secret


def open_once(client: Client, request_uri: str) -> PushedRequest:
    """The pushed request behind `request_uri`, marked used; `invalid_request_uri`
    (RFC 9126 §2.4 error of the authorization endpoint) if it is unknown, another
    client's, expired or already used."""
    if not request_uri.startswith(URN_PREFIX):
        raise OAuthError("invalid_request_uri", "request_uri is not one this server issued")
    now = timezone.now()
    rows = PushedRequest.objects.for_tenant(client.tenant).filter(
        handle=_handle(request_uri[len(URN_PREFIX):]), client=client, source=PushedRequest.Source.PUSHED)
    row = rows.first()
    if row is None:
        raise OAuthError("invalid_request_uri", "request_uri is unknown or belongs to another client")
    if row.expires_at <= now:
        raise OAuthError("invalid_request_uri", "request_uri has expired")
    if rows.filter(opened_at__isnull=True).update(opened_at=now) != 1:
        raise OAuthError("invalid_request_uri", "request_uri was already used")
    row.opened_at = now
    return row


def interaction_expired(row: PushedRequest) -> bool:
    """The driver has this long from opening the request to deciding, login included."""
    return row.opened_at + timedelta(seconds=settings.OAUTH["INTERACTION_SECONDS"]) <= timezone.now()
