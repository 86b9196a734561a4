"""The onboarding queue of the portal: the tenant's anomaly hold with its release, and
the stations waiting to be let in (on a series key, or set Pending), approved or
rejected one by one. Every action calls `csms.onboarding`, as the REST API does."""
from django.contrib import messages
from django.http import QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from lib.paging import KeysFirstPaginator
from tenants.access import tenant_page
from tenants.models import Role

from . import onboarding
from .models import RegistrationStatus, Station
from .pages import ask_first, station_of
from .station_filters import StationFilter

PAGE_SIZE = 50


@tenant_page()
def queue(request, tenant):
    found = StationFilter(request.GET, queryset=onboarding.waiting(tenant))
    stations = found.qs if found.is_valid() else Station.objects.none()
    page = KeysFirstPaginator(stations, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "csms/onboarding.html", {
        "tenant": tenant, "hold": onboarding.hold_of(tenant), "filter": found, "page": page,
        "query": query.urlencode(), "this_page": request.GET.urlencode()})


def back_to_queue(request, tenant):
    """The queue as the operator left it (its filters and page), never another address:
    only the query string travels, re-encoded."""
    query = QueryDict(request.POST.get("back", "")).urlencode()
    return redirect(reverse("onboarding", args=[tenant.slug]) + (f"?{query}" if query else ""))


@require_POST
@tenant_page(Role.OPERATOR)
def release(request, tenant):
    asked = ask_first(request, tenant, "Release the onboarding hold?",
                      "Onboarding was held because unusually many stations connected with a series key. "
                      "Every station waiting on one gets its unique key at its next boot.",
                      action_url=reverse("onboarding-release", args=[tenant.slug]),
                      cancel_url=reverse("onboarding", args=[tenant.slug]), title="onboarding")
    if asked:
        return asked
    try:
        waiting = onboarding.release(tenant, request.user.get_username())
    except onboarding.Refused as exc:
        messages.info(request, f"Nothing released: {exc}.")
    else:
        messages.success(request, f"Onboarding released; {waiting} station{'s' if waiting != 1 else ''} "
                                  "get their unique keys at their next boot.")
    return back_to_queue(request, tenant)


@require_POST
@tenant_page(Role.OPERATOR)
def approve(request, tenant, identity):
    return _decide(request, tenant, identity, RegistrationStatus.ACCEPTED)


@require_POST
@tenant_page(Role.OPERATOR)
def reject(request, tenant, identity):
    station = station_of(tenant, identity)
    asked = ask_first(request, tenant, f"Reject {station.identity}?",
                      "Its boots are answered Rejected: it cannot charge until it is approved.",
                      action_url=reverse("onboarding-reject", args=[tenant.slug, station.identity]),
                      cancel_url=reverse("onboarding", args=[tenant.slug]), title=station.identity)
    return asked or _decide(request, tenant, identity, RegistrationStatus.REJECTED, station)


def _decide(request, tenant, identity, setting, station=None):
    station = station or station_of(tenant, identity)
    try:
        onboarding.decide(station, setting, request.user.get_username())
    except onboarding.Refused as exc:
        messages.info(request, f"{station.identity}: {exc}.")
    else:
        verb = "approved" if setting == RegistrationStatus.ACCEPTED else "rejected"
        messages.success(request, f"{station.identity} {verb}; it applies at the station's next boot.")
    return back_to_queue(request, tenant)
