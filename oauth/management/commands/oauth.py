"""`manage.py oauth keys rotate|list <tenant>`: a tenant's token signing keys.

(Clients and trust records for JWT assertions join this command with the rest of the
authorization server.)
"""

from django.core.management.base import BaseCommand, CommandError

from oauth import signing_keys
from oauth.models import SigningKey
from tenants.cli import dump_json, tenant_or_error


def key_summary(key: SigningKey) -> dict:
    return {"kid": key.kid, "alg": key.alg, "state": key.state,
            "created_at": key.created_at.isoformat(),
            "published_until": key.publish_until.isoformat() if key.publish_until else None}


class Command(BaseCommand):
    help = "Manage a tenant's authorization server."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="area", required=True)
        keys = sub.add_parser("keys", help="token signing keys")
        ksub = keys.add_subparsers(dest="action", required=True)
        rotate = ksub.add_parser("rotate", help="start signing with a fresh key")
        rotate.add_argument("tenant")
        rotate.add_argument("--alg", choices=signing_keys.ALGORITHMS)
        rotate.add_argument("--json", action="store_true")
        lst = ksub.add_parser("list", help="the tenant's keys (public parts only)")
        lst.add_argument("tenant")
        lst.add_argument("--json", action="store_true")

    def handle(self, *args, area, action, tenant, json=False, **opts):
        t = tenant_or_error(tenant)
        if not (t.is_emsp or t.is_osdm_provider):
            raise CommandError(f"{tenant} runs no authorization server (it is neither an eMSP "
                               "nor an OSDM provider)")
        if action == "rotate":
            rows = [key_summary(signing_keys.rotate(t, opts.get("alg")))]
        else:
            signing_keys.published(t)  # retire what has expired before listing
            rows = [key_summary(k) for k in SigningKey.objects.for_tenant(t)]
        if json:
            self.stdout.write(dump_json(rows[0] if action == "rotate" else rows))
            return
        for r in rows:
            until = f" (published until {r['published_until']})" if r["state"] == "retiring" else ""
            self.stdout.write(f"{r['kid']}\t{r['alg']}\t{r['state']}{until}")
