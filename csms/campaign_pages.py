"""Rotation campaigns in the portal: the list with each campaign's progress, starting
one over the stations the station list's filters select (with concurrency, canary and
failure limit), a campaign's live progress and its stations' outcomes, and pause /
resume / abort. Starting and every state change go through `csms.campaigns`, and the
request is checked by the REST API's own serializer, so the bounds are the same."""
from functools import wraps

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRefresh

from lib.paging import KeysFirstPaginator
from tenants.access import tenant_page
from tenants.models import Role

from . import campaigns
from .api_campaigns import CampaignRequestSerializer
from .auth.station_auth import SCHEMES
from .models import CampaignMember, KeyOrigin, RegistrationStatus, RotationCampaign
from .pages import ask_first, flat_errors
from .station_filters import StationFilter

LIST_SIZE = 25
MEMBERS_SIZE = 50
# The station list's filters a campaign form offers (its ordering does not choose stations).
FILTERS = [name for name in StationFilter.base_filters if name != "ordering"]
SETTINGS = ("name", "concurrency", "canary_size", "max_failure_percent")


def campaign_of(tenant, campaign_id: int) -> RotationCampaign:
    return get_object_or_404(RotationCampaign.objects.for_tenant(tenant).select_related("tenant"), pk=campaign_id)


@tenant_page()
def campaign_list(request, tenant):
    listed = campaigns.counted(RotationCampaign.objects.for_tenant(tenant).order_by("-created_at", "-id"))
    page = Paginator(listed, LIST_SIZE).get_page(request.GET.get("page"))
    rows = [(c, campaigns.progress(campaigns.counts_of(c)), campaigns.counts_of(c)) for c in page]
    return render(request, "csms/campaign_list.html", {"tenant": tenant, "page": page, "rows": rows, "query": ""})


def form_context(tenant, post=None, errors=None) -> dict:
    return {"tenant": tenant, "values": post or {"concurrency": 10, "canary_size": 5, "max_failure_percent": 20},
            "errors": errors or {}, "registrations": RegistrationStatus.choices, "key_origins": KeyOrigin.choices,
            "auth_method_choices": [name.lower() for name in SCHEMES.names()]}


@tenant_page(Role.OPERATOR)
def campaign_new(request, tenant):
    """GET: the form. POST: check it, ask first (naming how many stations it selects),
    then start the campaign and show its page."""
    if request.method != "POST":
        return render(request, "csms/campaign_new.html", form_context(tenant))
    chosen_filter = {name: request.POST[name] for name in FILTERS if request.POST.get(name, "").strip()}
    body = CampaignRequestSerializer(data={**{k: request.POST[k] for k in SETTINGS if request.POST.get(k, "") != ""},
                                           "filter": chosen_filter})
    if not body.is_valid():
        return render(request, "csms/campaign_new.html",
                      form_context(tenant, request.POST, flat_errors(body.errors)), status=400)
    settings = body.validated_data
    try:
        stations = campaigns.choose(tenant, filter=settings["filter"])
        if not stations:
            raise campaigns.BadSelection({"filter": ["these filters select no station"]})
    except campaigns.BadSelection as exc:
        return render(request, "csms/campaign_new.html",
                      form_context(tenant, request.POST, flat_errors(exc.errors)), status=400)
    described = ", ".join(f"{k} = {v}" for k, v in chosen_filter.items()) or "no filter: every station"
    asked = ask_first(request, tenant, f"Rotate the keys of {len(stations)} station{'s' if len(stations) != 1 else ''}?",
                      f"Selected by {described}. {settings['canary_size']} go first as a canary, then "
                      f"{settings['concurrency']} at a time; it pauses when more than "
                      f"{settings['max_failure_percent']} % fail.",
                      action_url=reverse("campaign-new", args=[tenant.slug]),
                      cancel_url=reverse("campaign-list", args=[tenant.slug]), title="new campaign")
    if asked:
        return asked
    try:
        campaign = campaigns.start(tenant, stations, actor=request.user.get_username(), name=settings["name"],
                                   concurrency=settings["concurrency"], canary_size=settings["canary_size"],
                                   max_failure_percent=settings["max_failure_percent"])
    except ValueError as exc:  # Overlap among them: another open campaign has some of these stations
        return render(request, "csms/campaign_new.html",
                      form_context(tenant, request.POST, {"stations": [str(exc)]}), status=409)
    messages.success(request, f"Campaign {campaign.pk} started over {len(stations)} stations.")
    return redirect(reverse("campaign-detail", args=[tenant.slug, campaign.pk]))


@tenant_page()
def campaign_detail(request, tenant, campaign_id):
    campaign = campaign_of(tenant, campaign_id)
    context = {"tenant": tenant, **live(campaign)}
    target = request.htmx.target if request.htmx else None
    if target == "campaign-live":
        if request.GET.get("seen", campaign.state) != campaign.state:
            # Paused by its failure limit, or finished: the buttons change with the state, so
            # the whole page is drawn again (once: a finished campaign's page polls no more).
            return HttpResponseClientRefresh()
        return render(request, "csms/_campaign_live.html", context)
    context.update(members(request, campaign))
    if target == "campaign-members":
        return render(request, "csms/_campaign_members.html", context)
    return render(request, "csms/campaign_detail.html", context)


def members(request, campaign: RotationCampaign) -> dict:
    """One page of the campaign's stations, optionally those in one state, oldest first."""
    state = request.GET.get("state", "")
    rows = campaign.members.select_related("station").order_by("id")
    if state in CampaignMember.State.values:
        rows = rows.filter(state=state)
    page = KeysFirstPaginator(rows, MEMBERS_SIZE).get_page(request.GET.get("page"))
    query = f"state={state}" if state in CampaignMember.State.values else ""
    return {"page": page, "state": state, "states": CampaignMember.State.choices, "query": query,
            "members_query": "&".join(filter(None, [query, f"page={page.number}"]))}


def live(campaign: RotationCampaign) -> dict:
    """What the progress part shows; one grouped count (`campaigns.summary`)."""
    summary = campaigns.summary(campaign)
    return {"campaign": campaign, "counts": summary["members"], "progress": campaigns.progress(summary["members"]),
            "open": campaign.state in campaigns.OPEN}


def campaign_action(act):
    """An operator's POST on one of the tenant's campaigns (404 for another's), back to
    its page with the outcome; a state that does not allow it is said, not raised."""
    @require_POST
    @tenant_page(Role.OPERATOR)
    @wraps(act)
    def view(request, tenant, campaign_id):
        campaign = campaign_of(tenant, campaign_id)
        answer = act(request, campaign)
        if answer is not None:
            return answer
        return redirect(reverse("campaign-detail", args=[tenant.slug, campaign.pk]))
    return view


def _change(request, campaign, verb: str, done: str):
    try:
        getattr(campaigns, verb)(campaign, request.user.get_username())
    except ValueError as exc:
        messages.error(request, f"Not {done}: {exc}.")
    else:
        messages.success(request, f"Campaign {campaign.pk} {done}.")


@campaign_action
def pause(request, campaign):
    _change(request, campaign, "pause", "paused")


@campaign_action
def resume(request, campaign):
    _change(request, campaign, "resume", "resumed")


@campaign_action
def abort(request, campaign):
    asked = ask_first(request, campaign.tenant, f"Abort campaign {campaign.pk} ({campaign.name})?",
                      "Its waiting stations are skipped for good; key changes already under way finish.",
                      action_url=reverse("campaign-abort", args=[campaign.tenant.slug, campaign.pk]),
                      cancel_url=reverse("campaign-detail", args=[campaign.tenant.slug, campaign.pk]),
                      title=campaign.name)
    if asked:
        return asked
    _change(request, campaign, "abort", "aborted")
