"""The portal's client pages: the tenant's OAuth clients, one client's registration, and
registering, re-keying and removing one. Every change goes through `oauth.registration`,
as `manage.py oauth client` does, so the form can offer and do nothing it refuses.

A generated secret is in exactly one response, the one answering the POST that made it
(never stored, never redirected through the session, `Cache-Control: no-store`); any
later view of the client shows only that it has one."""
from functools import wraps

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from tenants.audit import actor_of
from tenants.confirmation import ask_first
from tenants.models import Role

from . import rar, registration
from .models import STATION_CLIENT_ID, Client, GrantType
from .page_access import oauth_page

PAGE_SIZE = 50
KEYS_SHOWN = 100


def client_of(tenant, client_id: str) -> Client:
    return get_object_or_404(Client.objects.for_tenant(tenant), client_id=client_id)


@oauth_page()
def client_list(request, tenant):
    clients = Client.objects.for_tenant(tenant).order_by("client_id", "pk")
    page = Paginator(clients, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "oauth/portal/client_list.html", {
        "tenant": tenant, "page": page, "query": "", "station_client": STATION_CLIENT_ID})


@oauth_page()
def client_detail(request, tenant, client_id):
    client = client_of(tenant, client_id)
    keys = client.trusted_keys.order_by("issuer", "created_at", "pk")
    return render(request, "oauth/portal/client_detail.html", {
        "tenant": tenant, "client": client, "redirect_uris": client.redirect_uris.split(),
        "has_secret": registration.has_secret(client), "managed": client.client_id == STATION_CLIENT_ID,
        # The stations' client has a key per station: the first ones, and how many.
        "keys": keys[:KEYS_SHOWN], "key_count": keys.count(), "now": timezone.now()})


def form_context(tenant, values=None, error: str = "") -> dict:
    """The choices are the platform's own lists (what the token endpoint, the metadata
    document and `registration.add_client` accept), never a second copy of them."""
    return {"tenant": tenant, "values": values or {"auth_method": Client.AuthMethod.CLIENT_SECRET_BASIC},
            "error": error, "grant_types": GrantType.choices, "auth_methods": Client.AuthMethod.choices,
            "detail_types": rar.names()}


def spec_from(post) -> registration.ClientSpec:
    jwks = post.get("jwks", "").strip()
    return registration.ClientSpec(
        client_id=post.get("client_id", "").strip(), name=post.get("name", "").strip(),
        redirect_uris=post.get("redirect_uris", "").split(), grant_types=post.getlist("grant_types"),
        scopes=post.get("scopes", "").split(), auth_method=post.get("auth_method", ""),
        require_par=post.get("require_par") == "yes", jwks_text=jwks or None,
        detail_types=post.getlist("detail_types") or None)


@never_cache
@oauth_page(Role.ADMIN)
def client_new(request, tenant):
    """GET: the form. POST: register the client and answer with its secret, this once."""
    if request.method != "POST":
        return render(request, "oauth/portal/client_new.html", form_context(tenant))
    values = {**request.POST.dict(), "grant_types": request.POST.getlist("grant_types"),
              "detail_types": request.POST.getlist("detail_types")}
    try:
        client, secret = registration.add_client(tenant, spec_from(request.POST), actor=actor_of(request))
    except registration.RegistrationError as exc:
        return render(request, "oauth/portal/client_new.html", form_context(tenant, values, str(exc)), status=400)
    return show_secret(request, tenant, client, secret, "registered")


def show_secret(request, tenant, client: Client, secret: str | None, done: str):
    return render(request, "oauth/portal/client_secret.html",
                  {"tenant": tenant, "client": client, "secret": secret, "done": done})


def client_action(url_name: str, question: str, consequence: str, refused: str):
    """An administrator's POST on one of the tenant's clients (404 for another's): asked
    first; a refusal by `oauth.registration` comes back as a message on its page."""
    def decorate(act):
        @never_cache  # an answer may hold a secret
        @require_POST
        @oauth_page(Role.ADMIN)
        @wraps(act)
        def view(request, tenant, client_id):
            client = client_of(tenant, client_id)
            here = reverse("oauth-client-detail", args=[tenant.slug, client.client_id])
            asked = ask_first(request, tenant, question.format(client=client), consequence,
                              action_url=reverse(url_name, args=[tenant.slug, client.client_id]),
                              cancel_url=here, title=client.client_id)
            if asked:
                return asked
            try:
                return act(request, tenant, client)
            except registration.RegistrationError as exc:
                messages.error(request, f"{refused}: {exc}.")
                return redirect(here)
        return view
    return decorate


@client_action("oauth-client-rotate-secret", "Give {client.client_id} a new secret?",
               "The current secret stops working at once: the client's backend must be given the new one. "
               "Tokens already issued stay valid until they expire.", refused="Not rotated")
def rotate_secret(request, tenant, client):
    return show_secret(request, tenant, client, registration.rotate_secret(client, actor=actor_of(request)),
                       "given a new secret")


@client_action("oauth-client-remove", "Remove client {client.client_id}?",
               "Its access and refresh tokens, grants and trust records are deleted with it and stop working "
               "at once. This cannot be undone.", refused="Not removed")
def remove(request, tenant, client):
    registration.remove_client(client, actor=actor_of(request))
    messages.success(request, f"Client {client.client_id} removed.")
    return redirect(reverse("oauth-client-list", args=[tenant.slug]))
