"""`manage.py rotation status <tenant> [<identity>]`: where every station's keys stand."""

from django.core.management.base import BaseCommand, CommandError

from csms import campaigns, credentials, describe
from csms.models import CredentialChange, RotationCampaign, Station
from lib.timestamps import rfc3339
from tenants.cli import dump_json, tenant_or_error


def credential_summary(station: Station) -> dict:
    cred = station.credential
    last = CredentialChange.objects.filter(station=station).first()
    return {
        "identity": station.identity,
        "phase": cred.phase,
        "valid_keys": len(credentials.state_of(cred).valid_hashes),
        "current_key": {"origin": cred.current_origin,
                        "since": rfc3339(cred.current_since)},
        "needs_unique_key": cred.needs_unique_key,
        "last_change": None if last is None else {
            "id": last.pk, "trigger": last.trigger, "state": last.state,
            "outcome": last.outcome or None, "attempt": last.attempt,
            "created_at": rfc3339(last.created_at),
            "resolved_at": rfc3339(last.resolved_at),
            "detail": last.detail or None,
            "stage": describe.change_stage(last, station.connected)},
    }


class Command(BaseCommand):
    help = "Report on station credential rotation."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        status = sub.add_parser("status", help="credential state of a tenant's stations")
        status.add_argument("tenant")
        status.add_argument("identity", nargs="?")
        status.add_argument("--json", action="store_true")

        campaign = sub.add_parser("campaign", help="rotate many stations, a few at a time")
        csub = campaign.add_subparsers(dest="campaign_action", required=True)
        start = csub.add_parser("start", help="start a campaign")
        start.add_argument("tenant")
        start.add_argument("identities", nargs="*", metavar="IDENTITY")
        start.add_argument("--all", action="store_true", help="every station of the tenant")
        start.add_argument("--name", default="")
        start.add_argument("--concurrency", type=int, default=10)
        start.add_argument("--canary", type=int, default=5, help="stations rotated first, alone")
        start.add_argument("--max-failure-rate", type=int, default=20, metavar="PERCENT",
                           help="pause when more than this share of results failed")
        start.add_argument("--json", action="store_true")
        for name in ("pause", "resume"):
            p = csub.add_parser(name, help=f"{name} a campaign")
            p.add_argument("tenant")
            p.add_argument("campaign_id", type=int)
            p.add_argument("--json", action="store_true")
        cstatus = csub.add_parser("status", help="campaign progress")
        cstatus.add_argument("tenant")
        cstatus.add_argument("campaign_id", type=int, nargs="?")
        cstatus.add_argument("--json", action="store_true")

    def handle(self, *args, action, tenant, identity=None, json=False, **opts):
        tenant_obj = tenant_or_error(tenant)
        if action == "campaign":
            self._campaign(tenant_obj, json, **opts)
            return
        stations = Station.objects.for_tenant(tenant_obj).select_related("credential")
        if identity is not None:
            stations = stations.filter(identity=identity)
            if not stations.exists():
                raise CommandError(f"no station {identity!r} in {tenant}")
        rows = [credential_summary(s) for s in stations]
        if json:
            self.stdout.write(dump_json(rows[0] if identity else rows))
            return
        for r in rows:
            last = r["last_change"]
            tail = (f"last change {last['id']} ({last['trigger']}, {last['created_at']}): {last['stage']}"
                    if last else "never rotated")
            self.stdout.write(f"{r['identity']}\t{r['phase']}\t{r['current_key']['origin']} key since "
                              f"{r['current_key']['since']}\t{tail}")


    def _campaign(self, tenant, as_json, campaign_action, **opts):
        if campaign_action == "start":
            stations = Station.objects.for_tenant(tenant).select_related("tenant", "credential")
            if opts["all"] == bool(opts["identities"]):
                raise CommandError("name the stations, or give --all (not both)")
            if not opts["all"]:
                stations = list(stations.filter(identity__in=opts["identities"]))
                missing = set(opts["identities"]) - {s.identity for s in stations}
                if missing:
                    raise CommandError(f"no such station(s): {', '.join(sorted(missing))}")
            try:
                campaign = campaigns.start(
                    tenant, list(stations), actor="cli", name=opts["name"],
                    concurrency=opts["concurrency"], canary_size=opts["canary"],
                    max_failure_percent=opts["max_failure_rate"])
            except ValueError as exc:
                raise CommandError(str(exc)) from None
            results = [campaigns.summary(_campaign_of(tenant, campaign.pk))]
        elif campaign_action in ("pause", "resume"):
            campaign = _campaign_of(tenant, opts["campaign_id"])
            try:
                getattr(campaigns, campaign_action)(campaign, "cli")
            except ValueError as exc:
                raise CommandError(str(exc)) from None
            results = [campaigns.summary(_campaign_of(tenant, campaign.pk))]
        else:
            if opts.get("campaign_id"):
                results = [campaigns.summary(_campaign_of(tenant, opts["campaign_id"]))]
            else:
                results = [campaigns.summary(c) for c in RotationCampaign.objects.for_tenant(tenant)]
        if as_json:
            single = campaign_action != "status" or opts.get("campaign_id")
            self.stdout.write(dump_json(results[0] if single else results))
        else:
            for c in results:
                self.stdout.write(_campaign_line(c))


def _campaign_of(tenant, campaign_id):
    campaign = RotationCampaign.objects.for_tenant(tenant).filter(pk=campaign_id).first()
    if campaign is None:
        raise CommandError(f"no campaign {campaign_id} in {tenant.slug}")
    return campaign


def _campaign_line(c: dict) -> str:
    m = c["members"]
    text = (f"campaign {c['id']} {c['name']!r}: {c['state']}; {m['succeeded']} succeeded, "
            f"{m['failed']} failed, {m['in_progress']} in progress, {m['waiting']} waiting, "
            f"{m['skipped']} skipped")
    return text + (f" — {c['paused_reason']}" if c["paused_reason"] else "")
