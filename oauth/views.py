"""The authorization server's browser-facing endpoints: authorize and consent, plus the
public JWKS and metadata documents."""
import logging
import secrets
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.db import transaction
from django.http import HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from tenants.scoping import is_member

from . import (
    authorization_request,
    issuer,
    metadata,
    pushed_requests,
    rar,
    scope_words,
    signals,
    signing_keys,
)
from .errors import OAuthError
from .grants import code_hash
from .models import Client, Grant, PushedRequest
from .params import single_values

log = logging.getLogger(__name__)
PENDING = "oauth_pending_requests"  # session key: the requests this browser opened
MAX_PENDING = 10


def public_document(body: dict) -> JsonResponse:
    """A public JSON document: cacheable for a few minutes (relying parties pick up a
    key rotation soon), and readable cross-origin, since browser apps — the PnC user
    agent is one — discover the server from their own origin. It carries no
    credentials, so any origin may read it."""
    response = JsonResponse(body)
    response["Cache-Control"] = "public, max-age=300"
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_GET
def jwks(request, tenant):
    t = issuer.authorization_server(tenant)
    signing_keys.active_key(t)  # a tenant publishes a key before it signs its first token
    return public_document(signing_keys.jwks(t))


@require_GET
def server_metadata(request, tenant):
    """RFC 8414, at both the RFC's URL and the OpenID Connect discovery one."""
    return public_document(metadata.document(issuer.authorization_server(tenant)))


def no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


def redirect_303(url: str) -> HttpResponse:
    """303, not 302: the consent form is a POST and the browser must GET the client."""
    response = HttpResponse(status=303)
    response["Location"] = url
    response["Cache-Control"] = "no-store"
    return response


def to_client(tenant, redirect_uri: str, state: str, **result) -> HttpResponse:
    """The authorization response, success or error, always with `iss` (RFC 9207)."""
    query = {**result, **({"state": state} if state else {}), "iss": issuer.issuer(tenant)}
    separator = "&" if "?" in redirect_uri else "?"
    return redirect_303(redirect_uri + separator + urlencode(query))


def error_page(request, tenant, error: str, description: str, status: int = 400) -> HttpResponse:
    """For errors that must not go to the redirect URI: the client or its redirect URI
    is unknown, so the browser stays here (RFC 6749 §4.1.2.1)."""
    return render(request, "oauth/error.html", {"tenant": tenant, "error": error, "description": description},
                  status=status)


def _remember(request, row: PushedRequest) -> None:
    pending = [pk for pk in request.session.get(PENDING, []) if pk != row.pk][-(MAX_PENDING - 1):]
    request.session[PENDING] = pending + [row.pk]


def authorize(request, tenant):
    """RFC 6749 §4.1.1 with RFC 9126: take a request URI (or, where PAR is not required,
    the parameters), bind the request to this browser, and send the driver to consent."""
    t = issuer.authorization_server(tenant)
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    try:
        query = single_values(request.GET)
    except OAuthError as exc:
        return error_page(request, t, exc.error, exc.description)
    if "client_id" not in query:
        return error_page(request, t, "invalid_request", "client_id is required")
    client = Client.objects.for_tenant(t).filter(client_id=query["client_id"]).first()
    if client is None:
        return error_page(request, t, "invalid_client", "unknown client_id")
    if "request_uri" in query:
        try:
            row = pushed_requests.open_once(client, query["request_uri"])
        except OAuthError as exc:
            return error_page(request, t, exc.error, exc.description)
    elif t.require_pushed_authorization_requests or client.require_par:
        return error_page(request, t, "invalid_request", "this client must push its request first (PAR)")
    else:
        try:
            validated = authorization_request.validate(client, query, now=timezone.now())
        except authorization_request.RedirectableError as exc:
            return to_client(t, exc.redirect_uri, exc.state, error=exc.error, error_description=exc.description)
        except OAuthError as exc:
            return error_page(request, t, exc.error, exc.description)
        row, _ = pushed_requests.store(client, validated, PushedRequest.Source.QUERY)
    _remember(request, row)
    return redirect_303(f"{issuer.issuer(t)}/consent/{row.pk}")


def _pending(request, t, pk: int) -> PushedRequest | None:
    if pk not in request.session.get(PENDING, []):
        return None
    return PushedRequest.objects.for_tenant(t).select_related("client").filter(pk=pk).first()


def consent(request, tenant, pk: int):
    """Show the client and each authorization detail in human terms; approve or deny.
    The form is CSRF-protected; the decision is taken once. The tenant is looked up
    before the login check, so an unknown one is a 404 and not a login page."""
    t = issuer.authorization_server(tenant)
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    row = _pending(request, t, pk)
    if row is None:
        return error_page(request, t, "invalid_request", "this authorization request is not open in this browser")
    if row.decided_at is not None:
        return error_page(request, t, "invalid_request", "this authorization request was already answered")
    if pushed_requests.interaction_expired(row):
        return to_client(t, row.redirect_uri, row.state, error="access_denied",
                         error_description="the authorization request timed out")
    if not is_member(request.user, t.pk):
        return error_page(request, t, "access_denied",
                          f"the account {request.user.get_username()} has no access to {t.name}", status=403)
    if request.method == "GET":
        return no_store(render(request, "oauth/consent.html", {
            "tenant": t, "client": row.client, "request_row": row, "scopes": scope_words.described(row.scope.split()),
            "details": rar.describe(row.authorization_details),
            "redirect_host": urlsplit(row.redirect_uri).netloc or row.redirect_uri,
        }))
    if request.method != "POST":
        return HttpResponseNotAllowed(["GET", "POST"])
    decisions = request.POST.getlist("decision")  # one: `.get` would read deny&approve as approve
    decision = decisions[0] if len(decisions) == 1 else None
    if decision not in ("approve", "deny"):
        return error_page(request, t, "invalid_request", "choose approve or deny")
    return _decide(request, t, row, approve=decision == "approve")


def _decide(request, t, row: PushedRequest, *, approve: bool) -> HttpResponse:
    now = timezone.now()
    with transaction.atomic():
        if PushedRequest.objects.filter(pk=row.pk, decided_at__isnull=True).update(decided_at=now) != 1:
            return error_page(request, t, "invalid_request", "this authorization request was already answered")
        request.session[PENDING] = [pk for pk in request.session.get(PENDING, []) if pk != row.pk]
        if not approve:
            log.info("oauth %s: %s denied %s", t.slug, request.user.get_username(), row.client.client_id)
            return to_client(t, row.redirect_uri, row.state, error="access_denied",
                             error_description="the resource owner denied the request")
        code = secrets.token_urlsafe(32)
        try:
            with transaction.atomic():  # a refused approval leaves no code behind
                grant = Grant.objects.create(
                    tenant=t, user=request.user, application=row.client, code=code_hash(code),
                    expires=now + timedelta(seconds=settings.OAUTH["AUTHORIZATION_CODE_SECONDS"]),
                    redirect_uri=row.redirect_uri, redirect_uri_given=row.redirect_uri_given, scope=row.scope,
                    code_challenge=row.code_challenge,
                    code_challenge_method="S256", authorization_details=row.authorization_details)
                signals.authorization_approved.send(sender=Grant, grant=grant)
        except signals.ApprovalRefused as exc:
            log.warning("oauth %s: approval for %s refused: %s", t.slug, row.client.client_id, exc.description)
            return to_client(t, row.redirect_uri, row.state, error=exc.error, error_description=exc.description)
    log.info("oauth %s: %s approved %s", t.slug, request.user.get_username(), row.client.client_id)
    return to_client(t, row.redirect_uri, row.state, code=code)


def no_server(request):
    """Every other address under the authorization servers' prefixes."""
    raise issuer.NoAuthorizationServer("No authorization server here")
