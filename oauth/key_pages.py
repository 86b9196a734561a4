"""The portal's key pages: the trust records JWT assertions are checked against (RFC 7523,
OSDM) with adding, rolling over and retiring a key, and the tenant's token signing keys
with their rotation. Changes go through `oauth.registration` and `oauth.signing_keys`,
as `manage.py oauth trust|keys` do."""
from datetime import timedelta

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from lib.timestamps import read_instant, rfc3339
from tenants.audit import actor_of
from tenants.confirmation import ask_first
from tenants.models import Role

from . import registration, signing_keys
from .models import STATION_CLIENT_ID, Client, SigningKey, TrustedKey
from .page_access import oauth_page

PAGE_SIZE = 50
DEFAULT_OVERLAP = timedelta(days=7)  # offered for a rollover: a signer's release cycle, typically
# Every algorithm a trust record may name (registration.check_algorithms says which fit a key).
ASSERTION_ALGORITHMS = [alg for algs in registration.ALGORITHMS_BY_KEY.values() for alg in algs]


def trusted(tenant):
    """The tenant's trust records, without its charging stations' (one per station, shown
    and managed on the station pages)."""
    return (TrustedKey.objects.for_tenant(tenant).exclude(client__client_id=STATION_CLIENT_ID)
            .select_related("client"))


def record_of(tenant, pk: int) -> TrustedKey:
    return get_object_or_404(trusted(tenant), pk=pk)


def ask_about(request, record: TrustedKey, url_name: str, question: str, consequence: str):
    """`ask_first` for an action on one trust record, cancelled back to the list."""
    tenant = record.tenant
    return ask_first(request, tenant, question, consequence, action_url=reverse(url_name, args=[tenant.slug, record.pk]),
                     cancel_url=reverse("oauth-trust-list", args=[tenant.slug]), title=record.issuer)


@oauth_page()
def trust_list(request, tenant):
    page = Paginator(trusted(tenant).order_by("issuer", "subject", "created_at", "pk"),
                     PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "oauth/portal/trust_list.html",
                  {"tenant": tenant, "page": page, "query": "", "now": timezone.now()})


def _trust_form(request, tenant, template: str, context: dict, status: int = 200):
    values = {**request.POST.dict(), "algorithms": request.POST.getlist("algorithms")}
    return render(request, template, {"tenant": tenant, "algorithms": ASSERTION_ALGORITHMS,
                                      "values": values, **context}, status=status)


def _spec(post, client: Client) -> registration.TrustSpec:
    try:
        valid_from, valid_until = read_instant(post.get("valid_from")), read_instant(post.get("valid_until"))
    except ValueError:
        raise registration.RegistrationError("dates are written like 2030-01-31T12:00 (UTC)") from None
    return registration.TrustSpec(
        issuer=post.get("issuer", "").strip(), subject=post.get("subject", "").strip(),
        kid=post.get("kid", "").strip(), key_text=post.get("public_key", ""),
        algorithms=post.getlist("algorithms"), scopes=post.get("scopes", "").split() or list(client.scopes),
        valid_from=valid_from, valid_until=valid_until)


@oauth_page(Role.ADMIN)
def trust_new(request, tenant):
    clients = Client.objects.for_tenant(tenant).exclude(client_id=STATION_CLIENT_ID).order_by("client_id")
    context = {"clients": clients}
    if request.method != "POST":
        return _trust_form(request, tenant, "oauth/portal/trust_new.html", context)
    client = clients.filter(client_id=request.POST.get("client_id", "")).first()
    try:
        if client is None:
            raise registration.RegistrationError("choose the client whose tokens the assertions obtain")
        record = registration.add_trust(client, _spec(request.POST, client), actor=actor_of(request))
    except registration.RegistrationError as exc:
        return _trust_form(request, tenant, "oauth/portal/trust_new.html", {**context, "error": str(exc)}, 400)
    messages.success(request, f"Trusting {record.issuer} key {record.kid} for {record.subject}.")
    return redirect(reverse("oauth-trust-list", args=[tenant.slug]))


@oauth_page(Role.ADMIN)
def trust_rollover(request, tenant, pk):
    """GET: the next key's form, with the overlap window. POST: ask, then roll over."""
    record = record_of(tenant, pk)
    context = {"record": record, "overlap_default": (timezone.now() + DEFAULT_OVERLAP).strftime("%Y-%m-%dT%H:%M")}
    if request.method != "POST":
        return _trust_form(request, tenant, "oauth/portal/trust_rollover.html", context)
    try:
        until = read_instant(request.POST.get("overlap_until"))
    except ValueError:
        until = None
    if until is None:
        return _trust_form(request, tenant, "oauth/portal/trust_rollover.html",
                           {**context, "error": "give the end of the overlap like 2030-01-31T12:00 (UTC)"}, 400)
    asked = ask_about(request, record, "oauth-trust-rollover", f"Roll over key {record.kid} of {record.issuer}?",
                      f"The new key is accepted from now; the current key {record.kid} is accepted until "
                      f"{rfc3339(until)} and refused after it.")
    if asked:
        return asked
    try:
        fresh = registration.roll_over_trust(record, kid=request.POST.get("kid", "").strip(),
                                             key_text=request.POST.get("public_key", ""),
                                             algorithms=request.POST.getlist("algorithms"), overlap_until=until,
                                             actor=actor_of(request))
    except registration.RegistrationError as exc:
        return _trust_form(request, tenant, "oauth/portal/trust_rollover.html", {**context, "error": str(exc)}, 400)
    messages.success(request, f"Key {fresh.kid} is trusted from now; {record.kid} until {rfc3339(until)}.")
    return redirect(reverse("oauth-trust-list", args=[tenant.slug]))


@require_POST
@oauth_page(Role.ADMIN)
def trust_retire(request, tenant, pk):
    record = record_of(tenant, pk)
    asked = ask_about(request, record, "oauth-trust-retire", f"Retire key {record.kid} of {record.issuer}?",
                      "Assertions signed with it are refused from now on. This cannot be undone: to trust the "
                      "key again, add it as a new record.")
    if asked:
        return asked
    registration.retire_trust(record, actor=actor_of(request))
    messages.success(request, f"Key {record.kid} of {record.issuer} is retired.")
    return redirect(reverse("oauth-trust-list", args=[tenant.slug]))


@oauth_page()
def signing_key_list(request, tenant):
    signing_keys.published(tenant)  # what has outlived its tokens is marked retired first (as `oauth keys list`)
    return render(request, "oauth/portal/signing_keys.html", {
        "tenant": tenant, "keys": SigningKey.objects.for_tenant(tenant)[:100], "algorithms": signing_keys.ALGORITHMS,
        "publish_ahead_hours": round(signing_keys.publish_ahead().total_seconds() / 3600, 1)})


@require_POST
@oauth_page(Role.ADMIN)
def rotate_signing_key(request, tenant):
    at_once = request.POST.get("at_once") == "yes"
    alg = request.POST.get("alg") or None
    if alg is not None and alg not in signing_keys.ALGORITHMS:
        messages.error(request, f"Not rotated: the algorithm must be one of {', '.join(signing_keys.ALGORITHMS)}.")
        return redirect(reverse("oauth-signing-keys", args=[tenant.slug]))
    asked = ask_first(request, tenant, "Sign with a new key now?" if at_once else "Publish the next signing key?",
                      "New tokens are signed with a fresh key at once; relying parties that cached the JWKS "
                      "refuse them until they fetch it again. For a compromised key." if at_once else
                      f"A fresh key is published now and signs new tokens from "
                      f"{rfc3339(timezone.now() + signing_keys.publish_ahead())}; the current key signs until then.",
                      action_url=reverse("oauth-signing-key-rotate", args=[tenant.slug]),
                      cancel_url=reverse("oauth-signing-keys", args=[tenant.slug]), title="signing keys")
    if asked:
        return asked
    try:
        key = signing_keys.rotate(tenant, alg, at_once=at_once, actor=actor_of(request))
    except signing_keys.RotationError as exc:
        messages.error(request, f"Not rotated: {exc}.")
    else:
        messages.success(request, f"Key {key.kid} ({key.alg}) is " + (
            "active: new tokens are signed with it." if key.state == SigningKey.State.ACTIVE
            else f"published and signs from {rfc3339(key.signs_from)}."))
    return redirect(reverse("oauth-signing-keys", args=[tenant.slug]))
