"""Rotation campaigns in the database: start, advance, pause, resume."""
import logging

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from . import credentials
from .campaign_rules import Limits, Tally, decide
from .models import AuditEvent, CampaignMember, CredentialChange, RotationCampaign, Station

log = logging.getLogger(__name__)
Member = CampaignMember.State


OPEN = (RotationCampaign.State.RUNNING, RotationCampaign.State.PAUSED)


class Overlap(ValueError):
    """Stations of a new campaign are still to be rotated by an open one: two campaigns
    would race for the same stations' key changes."""

    def __init__(self, campaign_id: int, identities: list[str]):
        self.campaign_id, self.identities = campaign_id, identities
        shown = ", ".join(identities[:10]) + (f" and {len(identities) - 10} more" if len(identities) > 10 else "")
        super().__init__(f"{len(identities)} of these stations are still to be rotated by campaign "
                         f"{campaign_id}: {shown}; abort it, or leave them out")


def overlap(tenant, stations: list[Station]) -> None:
    """Raise `Overlap` if an open campaign of the tenant has any of `stations` waiting or in progress."""
    busy = (CampaignMember.objects.for_tenant(tenant)
            .filter(campaign__state__in=OPEN, state__in=(Member.WAITING, Member.IN_PROGRESS))
            .filter(station__in=[s.pk for s in stations]).select_related("station").order_by("campaign_id", "id"))
    found = list(busy.values_list("campaign_id", "station__identity")[:1000])
    if found:
        raise Overlap(found[0][0], [identity for campaign, identity in found if campaign == found[0][0]])


def start(tenant, stations: list[Station], *, actor: str, name: str = "", concurrency=10,
          canary_size=5, max_failure_percent=20) -> RotationCampaign:
    if not stations:
        raise ValueError("a campaign needs at least one station")
    if concurrency < 1 or not 0 <= max_failure_percent <= 100:
        raise ValueError("concurrency must be ≥ 1 and the failure limit 0-100 %")
    with transaction.atomic():
        overlap(tenant, stations)
        campaign = RotationCampaign.objects.create(
            tenant=tenant, name=name or f"rotation {timezone.now():%Y-%m-%d %H:%M}",
            concurrency=concurrency, canary_size=canary_size,
            max_failure_percent=max_failure_percent, created_by=actor, resumed_at=timezone.now())
        CampaignMember.objects.bulk_create(
            CampaignMember(tenant=tenant, station=s, campaign=campaign) for s in stations)
        _audit(campaign, actor, "campaign.started", f"{len(stations)} stations")
    advance(campaign.pk)
    return campaign


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
    AuditEvent.objects.create(tenant_id=campaign.tenant_id, actor=actor, action=action,
                              outcome=outcome, detail={"campaign": campaign.pk})


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
            "created_at": campaign.created_at.isoformat(),
            "completed_at": campaign.completed_at.isoformat() if campaign.completed_at else None}
