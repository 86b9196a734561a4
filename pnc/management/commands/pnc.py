"""`manage.py pnc ca init|show <tenant>`: the tenant's MO PKI."""
from django.core.management.base import BaseCommand, CommandError

from pnc import authorities
from tenants.cli import dump_json, tenant_or_error


class Command(BaseCommand):
    help = "Plug & Charge: the tenant's MO certificate authorities."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="area", required=True)
        ca = sub.add_parser("ca", help="the MO PKI (Root → Sub-CA 1 → Sub-CA 2)")
        ca_sub = ca.add_subparsers(dest="action", required=True)
        init = ca_sub.add_parser("init", help="create the tenant's MO PKI with fresh P-256 keys")
        init.add_argument("tenant")
        init.add_argument("--json", action="store_true")
        show = ca_sub.add_parser("show", help="the tenant's CA certificates (public parts only)")
        show.add_argument("tenant")
        show.add_argument("--json", action="store_true")
        show.add_argument("--pem", action="store_true", help="print the certificates' PEM as well")

    def handle(self, *args, area, action, **opts):
        tenant = tenant_or_error(opts["tenant"])
        if action == "init":
            if not tenant.is_emsp:
                raise CommandError(f"{tenant.slug} is not an eMSP (tenant add --emsp)")
            try:
                rows = authorities.initialise(tenant)
            except authorities.AuthorityExists as exc:
                raise CommandError(str(exc)) from None
        else:
            rows = authorities.hierarchy(tenant)
            if not rows:
                raise CommandError(f"{tenant.slug} has no MO PKI (pnc ca init {tenant.slug})")
        self._emit(rows, opts["json"], opts.get("pem", False))

    def _emit(self, rows, as_json, with_pem):
        shown = [{"level": r.level, "subject": r.subject, "key_id": r.key_id, "serial_number": r.serial_number,
                  "not_before": r.not_before.isoformat(), "not_after": r.not_after.isoformat(),
                  "issuing": r.issuing, "parent_key_id": r.parent.key_id if r.parent else None,
                  "has_private_key": bool(r.private_key_sealed), "certificate_pem": r.certificate_pem}
                 for r in rows]
        if as_json:
            self.stdout.write(dump_json(shown))
            return
        for row in shown:
            mark = "  (issues contract certificates)" if row["issuing"] else ""
            self.stdout.write(f"{row['level']}\t{row['subject']}\tkey {row['key_id']}\t"
                              f"until {row['not_after']}{mark}")
            if with_pem:
                self.stdout.write(row["certificate_pem"])
