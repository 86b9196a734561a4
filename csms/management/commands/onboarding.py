"""`manage.py onboarding status|release <tenant>`: the onboarding anomaly hold."""

from django.core.management.base import BaseCommand, CommandError

from csms import onboarding
from csms.models import StationCredential
from lib.timestamps import rfc3339
from tenants.cli import dump_json, tenant_or_error


class Command(BaseCommand):
    help = "Inspect or release a tenant's onboarding hold."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        for name, text in (("status", "is onboarding held, and who is waiting"),
                           ("release", "lift the hold so waiting stations get their unique keys")):
            p = sub.add_parser(name, help=text)
            p.add_argument("tenant")
            p.add_argument("--json", action="store_true")

    def handle(self, *args, action, tenant, json=False, **opts):
        tenant_obj = tenant_or_error(tenant)
        if action == "release":
            try:
                waiting = onboarding.release(tenant_obj, "cli")  # as the REST API and the portal do
            except onboarding.Refused as exc:
                raise CommandError(str(exc)) from None
            out = {"held": False, "waiting": waiting}
            text = f"onboarding released; {waiting} stations get their keys at their next boot"
        else:
            waiting = StationCredential.objects.filter(tenant=tenant_obj, needs_unique_key=True).count()
            held = tenant_obj.onboarding_held_since
            out = {"held": held is not None, "held_since": rfc3339(held),
                   "waiting": waiting, "window_minutes": tenant_obj.onboarding_window_minutes,
                   "max_in_window": tenant_obj.onboarding_max_in_window}
            text = (f"onboarding {'HELD since ' + rfc3339(held) if held else 'open'}; "
                    f"{waiting} stations waiting for a unique key")
        self.stdout.write(dump_json(out) if json else text)
