"""The station pages of the portal: the fleet table, a station's page and the actions
an operator takes on it. Every view passes `tenants.access.tenant_page`, reads through
the tenant's own rows, and acts through the service functions the CLI runs
(`station rotate|set|call`), so a page can do nothing the rules of those forbid."""
from collections import defaultdict
from functools import wraps

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from lib.paging import KeysFirstPaginator
from tenants.access import tenant_page
from tenants.confirmation import ask_first  # also the other csms pages' (`from .pages import`)
from tenants.models import Role

from . import announce, connection_log, credentials, services, station_methods
from .auth.station_auth import SCHEMES
from .models import (
    AuditEvent,
    ConnectorStatus,
    CredentialChange,
    RegistrationStatus,
    Station,
    StationCall,
    StationConnection,
    StationEvent,
    Transaction,
)
from .station_filters import StationFilter

PAGE_SIZE = 100
RECENT = 20  # rows of each history shown on a station's page
RESET_TYPES = {"2.0.1": ("OnIdle", "Immediate"), "1.6": ("Soft", "Hard")}


def station_of(tenant, identity: str) -> Station:
    return get_object_or_404(Station.objects.for_tenant(tenant).select_related("tenant", "credential"),
                             identity=identity)


@tenant_page()
def station_list(request, tenant):
    found = StationFilter(request.GET, queryset=Station.objects.for_tenant(tenant).select_related("credential"))
    stations = found.qs if found.is_valid() else Station.objects.none()
    page = KeysFirstPaginator(stations, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"tenant": tenant, "filter": found, "page": page, "query": query.urlencode(),
               "registrations": RegistrationStatus.choices,
               "auth_method_choices": [name.lower() for name in SCHEMES.names()]}
    if request.htmx and request.htmx.target == "station-results":
        return render(request, "csms/_station_results.html", context)
    return render(request, "csms/station_list.html", context)


@tenant_page()
def station_detail(request, tenant, identity):
    station = station_of(tenant, identity)
    context = {"tenant": tenant, "station": station, "now": timezone.now(), **live_facts(station)}
    if request.htmx and request.htmx.target == "station-live":
        return render(request, "csms/_station_live.html", context)
    context.update(static_facts(station))
    return render(request, "csms/station_detail.html", context)


def live_facts(station: Station) -> dict:
    """What changes while one watches: connection, keys, rotations, calls."""
    cred = getattr(station, "credential", None)
    return {
        "credential": cred,
        "changes": CredentialChange.objects.for_tenant(station.tenant).filter(station=station)[:RECENT],
        "calls": StationCall.objects.for_tenant(station.tenant).filter(station=station)
        .exclude(purpose=StationCall.Purpose.CREDENTIAL).order_by("-created_at", "-id")[:RECENT],
        "connectors": ConnectorStatus.objects.for_tenant(station.tenant).filter(station=station)
        .order_by("evse_id", "connector_id"),
        "transactions": Transaction.objects.for_tenant(station.tenant).filter(station=station)
        .order_by("-created_at", "-id")[:RECENT],
        "audit": AuditEvent.objects.for_tenant(station.tenant).filter(station=station)[:RECENT],
        **connection_history(station),
    }


def connection_history(station: Station) -> dict:
    """The station's last connections, newest first (`StationConnection.KEPT` are kept),
    and the recent frames of those that still have them (the newest
    `StationConnection.WITH_MESSAGES`). Refused handshakes are on the station's
    authentication page."""
    connections = connection_log.recent(station)
    return {"connections": connections, "connections_kept": StationConnection.KEPT,
            "message_logs": [c for k, c in enumerate(connections) if connection_log.shows_frames(k, c)]}


def static_facts(station: Station) -> dict:
    return {
        "methods": station_methods.describe(station),
        "events": StationEvent.objects.for_tenant(station.tenant).filter(station=station)[:RECENT],
        "registrations": RegistrationStatus.choices,
        "reset_types": RESET_TYPES.get(station.ocpp_version, RESET_TYPES["1.6"]),
    }


def flat_errors(errors) -> dict:
    """A serializer's errors by field as plain strings (a nested serializer's under its
    own names), for a form to show next to its fields."""
    flat = {}
    for field, problems in dict(errors).items():
        if isinstance(problems, dict):
            flat.update(flat_errors(problems))
        else:
            flat[field] = [str(p) for p in problems]
    return flat


def confirmed(request, station: Station, action: str, question: str, consequence: str,
              back: str = "station-detail"):
    """None once the operator confirmed (the form carried `confirmed=yes`); otherwise the
    page that asks, carrying the form's fields back to the same action (Cancel: `back`)."""
    return ask_first(request, station.tenant, question.format(
        station=station, post=defaultdict(str, request.POST.items())), consequence,
        action_url=reverse(action, args=[station.tenant.slug, station.identity]),
        cancel_url=reverse(back, args=[station.tenant.slug, station.identity]),
        title=station.identity)


def station_action(url_name: str, *, ask: str = "", consequence: str = "", asks_when=lambda post: True,
                   back: str = "station-detail"):
    """An operator's POST on one station: operator role, the tenant's own station (404
    otherwise), and, for a destructive one, a confirmation page first (`ask`, when
    `asks_when(request.POST)`); then back to the station's page (`back`) with the
    outcome, unless the action answers itself (a secret shown once, a form with errors)."""
    def decorate(act):
        @require_POST
        @tenant_page(Role.OPERATOR)
        @wraps(act)
        def view(request, tenant, identity):
            station = station_of(tenant, identity)
            if ask and asks_when(request.POST):
                asked = confirmed(request, station, url_name, ask, consequence, back)
                if asked:
                    return asked
            answer = act(request, station)
            return answer or redirect(reverse(back, args=[tenant.slug, station.identity]))
        return view
    return decorate


@station_action("station-rotate", ask="Rotate the key of {station.identity} as compromised?",
                consequence="Its current key is retired as soon as the station accepts the new one.",
                asks_when=lambda post: post.get("compromised") == "yes")
def rotate(request, station):
    try:
        change = credentials.request_change(station, "demand", request.user.get_username(),
                                            compromised=request.POST.get("compromised") == "yes")
    except credentials.ChangeRefused as exc:
        messages.error(request, f"Not rotated: {exc}.")
    else:
        messages.success(request, f"Key change {change.pk} queued"
                         + ("." if station.connected else "; it is sent when the station connects."))


@station_action("station-registration", ask="Reject {station.identity}?",
                consequence="Its boots are answered Rejected: it cannot charge until it is accepted again.",
                asks_when=lambda post: post.get("registration") == RegistrationStatus.REJECTED)
def set_registration(request, station):
    status = request.POST.get("registration", "")
    if status not in RegistrationStatus.values:
        messages.error(request, "Choose Accepted, Pending or Rejected.")
    elif services.set_registration(station, status, actor=request.user.get_username()):
        messages.success(request, f"Registration set to {status}; it applies at the station's next boot.")
    else:
        messages.info(request, f"Registration was already {status}.")


@station_action("station-reset", ask="Reset {station.identity} ({post[type]})?",
                consequence="The station restarts; a charging session may be interrupted.")
def reset(request, station):
    try:
        call = services.queue_call(station, "Reset", {"type": request.POST.get("type", "")},
                                   requested_by=request.user.get_username())
    except services.CallRejected as exc:
        messages.error(request, f"Not reset: {exc}")
    else:
        messages.success(request, f"Reset queued (call {call.pk}).")


@station_action("station-disconnect", ask="Disconnect {station.identity}?",
                consequence="Its connection is closed now; the station reconnects on its own.")
def disconnect(request, station):
    if not station.connected:
        messages.info(request, "The station is not connected.")
        return
    announce.revoke_connection(station)
    credentials.audit(station, request.user.get_username(), "station.disconnected")
    messages.success(request, "Disconnected; the station reconnects on its own.")
