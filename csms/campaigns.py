"""Rotation campaigns in the database: start, advance, pause, resume."""
import logging

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from lib import labels
from lib.timestamps import rfc3339
from tenants import audit
from tenants.models import Tenant

from . import credentials
from .campaign_rules import Limits, Tally, decide
from .models import CampaignMember, CredentialChange, RotationCampaign, Station
from .station_filters import StationFilter

log = logging.getLogger(__name__)
Member = CampaignMember.State


OPEN = (RotationCampaign.State.RUNNING, RotationCampaign.State.PAUSED)


class Overlap(ValueError):
    """Stations already waiting or in progress in an unfinished campaign: two campaigns
    would rotate the same station twice and count its failures twice."""

    def __init__(self, campaign: RotationCampaign, identities: list[str]):
        self.campaign, self.identities = campaign, identities
        shown = ", ".join(identities[:5]) + (f" and {len(identities) - 5} more" if len(identities) > 5 else "")
        super().__init__(
            f"{len(identities)} of these stations ({shown}) are in campaign {campaign.pk} "
            f"{campaign.name!r} ({campaign.state}), not finished with them: let it complete, or leave "
            "them out of this one")


class BadSelection(ValueError):
    """The stations asked for cannot be chosen: `errors` by field, as a form shows them."""

    def __init__(self, errors: dict):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


def choose(tenant, *, filter: dict | None = None, identities: list[str] | None = None) -> list[Station]:
    """The stations a campaign is asked to rotate: every one the station list's own
    filters select (`filter`, its query parameters; {} is all), or the named ones (each
    must exist). The REST API and the portal both choose through here."""
    fleet = Station.objects.for_tenant(tenant).select_related("tenant")
    if filter is not None:
        found = StationFilter(data=filter, queryset=fleet)
        if not found.is_valid():
            raise BadSelection({"filter": found.errors})
        return list(found.qs)
    wanted = list(dict.fromkeys(identities or []))
    stations = list(fleet.filter(identity__in=wanted))
    missing = set(wanted) - {s.identity for s in stations}
    if missing:
        raise BadSelection({"stations": [f"no station {i!r} in {tenant.slug}" for i in sorted(missing)[:20]]})
    return stations


FINISHED = (Member.SUCCEEDED, Member.FAILED, Member.SKIPPED)


def progress(counts: dict) -> dict:
    """From the members counted by state: how many in all, how many finished, and the
    share done in whole percent (an empty campaign is done)."""
    total = sum(counts.values())
    finished = sum(counts.get(s, 0) for s in FINISHED)
    return {"total": total, "finished": finished, "percent_done": 100 * finished // total if total else 100}


def counted(campaigns_qs):
    """The campaigns with their members counted by state (`n_<state>`), in the one query
    that lists them: a page of campaigns costs one aggregate, not one count each."""
    return campaigns_qs.annotate(**{f"n_{state}": Count("members", filter=Q(members__state=state))
                                    for state in Member.values})


def counts_of(annotated: RotationCampaign) -> dict:
    return {state: getattr(annotated, f"n_{state}") for state in Member.values}


def start(tenant, stations: list[Station], *, actor: str, name: str = "", concurrency=10,
          canary_size=5, max_failure_percent=20) -> RotationCampaign:
    """Raises ValueError for a request that cannot run, Overlap (a ValueError) when
    another unfinished campaign still has some of the stations to do."""
    labels.check(name, "name")  # a LabelError is a ValueError
    if not stations:
        raise ValueError("a campaign needs at least one station")
    if concurrency < 1 or not 0 <= max_failure_percent <= 100:
        raise ValueError("concurrency must be ≥ 1 and the failure limit 0-100 %")
    with transaction.atomic():
        # One start at a time per tenant, so two cannot both find no overlap.
        Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
        _refuse_overlap(tenant, stations)
        campaign = RotationCampaign.objects.create(
            tenant=tenant, name=name or f"rotation {timezone.now():%Y-%m-%d %H:%M}",
            concurrency=concurrency, canary_size=canary_size,
            max_failure_percent=max_failure_percent, created_by=actor, resumed_at=timezone.now())
        CampaignMember.objects.bulk_create(
            CampaignMember(tenant=tenant, station=s, campaign=campaign) for s in stations)
        _audit(campaign, actor, "campaign.started", f"{len(stations)} stations")
    advance(campaign.pk)
    return campaign


def _refuse_overlap(tenant, stations: list[Station]) -> None:
    # Read the (few) unfinished members rather than send every requested id to the database.
    busy = dict(CampaignMember.objects.filter(
        tenant=tenant, campaign__state__in=OPEN,
        state__in=[Member.WAITING, Member.IN_PROGRESS]).values_list("station_id", "campaign_id"))
    clashing = [s for s in stations if s.pk in busy]
    if clashing:
        first = RotationCampaign.objects.get(pk=busy[clashing[0].pk])
        raise Overlap(first, [s.identity for s in clashing if busy[s.pk] == first.pk])


def pause(campaign: RotationCampaign, actor: str, reason: str = "paused by an operator") -> None:
    changed = RotationCampaign.objects.filter(pk=campaign.pk, state=RotationCampaign.State.RUNNING).update(
        state=RotationCampaign.State.PAUSED, paused_reason=reason[:255])
    if not changed:
        raise ValueError(f"campaign is {RotationCampaign.objects.get(pk=campaign.pk).state}")
    _audit(campaign, actor, "campaign.paused", reason)


def resume(campaign: RotationCampaign, actor: str) -> None:
    changed = RotationCampaign.objects.filter(pk=campaign.pk, state=RotationCampaign.State.PAUSED).update(
        state=RotationCampaign.State.RUNNING, paused_reason="", resumed_at=timezone.now())
    if not changed:
        raise ValueError(f"campaign is {RotationCampaign.objects.get(pk=campaign.pk).state}")
    _audit(campaign, actor, "campaign.resumed")
    advance(campaign.pk)


def abort(campaign: RotationCampaign, actor: str) -> int:
    """Stop a running or paused campaign for good: its waiting stations are skipped (and
    free for another campaign); key changes already under way run to their end, since
    breaking one off could leave a station holding a key we no longer accept. Returns
    how many stations were skipped."""
    with transaction.atomic():
        changed = RotationCampaign.objects.filter(pk=campaign.pk, state__in=OPEN).update(
            state=RotationCampaign.State.ABORTED, completed_at=timezone.now())
        if not changed:
            raise ValueError(f"campaign is {RotationCampaign.objects.get(pk=campaign.pk).state}")
        skipped = campaign.members.filter(state=Member.WAITING).update(
            state=Member.SKIPPED, detail="the campaign was aborted")
        _audit(campaign, actor, "campaign.aborted", f"{skipped} stations skipped")
    return skipped


def _audit(campaign, actor, action, outcome=""):
    audit.record(campaign.tenant_id, actor, action, outcome, campaign=campaign.pk)


def _settle_members(campaign: RotationCampaign) -> None:
    """Carry finished key changes over to their campaign members."""
    for member in campaign.members.filter(state=Member.IN_PROGRESS).select_related("change"):
        change = member.change
        if change is None or change.open:
            continue
        member.state = Member.SUCCEEDED if change.state == CredentialChange.State.SUCCEEDED else Member.FAILED
        member.detail = change.detail or change.state
        member.finished_at = change.resolved_at or timezone.now()
        member.save(update_fields=["state", "detail", "finished_at"])


def tally(campaign: RotationCampaign) -> Tally:
    """The members by state, counted in SQL; after a resume only what finished since."""
    since = campaign.resumed_at
    fresh = Q() if since is None else Q(finished_at__isnull=True) | Q(finished_at__gte=since)
    counts = campaign.members.aggregate(
        waiting=Count("pk", filter=Q(state=Member.WAITING)),
        in_progress=Count("pk", filter=Q(state=Member.IN_PROGRESS)),
        succeeded=Count("pk", filter=Q(state=Member.SUCCEEDED) & fresh),
        failed=Count("pk", filter=Q(state=Member.FAILED) & fresh))
    return Tally(**counts)


def advance(campaign_id: int) -> RotationCampaign:
    """Settle finished members, then start more, pause or complete as the rules say."""
    with transaction.atomic():
        campaign = RotationCampaign.objects.select_for_update().get(pk=campaign_id)
        _settle_members(campaign)
        if campaign.state != RotationCampaign.State.RUNNING:
            return campaign
        decision = decide(tally(campaign), Limits(campaign.concurrency, campaign.canary_size,
                                                  campaign.max_failure_percent))
        if decision.complete:
            campaign.state = RotationCampaign.State.COMPLETED
            campaign.completed_at = timezone.now()
            campaign.save(update_fields=["state", "completed_at"])
            _audit(campaign, "system", "campaign.completed")
            return campaign
        if decision.pause_reason:
            campaign.state = RotationCampaign.State.PAUSED
            campaign.paused_reason = decision.pause_reason
            campaign.save(update_fields=["state", "paused_reason"])
            _audit(campaign, "system", "campaign.paused", decision.pause_reason)
            log.warning("campaign %s paused: %s", campaign.pk, decision.pause_reason)
            return campaign
        for member in campaign.members.filter(state=Member.WAITING).select_related(
                "station__tenant", "station__credential")[:decision.start]:
            _start_member(campaign, member)
    return campaign


def _start_member(campaign, member) -> None:
    try:
        change = credentials.request_change(member.station, CredentialChange.Trigger.CAMPAIGN,
                                            f"campaign {campaign.pk}")
    except credentials.ChangeRefused as exc:
        member.state, member.detail = Member.SKIPPED, str(exc)[:255]
        member.save(update_fields=["state", "detail"])
        return
    member.state, member.change, member.started_at = Member.IN_PROGRESS, change, timezone.now()
    member.save(update_fields=["state", "change", "started_at"])


def advance_all() -> int:
    # An aborted campaign starts nothing, but its stations under way still settle.
    ids = list(RotationCampaign.objects.filter(
        Q(state=RotationCampaign.State.RUNNING)
        | Q(state=RotationCampaign.State.ABORTED, members__state=Member.IN_PROGRESS))
        .values_list("pk", flat=True).distinct())
    for campaign_id in ids:
        advance(campaign_id)
    return len(ids)


def summary(campaign: RotationCampaign) -> dict:
    counts = {state: 0 for state in Member.values}
    counts.update(campaign.members.order_by().values_list("state").annotate(n=Count("pk")))
    return {"id": campaign.pk, "name": campaign.name, "state": campaign.state,
            "paused_reason": campaign.paused_reason or None, "concurrency": campaign.concurrency,
            "canary_size": campaign.canary_size, "max_failure_percent": campaign.max_failure_percent,
            "members": counts, "created_by": campaign.created_by,
            "created_at": rfc3339(campaign.created_at),
            "completed_at": rfc3339(campaign.completed_at)}
