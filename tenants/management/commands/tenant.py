"""`manage.py tenant add|list`: create and list tenants."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from lib import labels
from tenants.cli import dump_json, tenant_or_error
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
                            help="1.6 stations: accept the key's hex text (32 to 40 digits) as the Basic password "
                                 "besides its raw bytes (2.0.1 stations always may send it)")
        change.add_argument("--rotation-mode", choices=Tenant.RotationMode.values)
        change.add_argument("--reset-policy", choices=Tenant.ResetPolicy.values)
        change.add_argument("--rotation-grace", type=int, metavar="SECONDS",
                            help="safe mode: how long a station may stay on its old socket after Accepted")
        change.add_argument("--max-key-age", metavar="DAYS",
                            help="rotate keys older than this many days ('off' to stop)")
        change.add_argument("--onboarding-limit", metavar="N/MINUTES",
                            help="hold onboarding above N series-key first connections in MINUTES")
        change.add_argument("--require-par", choices=["yes", "no"],
                            help="authorization requests only by PAR (RFC 9126), for every client")
        change.add_argument("--emsp-id", metavar="CC-PPP",
                            help="eMSP: country code and provider id of the EMAIDs it assigns, like DE-8AA")
        change.add_argument("--pnc-key-profile", choices=Tenant.PncKeyProfile.values,
                            help="eMSP: which contract-certificate keys /csr accepts")
        change.add_argument("--json", action="store_true")
        lst = sub.add_parser("list", help="list tenants")
        lst.add_argument("--json", action="store_true")

    def handle(self, *args, action, **opts):
        try:
            labels.check(opts.get("name") or "", "name")
        except labels.LabelError as exc:
            raise CommandError(str(exc)) from None
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
            tenant = tenant_or_error(opts["slug"])
            if opts["name"]:
                tenant.name = opts["name"]
            if opts["heartbeat_interval"] is not None:
                if not 1 <= opts["heartbeat_interval"] <= 86400:
                    raise CommandError("heartbeat interval must be 1..86400 seconds")
                tenant.heartbeat_interval = opts["heartbeat_interval"]
            if opts["accept_hex_password"]:
                tenant.accept_hex_basic_password = opts["accept_hex_password"] == "yes"
            if opts["require_par"]:
                tenant.require_pushed_authorization_requests = opts["require_par"] == "yes"
            self._rotation_settings(tenant, opts)
            self._pnc_settings(tenant, opts)
            # Only the policy fields: the onboarding hold may be set concurrently.
            tenant.save(update_fields=[
                "name", "heartbeat_interval", "accept_hex_basic_password", "rotation_mode",
                "reset_policy", "rotation_grace_seconds", "max_key_age_days",
                "onboarding_max_in_window", "onboarding_window_minutes",
                "require_pushed_authorization_requests", "emsp_country_code", "emsp_provider_id",
                "pnc_key_profile"])
            self._emit([tenant], opts["json"], single=True)
        else:
            self._emit(Tenant.objects.all(), opts["json"])

    def _rotation_settings(self, tenant, opts):
        if opts["rotation_mode"]:
            tenant.rotation_mode = opts["rotation_mode"]
        if opts["reset_policy"]:
            tenant.reset_policy = opts["reset_policy"]
        if opts["rotation_grace"] is not None:
            if not 1 <= opts["rotation_grace"] <= 7 * 86400:
                raise CommandError("rotation grace must be 1 second to 7 days")
            tenant.rotation_grace_seconds = opts["rotation_grace"]
        if opts["max_key_age"]:
            if opts["max_key_age"] == "off":
                tenant.max_key_age_days = None
            elif opts["max_key_age"].isdigit() and int(opts["max_key_age"]) >= 1:
                tenant.max_key_age_days = int(opts["max_key_age"])
            else:
                raise CommandError("--max-key-age takes a number of days (≥ 1) or 'off'")
        if opts["onboarding_limit"]:
            count, _, minutes = opts["onboarding_limit"].partition("/")
            if not (count.isdigit() and minutes.isdigit() and int(minutes) >= 1):
                raise CommandError("--onboarding-limit takes N/MINUTES, e.g. 50/60")
            tenant.onboarding_max_in_window = int(count)
            tenant.onboarding_window_minutes = int(minutes)

    def _pnc_settings(self, tenant, opts):
        if opts["emsp_id"]:
            country, _, provider = opts["emsp_id"].upper().partition("-")
            tenant.emsp_country_code, tenant.emsp_provider_id = country, provider
            try:
                tenant.clean_fields(exclude=[f.name for f in Tenant._meta.fields
                                             if f.name not in ("emsp_country_code", "emsp_provider_id")])
            except ValidationError as exc:
                raise CommandError(f"--emsp-id takes COUNTRY-PROVIDER, like DE-8AA: "
                                   f"{'; '.join(' '.join(v) for v in exc.message_dict.values())}") from None
        if opts["pnc_key_profile"]:
            tenant.pnc_key_profile = opts["pnc_key_profile"]

    def _emit(self, tenants, as_json, single=False):
        rows = [{"slug": t.slug, "name": t.name, "operates_charging_stations": t.operates_charging_stations,
                 "is_emsp": t.is_emsp, "is_osdm_provider": t.is_osdm_provider,
                 "heartbeat_interval": t.heartbeat_interval,
                 "accept_hex_basic_password": t.accept_hex_basic_password,
                 "require_pushed_authorization_requests": t.require_pushed_authorization_requests,
                 "emsp_id": f"{t.emsp_country_code}-{t.emsp_provider_id}" if t.emsp_provider_id else None,
                 "pnc_key_profile": t.pnc_key_profile,
                 "rotation": {"mode": t.rotation_mode, "reset_policy": t.reset_policy,
                              "grace_seconds": t.rotation_grace_seconds,
                              "max_key_age_days": t.max_key_age_days,
                              "onboarding_limit": f"{t.onboarding_max_in_window}/"
                                                  f"{t.onboarding_window_minutes}",
                              "onboarding_held": t.onboarding_held_since is not None}}
                for t in tenants]
        if as_json:
            self.stdout.write(dump_json(rows[0] if single else rows))
            return
        for t in tenants:
            self.stdout.write(f"{t.slug}\t{t.name}\t({t.roles_summary})")
