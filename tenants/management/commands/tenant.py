"""`manage.py tenant add|list`: create and list tenants."""
import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from tenants.models import Tenant


class Command(BaseCommand):
    help = "Manage tenants."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="create a tenant")
        add.add_argument("slug")
        add.add_argument("--name", required=True)
        add.add_argument("--emsp", action="store_true", help="the tenant is an eMSP")
        add.add_argument("--osdm", action="store_true", help="the tenant is an OSDM provider")
        add.add_argument("--no-stations", action="store_true",
                         help="the tenant operates no charging stations")
        add.add_argument("--json", action="store_true")
        change = sub.add_parser("set", help="change a tenant's settings")
        change.add_argument("slug")
        change.add_argument("--name")
        change.add_argument("--heartbeat-interval", type=int, metavar="SECONDS",
                            help="interval given to Accepted stations at boot")
        change.add_argument("--accept-hex-password", choices=["yes", "no"],
                            help="accept the key's 40 hex characters as the Basic password")
        change.add_argument("--json", action="store_true")
        lst = sub.add_parser("list", help="list tenants")
        lst.add_argument("--json", action="store_true")

    def handle(self, *args, action, **opts):
        if action == "add":
            tenant = Tenant(slug=opts["slug"], name=opts["name"], is_emsp=opts["emsp"],
                            is_osdm_provider=opts["osdm"],
                            operates_charging_stations=not opts["no_stations"])
            try:
                tenant.full_clean()
            except ValidationError as exc:
                raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from None
            tenant.save()
            self._emit([tenant], opts["json"], single=True)
        elif action == "set":
            tenant = Tenant.objects.filter(slug=opts["slug"]).first()
            if tenant is None:
                raise CommandError(f"no tenant {opts['slug']!r}")
            if opts["name"]:
                tenant.name = opts["name"]
            if opts["heartbeat_interval"] is not None:
                if not 1 <= opts["heartbeat_interval"] <= 86400:
                    raise CommandError("heartbeat interval must be 1..86400 seconds")
                tenant.heartbeat_interval = opts["heartbeat_interval"]
            if opts["accept_hex_password"]:
                tenant.accept_hex_basic_password = opts["accept_hex_password"] == "yes"
            tenant.save()
            self._emit([tenant], opts["json"], single=True)
        else:
            self._emit(Tenant.objects.all(), opts["json"])

    def _emit(self, tenants, as_json, single=False):
        rows = [{"slug": t.slug, "name": t.name, "operates_charging_stations": t.operates_charging_stations,
                 "is_emsp": t.is_emsp, "is_osdm_provider": t.is_osdm_provider,
                 "heartbeat_interval": t.heartbeat_interval,
                 "accept_hex_basic_password": t.accept_hex_basic_password} for t in tenants]
        if as_json:
            self.stdout.write(json.dumps(rows[0] if single else rows, indent=2))
            return
        for t in tenants:
            self.stdout.write(f"{t.slug}\t{t.name}\t({t.roles_summary})")
