"""`manage.py rotation status <tenant> [<identity>]`: where every station's keys stand."""
import json

from django.core.management.base import BaseCommand, CommandError

from csms.models import CredentialChange, Station
from tenants.models import Tenant


def credential_summary(station: Station) -> dict:
    cred = station.credential
    last = CredentialChange.objects.filter(station=station).first()
    return {
        "identity": station.identity,
        "phase": cred.phase,
        "valid_keys": sum(1 for h in (cred.current_hash, cred.pending_hash, cred.previous_hash) if h),
        "current_key": {"origin": cred.current_origin,
                        "since": cred.current_since.isoformat() if cred.current_since else None},
        "needs_unique_key": cred.needs_unique_key,
        "last_change": None if last is None else {
            "id": last.pk, "trigger": last.trigger, "state": last.state,
            "outcome": last.outcome or None, "attempt": last.attempt,
            "created_at": last.created_at.isoformat(),
            "resolved_at": last.resolved_at.isoformat() if last.resolved_at else None,
            "detail": last.detail or None},
    }


class Command(BaseCommand):
    help = "Report on station credential rotation."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        status = sub.add_parser("status", help="credential state of a tenant's stations")
        status.add_argument("tenant")
        status.add_argument("identity", nargs="?")
        status.add_argument("--json", action="store_true")

    def handle(self, *args, action, tenant, identity=None, json=False, **opts):
        tenant_obj = Tenant.objects.filter(slug=tenant).first()
        if tenant_obj is None:
            raise CommandError(f"no tenant {tenant!r}")
        stations = Station.objects.for_tenant(tenant_obj).select_related("credential")
        if identity is not None:
            stations = stations.filter(identity=identity)
            if not stations.exists():
                raise CommandError(f"no station {identity!r} in {tenant}")
        rows = [credential_summary(s) for s in stations]
        if json:
            self.stdout.write(json_dumps(rows[0] if identity else rows))
            return
        for r in rows:
            last = r["last_change"]
            tail = f"last change {last['state']} ({last['outcome'] or '-'})" if last else "never rotated"
            self.stdout.write(f"{r['identity']}\t{r['phase']}\t{r['current_key']['origin']} key since "
                              f"{r['current_key']['since']}\t{tail}")


def json_dumps(value) -> str:
    return json.dumps(value, indent=2)
