"""Which schemes a station may authenticate with, under which realm, read how.

The one place these are decided: the handshake's decision (`station_auth`) and its 401
challenges ask here, and so do the commands that show a station's methods. Pure: it
reads the station row and the tenant's rules (`Rules`, built from the tenant's policy
row and station groups by `csms.station_methods`) it is given.

Precedence (docs/station-auth.md, "Which methods a station may use"):

1. the station's own list (`Station.auth_methods`), if set;
2. else the list of its group: the *first* of the tenant's groups, by rank, whose
   patterns all match the station (identity, and vendor, model and firmware from its
   last BootNotification); a group without a list of its own defers to
3. the tenant's default list, if set;
4. else Basic alone (`DEFAULT_METHODS`), what every station had before.

Lists are never merged: the one that applies is the station's whole list, in its order
of preference. A method left out is refused even with valid credentials (downgrade
protection, `station_auth.authenticate`).
"""
import fnmatch
import ipaddress
from dataclasses import dataclass, field

from csms.protocol.versions import OcppVersion

from .schemes import NO_TOKENS, SecretStore, Subject, TokenStore

DEFAULT_METHODS = ("basic",)
MAX_METHODS = 8


@dataclass(frozen=True)
class Group:
    """A station group as the policy reads it (`csms.models.StationGroup`)."""
    name: str
    rank: int
    identity: str = ""  # fnmatch patterns, compared without case; "" matches anything
    vendor: str = ""
    model: str = ""
    firmware: str = ""
    methods: tuple[str, ...] | None = None  # None: the tenant's default
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()  # (): any source

    def matches(self, station) -> bool:
        return all(_matches(pattern, value) for pattern, value in (
            (self.identity, station.identity), (self.vendor, station.vendor),
            (self.model, station.model), (self.firmware, station.firmware_version)))


def _matches(pattern: str, value: str) -> bool:
    return not pattern or fnmatch.fnmatchcase((value or "").lower(), pattern.lower())


def parse_networks(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """An operator's comma-separated CIDR networks ("" or "any": no restriction). A
    network with host bits set (10.0.0.1/8) is refused as the likely typo it is."""
    if text.strip().lower() in ("", "any"):
        return ()
    networks = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        try:
            networks.append(ipaddress.ip_network(part))
        except ValueError as exc:
            raise ValueError(f"{part}: {exc}") from None
    return tuple(networks)


def source_allowed(group: Group | None, address: str) -> bool:
    """Whether a handshake from `address` (the client address the ASGI server reports)
    may go on for a station of `group`: any address if the group names no networks;
    else only one inside them (an unreadable address is outside). An IPv4 client seen
    through an IPv6 socket (::ffff:a.b.c.d) is its IPv4 address."""
    if group is None or not group.networks:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in group.networks)


@dataclass(frozen=True)
class Rules:
    """A tenant's inherited method lists: its default and its groups, in rank order."""
    default: tuple[str, ...] | None = None
    groups: tuple[Group, ...] = field(default=())


NO_RULES = Rules()


@dataclass(frozen=True)
class Resolved:
    """A station's methods and where they come from: "station", "group", "tenant" or
    "built-in"; `group` is the station's group (if any), whether or not it set them."""
    methods: tuple[str, ...]
    source: str
    group: str | None = None


def group_of(station, rules: Rules) -> Group | None:
    """The station's group: the first, by rank, whose patterns all match it."""
    return next((g for g in sorted(rules.groups, key=lambda g: g.rank) if g.matches(station)), None)


def resolve(station, rules: Rules = NO_RULES) -> Resolved:
    group = group_of(station, rules)
    name = group.name if group else None
    if station.auth_methods:
        return Resolved(tuple(station.auth_methods), "station", name)
    if group is not None and group.methods:
        return Resolved(tuple(group.methods), "group", name)
    if rules.default:
        return Resolved(tuple(rules.default), "tenant", name)
    return Resolved(DEFAULT_METHODS, "built-in", name)


def allowed_methods(station, rules: Rules = NO_RULES) -> tuple[str, ...]:
    """The schemes `station` may authenticate with, most preferred first (lower-case
    names of `station_auth.SCHEMES`)."""
    return resolve(station, rules).methods


def parse_methods(text: str, known: list[str]) -> tuple[str, ...]:
    """An operator's comma-separated method list, checked: at least one method, each a
    scheme this CSMS implements (`known`, lower-case), none twice. Raises ValueError
    saying what is wrong. An empty list is refused: it would lock the stations out."""
    methods = tuple(m.strip().lower() for m in text.split(",") if m.strip())
    if not methods:
        raise ValueError("give at least one method: a station with none could never connect")
    unknown = [m for m in methods if m not in known]
    if unknown:
        raise ValueError(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(known)}")
    if len(set(methods)) != len(methods):
        raise ValueError("a method is named twice")
    if len(methods) > MAX_METHODS:
        raise ValueError(f"at most {MAX_METHODS} methods")
    return methods


def realm(tenant) -> str:
    """The protection space of a tenant's OCPP endpoint: the same in every challenge of
    every scheme and station of the tenant (white paper CSMS-6), and distinct between
    tenants, so a station's credential store keeps one entry per CSMS tenant."""
    return f"Chargegate {tenant.slug}"


def accepts_hex(tenant, version: OcppVersion | None) -> bool:
    """Whether a Basic password may be the key's hex text rather than its raw bytes.

    For 1.6 the tenant decides (`accept_hex_basic_password`): OCPP-J 1.6 §6.2.2 asks for
    the raw bytes, many stations send the hex. A 2.0.1 station has no choice: its
    BasicAuthPassword is a string, so a key given to it in hex (`station add --key`) is
    what it holds and sends, and refusing that reading would lock it out."""
    return tenant.accept_hex_basic_password or version is OcppVersion.V201


def subject(station, keys: SecretStore, version: OcppVersion | None, rules: Rules = NO_RULES,
            tokens: TokenStore = NO_TOKENS, source: str | None = None,
            logins: tuple[bytes, ...] = (), digest=None, request_target: bytes = b"", totp=None,
            eap=None, bearer=None) -> Subject:
    """What the handshake's decision needs to know of `station`, which the handshake
    offered to speak `version` with (None: no agreeable subprotocol), from the client
    address `source` (None: not checked against the group's networks); `digest` is its
    `digest.DigestStore`, `request_target` the handshake's path and query, `totp` its
    `totp.TotpStore` (None: no active secret, or not loaded), `eap` its `eap.EapStore`
    (kept only if its list names EAP: no round is opened for a station that may not use it),
    `bearer` its `bearer.BearerStore` (None: not loaded)."""
    resolved = resolve(station, rules)
    group = next((g for g in rules.groups if g.name == resolved.group), None)
    return Subject(identity=station.identity, realm=realm(station.tenant),
                   methods=resolved.methods, keys=keys,
                   accept_hex=accepts_hex(station.tenant, version), tokens=tokens, logins=logins,
                   source_allowed=source is None or source_allowed(group, source),
                   digest=digest, request_target=request_target, totp=totp,
                   eap=eap if "eap" in resolved.methods else None, bearer=bearer)
