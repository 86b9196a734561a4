"""Which schemes a station may authenticate with, under which realm, read how.

The one place these are decided: the handshake's decision (`station_auth`) and its 401
challenges ask here, and so will the commands and pages that show a station's methods.
Pure: it reads the station and tenant rows it is given.

This slice knows one scheme, Basic, for every station. The per-station and per-group
method lists of issue 10 (inherited from groups and the tenant default, ordered by
preference; a method left out is refused even with valid credentials — downgrade
protection) extend `allowed_methods` and nothing else.
"""
from csms.protocol.versions import OcppVersion

from .schemes import SecretStore, Subject

DEFAULT_METHODS = ("basic",)


def realm(tenant) -> str:
    """The protection space of a tenant's OCPP endpoint: the same in every challenge of
    every scheme and station of the tenant (white paper CSMS-6), and distinct between
    tenants, so a station's credential store keeps one entry per CSMS tenant."""
    return f"Chargegate {tenant.slug}"


def allowed_methods(station) -> tuple[str, ...]:
    """The schemes `station` may authenticate with, most preferred first (lower-case
    names of `station_auth.SCHEMES`)."""
    return DEFAULT_METHODS


def accepts_hex(tenant, version: OcppVersion | None) -> bool:
    """Whether a Basic password may be the key's hex text rather than its raw bytes.

    For 1.6 the tenant decides (`accept_hex_basic_password`): OCPP-J 1.6 §6.2.2 asks for
    the raw bytes, many stations send the hex. A 2.0.1 station has no choice: its
    BasicAuthPassword is a string, so a key given to it in hex (`station add --key`) is
    what it holds and sends, and refusing that reading would lock it out."""
    return tenant.accept_hex_basic_password or version is OcppVersion.V201


def subject(station, keys: SecretStore, version: OcppVersion | None) -> Subject:
    """What the handshake's decision needs to know of `station`, which the handshake
    offered to speak `version` with (None: no agreeable subprotocol)."""
    return Subject(identity=station.identity, realm=realm(station.tenant),
                   methods=allowed_methods(station), keys=keys,
                   accept_hex=accepts_hex(station.tenant, version))
