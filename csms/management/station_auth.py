"""`manage.py station group|auth|token|login ...`: which methods stations may
authenticate with (per station, per group, the tenant's default), the Token
credentials, other Basic logins, and who has moved off Basic. Mixed into the `station` command (csms/management/commands/station.py).

A token is printed once, by `token issue`; listings show its public id only.
"""
import contextlib
from collections import Counter

from django.core.management.base import CommandError

from csms import auth_audit, handshake_metrics, station_methods
from csms.auth import policy
from csms.auth.station_auth import SCHEMES
from csms.models import Station, StationGroup, StationLogin, StationToken
from lib import labels
from tenants.cli import dump_json

GROUP_NAME = station_methods.GROUP_NAME
PATTERNS = station_methods.PATTERNS
STILL_ON_BASIC_SHOWN = 50  # per group in the text output; --json lists them all


def known_methods() -> list[str]:
    return [name.lower() for name in SCHEMES.names()]


def _command(parent, name: str, help: str, *positionals: str, force=False, methods=None):
    """A subcommand taking `positionals`, then (as asked) the method choice and --force,
    and --json."""
    parser = parent.add_parser(name, help=help)
    for positional in positionals:
        parser.add_argument(positional)
    if methods is not None:
        _methods_arguments(parser, required=methods)
    if force:
        _force_argument(parser)
    parser.add_argument("--json", action="store_true")
    return parser


def _family(sub, name: str, help: str):
    return sub.add_parser(name, help=help).add_subparsers(dest=f"{name}_action", required=True)


def add_arguments(sub) -> None:
    group = _family(sub, "group", "station groups: stations selected by identity or boot-data patterns, "
                                  "sharing a method list")
    _group_arguments(group.add_parser("add", help="create a group"))
    _group_arguments(group.add_parser("set", help="change a group"))
    _command(group, "list", "list a tenant's groups, first match first", "tenant")
    _command(group, "remove", "delete a group (its stations fall to the next match)", "tenant", "name",
             force=True)

    auth = _family(sub, "auth", "the methods stations may authenticate with")
    _command(auth, "set", "a station's own method list, or --inherit its group's", "tenant", "identity",
             methods=True, force=True)
    _command(auth, "default", "the tenant's default method list (--inherit: Basic alone)", "tenant",
             methods=True, force=True)
    _command(auth, "show", "a station's methods, where they come from, and its last method", "tenant", "identity")
    _command(auth, "status", "per group: the methods stations last used, and who is still on Basic", "tenant")
    log = _command(auth, "log", "the latest authentication decisions (audit events), newest first", "tenant")
    log.add_argument("identity", nargs="?", help="only this station's")
    log.add_argument("--outcome", choices=handshake_metrics.OUTCOMES)
    log.add_argument("--method", help="the scheme presented: basic, token, digest, totp, eap, none, other")
    log.add_argument("--limit", type=int, default=50)

    tok = _family(sub, "token", "a station's Token credentials")
    _command(tok, "issue", "issue a token (printed once)", "tenant", "identity").add_argument(
        "--label", default="", help="a note for operators, e.g. where it is installed")
    _command(tok, "list", "a station's tokens (public ids only)", "tenant", "identity")
    _command(tok, "revoke", "revoke a token; a connection opened with a token is closed", "tenant", "identity",
             "token_id")

    otp = _family(sub, "totp", "a station's TOTP secret (totp-http-authentication.md)")
    issue = _command(otp, "issue", "issue a TOTP secret (printed once)", "tenant", "identity")
    issue.add_argument("--validity", type=int, default=30, help="seconds per token (default 30)")
    issue.add_argument("--length", type=int, default=12, help="characters per token, 8 to 15 (default 12)")
    issue.add_argument("--hash", dest="hash_algorithm", default="sha256", choices=["sha256", "sha384", "sha512"])
    _command(otp, "revoke", "revoke the TOTP secret; a TOTP connection is closed", "tenant", "identity")

    login = _family(sub, "login", "a station's other Basic logins (the white paper's privacy mapping: the "
                                  "login need not be the identity)")
    _command(login, "add", "add a login", "tenant", "identity", "login")
    _command(login, "remove", "remove a login", "tenant", "identity", "login")
    _command(login, "list", "a station's logins", "tenant", "identity")


def _group_arguments(parser) -> None:
    parser.add_argument("tenant")
    parser.add_argument("name")
    parser.add_argument("--rank", type=int, help="groups are tried by rank, lowest first; the first "
                                                 "whose patterns all match is the station's group "
                                                 "(default for a new group: after the last)")
    for name in PATTERNS:
        what = "identity" if name == "identity" else f"{name} its BootNotification reports"
        parser.add_argument(f"--{name}", metavar="PATTERN",
                            help=f"shell-style pattern (*, ?, [..]) on the station's {what}, "
                                 "compared without case ('' for any)")
    parser.add_argument("--networks", metavar="CIDRS",
                        help="comma-separated networks its stations may connect from, e.g. "
                             "10.20.0.0/16,2001:db8::/32 ('any': no restriction, the default); the "
                             "address is the client's as uvicorn reports it (docs/station-auth.md)")
    _methods_arguments(parser, required=False)
    _force_argument(parser)
    parser.add_argument("--json", action="store_true")


def _networks(text: str) -> list[str]:
    try:
        return [str(n) for n in policy.parse_networks(text)]
    except ValueError as exc:
        raise CommandError(f"--networks: {exc}") from None


def _methods_arguments(parser, required: bool) -> None:
    choice = parser.add_mutually_exclusive_group(required=required)
    choice.add_argument("--methods", metavar="LIST",
                        help=f"comma-separated, most preferred first ({', '.join(known_methods())})")
    choice.add_argument("--inherit", action="store_true", help="no list of its own: inherit one")


def _force_argument(parser) -> None:
    parser.add_argument("--force", action="store_true",
                        help="apply even if some stations are left with no method they hold a credential for")


def _methods(text: str) -> list[str]:
    try:
        return list(policy.parse_methods(text, known_methods()))
    except ValueError as exc:
        raise CommandError(f"--methods: {exc}") from None


@contextlib.contextmanager
def _lockout_as_error():
    try:
        yield
    except station_methods.LockOut as exc:
        raise CommandError(str(exc).replace("or force it", "or give --force")) from None


def _chosen(methods, inherit) -> list[str] | None:
    return None if inherit else _methods(methods)


class AuthCommands:
    """`do_group`, `do_auth`, `do_token` of the station command."""

    def do_group(self, group_action, **opts):
        getattr(self, f"_group_{group_action}")(**opts)

    def do_auth(self, auth_action, **opts):
        getattr(self, f"_auth_{auth_action}")(**opts)

    def do_token(self, token_action, **opts):
        getattr(self, f"_token_{token_action}")(**opts)

    def do_totp(self, totp_action, **opts):
        getattr(self, f"_totp_{totp_action}")(**opts)

    def do_login(self, login_action, **opts):
        getattr(self, f"_login_{login_action}")(**opts)

    # --- logins ----------------------------------------------------------------------------

    def _login_add(self, tenant, identity, login, json, **_):
        station = self._station(tenant, identity)
        try:
            station_methods.add_login(station, login, actor="cli")
        except ValueError as exc:
            raise CommandError(f"{identity}: {exc}") from None
        self._login_list(tenant, identity, json)

    def _login_remove(self, tenant, identity, login, json, **_):
        station = self._station(tenant, identity)
        if not station_methods.remove_login(station, login, actor="cli"):
            raise CommandError(f"{identity} has no login {login!r}")
        self._login_list(tenant, identity, json)

    def _login_list(self, tenant, identity, json, **_):
        station = self._station(tenant, identity)
        logins = [station.identity, *StationLogin.objects.filter(station=station).values_list("login", flat=True)]
        self._emit({"identity": station.identity, "logins": logins}, json,
                   lambda r: self.stdout.write("\n".join(r["logins"])))

    # --- groups --------------------------------------------------------------------------

    def _group_add(self, tenant, name, rank, methods, inherit, networks, force, json, **opts):
        tenant_obj = self._tenant(tenant)
        if not GROUP_NAME.fullmatch(name):
            raise CommandError(station_methods.GROUP_NAME_RULE)
        if rank is None:
            rank = station_methods.next_rank(tenant_obj)
        row = StationGroup(tenant=tenant_obj, name=name, rank=rank,
                           methods=None if inherit or methods is None else _methods(methods),
                           networks=_networks(networks or ""),
                           **{field: opts[option] or "" for option, field in PATTERNS.items()})
        self._save_group(tenant_obj, row, force, creating=True)
        self._emit(self._group_summary(row), json, self._text_group)

    def _group_set(self, tenant, name, rank, methods, inherit, networks, force, json, **opts):
        tenant_obj = self._tenant(tenant)
        row = self._group(tenant_obj, name)
        if rank is not None:
            row.rank = rank
        if networks is not None:
            row.networks = _networks(networks)
        for option, field in PATTERNS.items():
            if opts[option] is not None:
                setattr(row, field, opts[option])
        if inherit:
            row.methods = None
        elif methods is not None:
            row.methods = _methods(methods)
        self._save_group(tenant_obj, row, force)
        self._emit(self._group_summary(row), json, self._text_group)

    def _group_remove(self, tenant, name, force, json, **_):
        tenant_obj = self._tenant(tenant)
        row = self._group(tenant_obj, name)
        with _lockout_as_error():
            station_methods.remove_group(tenant_obj, row, force=force)
        self._emit({"removed": name}, json, lambda r: self.stdout.write(f"group {name} removed"))

    def _group_list(self, tenant, json, **_):
        tenant_obj = self._tenant(tenant)
        rules = station_methods.current_rules(tenant_obj)
        members = Counter(getattr(policy.group_of(s, rules), "name", None)
                          for s in Station.objects.for_tenant(tenant_obj))
        rows = [dict(self._group_summary(g), stations=members[g.name])
                for g in StationGroup.objects.for_tenant(tenant_obj)]
        if json:
            self._emit(rows, True, None)
            return
        for g in rows:
            patterns = " ".join(f"{k}={v}" for k, v in g["patterns"].items() if v) or "(every station)"
            methods = ",".join(g["methods"]) if g["methods"] else "(tenant default)"
            networks = ",".join(g["networks"]) or "any network"
            self.stdout.write(f"{g['rank']}\t{g['name']}\t{patterns}\t{methods}\t{networks}\t"
                              f"{g['stations']} stations")

    def _save_group(self, tenant, row, force, creating=False):
        try:
            with _lockout_as_error():
                station_methods.save_group(tenant, row, force=force)
        except station_methods.GroupTaken as exc:
            raise CommandError(str(exc)) from None

    def _group(self, tenant, name) -> StationGroup:
        row = StationGroup.objects.for_tenant(tenant).filter(name=name).first()
        if row is None:
            raise CommandError(f"no group {name!r} in {tenant.slug}")
        return row

    _group_summary = staticmethod(station_methods.group_summary)

    def _text_group(self, g):
        self.stdout.write(f"group {g['name']} (rank {g['rank']}): "
                          + (",".join(g["methods"]) if g["methods"] else "the tenant's default methods"))

    # --- methods ---------------------------------------------------------------------------

    def _auth_set(self, tenant, identity, methods, inherit, force, json, **_):
        station = self._station(tenant, identity)
        with _lockout_as_error():
            station_methods.set_station_methods(station, _chosen(methods, inherit), force=force)
        self._auth_show(tenant, identity, json)

    def _auth_default(self, tenant, methods, inherit, force, json, **_):
        tenant_obj = self._tenant(tenant)
        chosen = _chosen(methods, inherit)
        with _lockout_as_error():
            station_methods.set_default_methods(tenant_obj, chosen, force=force)
        shown = {"tenant": tenant, "default_methods": list(chosen or policy.DEFAULT_METHODS),
                 "inherited": chosen is None}
        self._emit(shown, json, lambda r: self.stdout.write(
            f"default methods of {tenant}: {','.join(r['default_methods'])}"))

    def _auth_show(self, tenant, identity, json, **_):
        self._emit(station_methods.describe(self._station(tenant, identity)), json, self._text_auth)

    def _text_auth(self, s):
        for name, value in s.items():
            if isinstance(value, list):
                value = ",".join(value) or "-"
            self.stdout.write(f"{name:14} {value if value is not None else '-'}")
        if not s["usable"]:
            self.stdout.write(self.style.WARNING(
                "The station holds no credential for any of its methods: it cannot connect."))

    def _auth_status(self, tenant, json, **_):
        rows = station_methods.status(self._tenant(tenant))
        if json:
            self._emit({"tenant": tenant, "groups": rows}, True, None)
            return
        for r in rows:
            counts = ", ".join(f"{m} {n}" for m, n in r["last_method"].items()) or "no stations"
            self.stdout.write(f"{r['group'] or '(no group)'}: {r['stations']} stations; last method: {counts}; "
                              f"Basic allowed for {r['basic_allowed']}")
            still = r["still_on_basic"]
            if still:
                more = len(still) - STILL_ON_BASIC_SHOWN
                self.stdout.write("  still on Basic: " + " ".join(still[:STILL_ON_BASIC_SHOWN])
                                  + (f" ... and {more} more" if more > 0 else ""))

    def _auth_log(self, tenant, identity, outcome, method, limit, json, **_):
        tenant_obj = self._tenant(tenant)
        station = self._station(tenant, identity) if identity else None
        rows = [auth_audit.summary(r) for r in auth_audit.recent(
            tenant_obj, station=station, outcome=outcome, method=method, limit=max(1, limit))]
        if json:
            self._emit({"tenant": tenant, "events": rows}, True, None)
            return
        for r in rows:
            times = f" x{r['count']} since {r['first']}" if r["count"] > 1 else ""
            self.stdout.write(f"{r['at']}  {r['station']}  {r['method']}  {r['outcome']}"
                              f"{'  (' + r['reason'] + ')' if r['reason'] else ''}  from {r['source']}{times}")

    # --- tokens ----------------------------------------------------------------------------

    def _token_issue(self, tenant, identity, label, json, **_):
        station = self._station(tenant, identity)
        try:
            row, value = station_methods.issue_token(station, label[:100], actor="cli")
        except (station_methods.TooManyTokens, labels.LabelError) as exc:
            raise CommandError(f"{identity}: {exc}") from None
        shown = dict(station_methods.token_summary(row), token=value)  # shown this once; only its hash is stored
        allowed = station_methods.resolve(station).methods

        def text(t):
            self.stdout.write(f"token id  {t['id']}")
            self._shown_once(f"token     {t['token']}", "This token", "store it on the station now",
                             identity, allowed, "token", "Token")
        self._emit(shown, json, text)

    def _shown_once(self, line: str, what: str, then: str, identity: str, allowed, method: str, name: str):
        """A secret's one showing, and whether the station may use it yet."""
        self.stdout.write(self.style.WARNING(f"{line}\n{what} is shown once and never again: {then}."))
        if method not in allowed:
            self.stdout.write(f"{identity} may not use {name} yet (its methods: {','.join(allowed)}); "
                              "`station auth set` or its group allows it.")

    def _token_list(self, tenant, identity, json, **_):
        station = self._station(tenant, identity)
        rows = [station_methods.token_summary(t) for t in StationToken.objects.filter(station=station)]
        if json:
            self._emit(rows, True, None)
            return
        for t in rows:
            state = f"revoked {t['revoked_at']}" if t["revoked_at"] else "active"
            self.stdout.write(f"{t['id']}\t{state}\t{t['created_at']}\t{t['label'] or '-'}")

    def _token_revoke(self, tenant, identity, token_id, json, **_):
        station = self._station(tenant, identity)
        row = station_methods.revoke_token(station, token_id, actor="cli")
        if row is None:
            raise CommandError(f"{identity} has no token {token_id!r}")
        # Always done (a token may have leaked), but never silently leaving the station
        # with no way in.
        left = station_methods.usable(station, station_methods.resolve(station).methods)
        shown = dict(station_methods.token_summary(row), usable_methods=left)

        def text(t):
            self.stdout.write(f"token {t['id']} revoked")
            if not left:
                self.stdout.write(self.style.WARNING(
                    f"{identity} now holds no credential for any of its methods and cannot connect: "
                    "issue it a token (`station token issue`) or allow another method."))
        self._emit(shown, json, text)

    # --- TOTP ------------------------------------------------------------------------------

    def _totp_issue(self, tenant, identity, validity, length, hash_algorithm, json, **_):
        station = self._station(tenant, identity)
        try:
            row, secret = station_methods.issue_totp(station, validity=validity, length=length,
                                                     hash_algorithm=hash_algorithm, actor="cli")
        except ValueError as exc:
            raise CommandError(f"{identity}: {exc}") from None
        shown = dict(station_methods.totp_summary(row), secret=secret)  # shown this once; stored sealed
        allowed = station_methods.resolve(station).methods

        def text(t):
            self.stdout.write(f"totp id   {t['id']}  (validity {t['validity']} s, length {t['length']}, "
                              f"{t['hash_algorithm']}, Base62)")
            self._shown_once(f"secret    {t['secret']}", "This secret", "configure the station with it now",
                             identity, allowed, "totp", "TOTP")
        self._emit(shown, json, text)

    def _totp_revoke(self, tenant, identity, json, **_):
        station = self._station(tenant, identity)
        row = station_methods.revoke_totp(station, actor="cli")
        if row is None:
            raise CommandError(f"{identity} has no active TOTP secret")
        left = station_methods.usable(station, station_methods.resolve(station).methods)
        shown = dict(station_methods.totp_summary(row), usable_methods=left)

        def text(t):
            self.stdout.write(f"totp {t['id']} revoked")
            if not left:
                self.stdout.write(self.style.WARNING(
                    f"{identity} now holds no credential for any of its methods and cannot connect."))
        self._emit(shown, json, text)


__all__ = ["AuthCommands", "add_arguments", "dump_json"]
