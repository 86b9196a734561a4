"""The records behind station method policy and tokens: what `csms.auth.policy` reads,
built from the rows, and the writes the commands make.

The handshake reads a tenant's groups without a query of its own: the station's row
comes with the tenant's `StationAuthPolicy` (its default list and the version of its
groups), and the groups of that version are kept in memory, per process, until the
version moves (`rules_for`). Every change to a tenant's groups or default moves it
(`changed`), so every process sees a change at its next handshake.
"""
import copy
import re
import secrets
from collections import Counter

from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.utils import timezone

from lib import labels
from lib.http_auth import Credentials, MalformedAuthorization, read_authorization
from lib.prepared import Prepared
from lib.timestamps import rfc3339

from . import announce, station_bearer
from .auth import basic, keys, policy, token, totp
from .credentials import audit
from .method_rules import as_group, current_rules, policy_row, resolve, rules_for  # noqa: F401 (their home was here)
from .models import Station, StationAuthPolicy, StationGroup, StationLogin, StationToken, StationTotp

MAX_TOKENS_PER_STATION = 5

def group_saved_or_deleted(sender, instance: StationGroup, **kwargs) -> None:
    """Whatever changes a group (the commands, the shell, a data migration) moves its
    tenant's version, so no process keeps the old groups (connected in `CsmsConfig.ready`)."""
    changed(instance.tenant)


def changed(tenant) -> StationAuthPolicy:
    """The tenant's groups or default changed: move its version (creating its row)."""
    row, _ = StationAuthPolicy.objects.get_or_create(tenant=tenant)
    StationAuthPolicy.objects.filter(pk=row.pk).update(version=F("version") + 1)
    row.refresh_from_db()
    return row


# --- what the handshake reads ---------------------------------------------------------------

def peek(authorization: list[bytes]) -> Credentials | None:
    """The handshake's credentials, if readable, to decide what else to read for it
    (a malformed header is the decision's to answer)."""
    try:
        return read_authorization(authorization)
    except MalformedAuthorization:
        return None


def presents_token(credentials: Credentials | None) -> bool:
    return credentials is not None and credentials.scheme == "token"


def presents_other_login(credentials: Credentials | None, identity: str) -> bool:
    """Whether the handshake sends Basic with a login that is not the station's identity
    (only then are its other logins read)."""
    if credentials is None or credentials.scheme != "basic" or credentials.token68 is None:
        return False
    try:
        return basic.parse_basic(credentials.token68).username != identity.encode("utf-8")
    except MalformedAuthorization:
        return False


def logins_of(station_id: int) -> tuple[bytes, ...]:
    return tuple(login.encode("utf-8") for login in _logins(station_id=station_id))


class LoginTaken(ValueError):
    pass


def add_login(station: Station, login: str, actor: str = "cli") -> StationLogin:
    """Another Basic login for the station; unique in its tenant, and never another
    station's identity (a login names one station)."""
    if not login or len(login) > 255 or ":" in login or len(login.encode("utf-8")) < 2:
        raise ValueError("a login is 2-255 characters without ':'")
    labels.check(login, "login")  # it is listed and audited: no bidi override or newline (a ValueError)
    if login == station.identity:
        raise ValueError("the station's identity is always its login")
    if Station.objects.for_tenant(station.tenant).filter(identity=login).exists():
        raise LoginTaken(f"{login!r} is another station's identity")
    with transaction.atomic():
        if StationLogin.objects.for_tenant(station.tenant).filter(login=login).exists():
            raise LoginTaken(f"{login!r} is already a login in {station.tenant.slug}")
        row = StationLogin.objects.create(tenant=station.tenant, station=station, login=login)
        audit(station, actor, "login.added", login)
    return row


def remove_login(station: Station, login: str, actor: str = "cli") -> bool:
    with transaction.atomic():
        deleted, _ = StationLogin.objects.filter(station=station, login=login).delete()
        if deleted:
            audit(station, actor, "login.removed", login)
    return bool(deleted)


# Handshake reads, compiled once per process (lib/prepared.py), as services' are.
_active_tokens = Prepared(lambda station_id: StationToken.objects.filter(
    station_id=station_id, revoked_at__isnull=True).values_list("public_id", "secret_hash"), station_id=int)
_active_token = Prepared(lambda station_id, public_id: StationToken.objects.filter(
    station_id=station_id, public_id=public_id, revoked_at__isnull=True).values_list("pk", flat=True)[:1],
    station_id=int, public_id=str)
_logins = Prepared(lambda station_id: StationLogin.objects.filter(station_id=station_id).values_list(
    "login", flat=True), station_id=int)


def stored_tokens(station_id: int) -> keys.StoredTokens:
    """The station's active tokens (at most `MAX_TOKENS_PER_STATION`): read only when the
    handshake presents one, so Basic handshakes never pay for it."""
    return keys.StoredTokens(tuple(tuple(row) for row in _active_tokens(station_id=station_id)))


def token_is_active(station_id: int, public_id: str) -> bool:
    return bool(_active_token(station_id=station_id, public_id=public_id))


# --- TOTP (csms/auth/totp.py) ---------------------------------------------------------------

_active_totp = Prepared(lambda station_id: StationTotp.objects.filter(
    station_id=station_id, revoked_at__isnull=True)[:1], station_id=int)


def presents_totp(credentials: Credentials | None, totp_header: list[bytes]) -> bool:
    """Whether the handshake may be presenting a TOTP: the TOTP scheme or header, or
    Basic (whose password may be a token: the Basic binding)."""
    return bool(totp_header) or (credentials is not None and credentials.scheme in ("totp", "basic"))


def stored_totp(station: Station) -> keys.StoredTotp | None:
    """The station's active TOTP secret, sealed: read only when it may be presented."""
    row = _active_totp.first(station_id=station.pk)
    if row is None:
        return None
    return keys.StoredTotp(policy.realm(station.tenant), station.identity, row.public_id, row.sealed_secret,
                           row.validity, row.length, row.hash_algorithm)


def totp_is_active(station_id: int, public_id: str) -> bool:
    row = _active_totp.first(station_id=station_id)
    return row is not None and row.public_id == public_id


class TotpExists(ValueError):
    pass


SECRET_CHARS = 32  # Base62: 190 bits (the format asks for 128 at least)


def issue_totp(station: Station, *, validity: int = 30, length: int = 12, hash_algorithm: str = "sha256",
               actor: str = "cli") -> tuple[StationTotp, str]:
    """A new TOTP secret for the station: its row (the secret sealed) and the secret, to
    be shown once. One active secret per station: revoke it first."""
    if not totp.MIN_ISSUED_LENGTH <= length <= totp.MAX_ISSUED_LENGTH:
        raise ValueError(f"a token is {totp.MIN_ISSUED_LENGTH} to {totp.MAX_ISSUED_LENGTH} characters here")
    secret = "".join(secrets.choice(totp.BASE62) for _ in range(SECRET_CHARS))
    totp.config(secret, validity, length, None, hash_algorithm)  # raises InvalidConfig
    with transaction.atomic():
        current = Station.objects.select_for_update().select_related("tenant").get(pk=station.pk)
        if StationTotp.objects.filter(station=current, revoked_at__isnull=True).exists():
            raise TotpExists("the station has an active TOTP secret; revoke it first")
        public_id = secrets.token_hex(6)
        row = StationTotp.objects.create(
            tenant=current.tenant, station=current, public_id=public_id, validity=validity, length=length,
            hash_algorithm=hash_algorithm,
            sealed_secret=keys.seal_totp(policy.realm(current.tenant), current.identity, public_id, secret))
        audit(current, actor, "totp.issued", public_id)
    return row, secret


def opened_with(station: Station, public_id: str) -> bool:
    """Whether the station's connection was opened with this token (its claim recorded
    it); a claim from before that was recorded names none, so it may have been."""
    return station.last_auth_credential in ("", public_id)


def revoke_totp(station: Station, actor: str = "cli") -> StationTotp | None:
    """Revoke the active TOTP secret; a TOTP connection is closed."""
    with transaction.atomic():
        current = Station.objects.select_for_update().select_related("tenant").get(pk=station.pk)
        row = StationTotp.objects.select_for_update().filter(station=current, revoked_at__isnull=True).first()
        if row is None:
            return None
        row.revoked_at = timezone.now()
        row.save(update_fields=["revoked_at"])
        audit(current, actor, "totp.revoked", row.public_id)
        if current.last_auth_method == "totp" and current.connected:
            announce.revoke_connection(current)
    return row


def totp_summary(row: StationTotp) -> dict:
    return {"id": row.public_id, "validity": row.validity, "length": row.length,
            "hash_algorithm": row.hash_algorithm, "alphabet": totp.BASE62, "active": row.revoked_at is None,
            "created_at": rfc3339(row.created_at)}


# --- usable methods -------------------------------------------------------------------------

def usable(station: Station, methods, *, tokens: set[int] | None = None) -> list[str]:
    """Which of `methods` the station holds a credential for. `tokens`: the ids of
    stations with an active token, when known (a fleet's check)."""
    methods = list(methods)
    if tokens is None:
        has_token = StationToken.objects.filter(station=station, revoked_at__isnull=True).exists()
    else:
        has_token = station.pk in tokens
    credential = getattr(station, "credential", None)
    held = {"basic": station.has_key, "token": has_token,
            "digest": bool(credential and credential.current_hash and credential.current_digest),
            "eap": bool(credential and credential.current_hash and credential.current_eap),
            # asked only of a list naming TOTP: a fleet's check pays no query otherwise
            "totp": "totp" in methods and StationTotp.objects.filter(
                station=station, revoked_at__isnull=True).exists(),
            "bearer": "bearer" in methods and station_bearer.holds_key(station)}
    return [m for m in methods if held.get(m, False)]


class LockOut(ValueError):
    """A change would leave stations with no method they hold credentials for."""

    def __init__(self, stranded: list[str]):
        self.stranded = stranded
        shown = ", ".join(stranded[:10]) + (f" and {len(stranded) - 10} more" if len(stranded) > 10 else "")
        super().__init__(f"this would leave {len(stranded)} station(s) with no method they hold a credential "
                         f"for, so they could not connect: {shown}. Issue them a token (`station token "
                         "issue`) or a key first, or force it")


def refuse_stranding(tenant, change, force: bool = False) -> None:
    """Raise `LockOut` if `change` (as `stranded_by` takes it) strands stations, unless forced."""
    stranded = stranded_by(tenant, change)
    if stranded and not force:
        raise LockOut(stranded)


def disconnect_disallowed(tenant) -> int:
    """Connections that proved a method no longer allowed are taken away (downgrade
    protection holds for sockets already open, not only for the next handshake)."""
    rules = current_rules(tenant)
    taken = 0
    for s in Station.objects.for_tenant(tenant).filter(connected=True).exclude(last_auth_method=""):
        if s.last_auth_method not in policy.allowed_methods(s, rules):
            announce.revoke_connection(s)
            taken += 1
    return taken


def set_station_methods(station: Station, methods: list[str] | None, *, force: bool = False) -> None:
    """The station's own list (None: inherit). Checked lists only (`policy.parse_methods`)."""
    def change(s, rules):
        if s.pk != station.pk:
            return s, rules
        changed = copy.copy(s)
        changed.auth_methods = methods
        return changed, rules
    with transaction.atomic():
        refuse_stranding(station.tenant, change, force)
        station.auth_methods = methods
        station.save(update_fields=["auth_methods"])
        disconnect_disallowed(station.tenant)


def set_default_methods(tenant, methods: list[str] | None, *, force: bool = False) -> None:
    """The tenant's default list (None: Basic alone)."""
    with transaction.atomic():
        refuse_stranding(tenant, lambda s, rules: (s, policy.Rules(tuple(methods) if methods else None,
                                                                   rules.groups)), force)
        row = changed(tenant)
        row.methods = methods
        row.save(update_fields=["methods"])
        disconnect_disallowed(tenant)


# --- groups ---------------------------------------------------------------------------------

GROUP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
GROUP_NAME_RULE = "a group name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
# A group's patterns by the name the CLI and the API give them, and their columns.
PATTERNS = {"identity": "identity_pattern", "vendor": "vendor_pattern", "model": "model_pattern",
            "firmware": "firmware_pattern"}


class GroupTaken(ValueError):
    """Another group of the tenant has this name or rank."""


def next_rank(tenant) -> int:
    """The rank a new group gets when none is given: after the last."""
    return (StationGroup.objects.for_tenant(tenant).aggregate(m=Max("rank"))["m"] or 0) + 10


def save_group(tenant, row: StationGroup, *, force: bool = False) -> None:
    """Create or change a group (CLI and API): `LockOut` if the change strands stations
    (unless forced), `GroupTaken` if its name or rank is another group's. Connections
    that proved a method no longer allowed are closed."""
    def change(station, rules):
        others = tuple(g for g in rules.groups if g.name != row.name)
        return station, policy.Rules(rules.default, (*others, as_group(row)))
    try:
        with transaction.atomic():
            refuse_stranding(tenant, change, force)
            row.save()  # moves the tenant's policy version (group_saved_or_deleted)
            disconnect_disallowed(tenant)
    except IntegrityError:
        taken = StationGroup.objects.for_tenant(tenant).filter(rank=row.rank).exclude(name=row.name).first()
        raise GroupTaken(f"rank {row.rank} is taken by group {taken.name}" if taken is not None
                         else f"group {row.name!r} already exists in {tenant.slug}") from None


def remove_group(tenant, row: StationGroup, *, force: bool = False) -> None:
    """Delete a group: its stations fall to the next matching group or the default."""
    with transaction.atomic():
        refuse_stranding(tenant, lambda s, rules: (s, policy.Rules(
            rules.default, tuple(g for g in rules.groups if g.name != row.name))), force)
        row.delete()  # moves the tenant's policy version (group_saved_or_deleted)
        disconnect_disallowed(tenant)


def group_summary(row: StationGroup) -> dict:
    return {"name": row.name, "rank": row.rank,
            "patterns": {option: getattr(row, field) for option, field in PATTERNS.items()},
            "methods": row.methods, "networks": row.networks}


def describe(station: Station) -> dict:
    """A station's methods, where they come from, and what it last used (CLI and API)."""
    resolved = resolve(station)
    return {"identity": station.identity, "methods": list(resolved.methods), "source": resolved.source,
            "group": resolved.group, "own_methods": station.auth_methods,
            "usable": usable(station, resolved.methods),
            "last_method": station.last_auth_method or None,
            "active_tokens": StationToken.objects.filter(station=station, revoked_at__isnull=True).count()}


def status(tenant) -> list[dict]:
    """Per group (in rank order, then the stations in none): how many stations, the
    method each last connected with, how many may still use Basic, and which stations'
    last connection used Basic."""
    rules = current_rules(tenant)
    report = {name: {"group": name, "stations": 0, "last_method": Counter(), "still_on_basic": [],
                     "basic_allowed": 0}
              for name in [g.name for g in sorted(rules.groups, key=lambda g: g.rank)] + [None]}
    for s in Station.objects.for_tenant(tenant).order_by("identity"):
        resolved = policy.resolve(s, rules)
        entry = report[resolved.group]
        entry["stations"] += 1
        entry["last_method"][s.last_auth_method or "never"] += 1
        entry["basic_allowed"] += "basic" in resolved.methods
        if s.last_auth_method == "basic":
            entry["still_on_basic"].append(s.identity)
    return [dict(e, last_method=dict(sorted(e["last_method"].items()))) for e in report.values()
            if e["stations"] or e["group"] is not None]


def stranded_by(tenant, change) -> list[str]:
    """The identities of the tenant's stations that can connect now and could not after
    `change(station, rules) -> (station, rules)` is applied (run inside the change's
    transaction, before it is written)."""
    before = current_rules(tenant)
    stations = list(Station.objects.for_tenant(tenant).select_related("tenant", "credential"))
    with_token = set(StationToken.objects.for_tenant(tenant).filter(revoked_at__isnull=True)
                     .values_list("station_id", flat=True))
    stranded = []
    for station in stations:
        if not usable(station, policy.allowed_methods(station, before), tokens=with_token):
            continue  # already unable to connect: not this change's doing
        after_station, after_rules = change(station, before)
        if not usable(station, policy.allowed_methods(after_station, after_rules), tokens=with_token):
            stranded.append(station.identity)
    return stranded


# --- tokens ---------------------------------------------------------------------------------

class TooManyTokens(ValueError):
    pass


def issue_token(station: Station, label: str = "", actor: str = "cli") -> tuple[StationToken, str]:
    """A new token for the station: its row, and the token, to be shown once. A label
    with a control or formatting character is refused (labels.LabelError)."""
    labels.check(label, "label")
    with transaction.atomic():
        Station.objects.select_for_update().filter(pk=station.pk).first()  # one issue at a time
        active = StationToken.objects.filter(station=station, revoked_at__isnull=True).count()
        if active >= MAX_TOKENS_PER_STATION:
            raise TooManyTokens(f"the station has {active} active tokens, the most it may have; "
                                "revoke one first")
        value, public_id, secret = token.generate()
        row = StationToken.objects.create(tenant=station.tenant, station=station, public_id=public_id,
                                          secret_hash=keys.hash_token_secret(secret), label=label)
        audit(station, actor, "token.issued", public_id)
    return row, value


def token_summary(row: StationToken) -> dict:
    """What may be shown of a token, ever: its public id, never its secret."""
    return {"id": row.public_id, "label": row.label, "active": row.active,
            "created_at": rfc3339(row.created_at),
            "revoked_at": rfc3339(row.revoked_at)}


def revoke_token(station: Station, public_id: str, actor: str = "cli") -> StationToken | None:
    """Revoke one token; a connection it opened is closed (it cannot tell which one did,
    so a connection that proved a token is taken away)."""
    with transaction.atomic():
        # The station row first: a handshake's claim holds it until it commits, and checks
        # the token after it (`services.open_connection`), so either that check sees the
        # revocation or this sees the claim's connection.
        current = Station.objects.select_for_update().select_related("tenant").get(pk=station.pk)
        row = StationToken.objects.select_for_update().filter(station=current, public_id=public_id).first()
        if row is None:
            return None
        if row.revoked_at is None:
            row.revoked_at = timezone.now()
            row.save(update_fields=["revoked_at"])
            audit(current, actor, "token.revoked", public_id)
            if current.last_auth_method == "token" and current.connected and opened_with(current, public_id):
                announce.revoke_connection(current)
    return row
