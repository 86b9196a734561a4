"""A tenant's inherited method lists as `csms.auth.policy` reads them (`policy.Rules`),
built from its policy row and station groups: below the credential records, which ask
whether a station may use EAP when they set its key (`credentials.new_key`), and below
`csms.station_methods`, which writes the rows.

The handshake reads a tenant's groups without a query of its own: the station's row
comes with the tenant's `StationAuthPolicy` (its default list and the version of its
groups), and the groups of that version are kept in memory, per process, until the
version moves (`station_methods.changed`).
"""
import threading

from django.db import transaction

from .auth import policy
from .models import Station, StationAuthPolicy, StationGroup

# tenant pk -> ((policy row pk, version), its groups)
_groups: dict[int, tuple[tuple[int, int], tuple[policy.Group, ...]]] = {}
_groups_lock = threading.Lock()


def policy_row(tenant) -> StationAuthPolicy | None:
    try:
        return tenant.station_auth_policy
    except StationAuthPolicy.DoesNotExist:
        return None


def as_group(row: StationGroup) -> policy.Group:
    return policy.Group(name=row.name, rank=row.rank, identity=row.identity_pattern,
                        vendor=row.vendor_pattern, model=row.model_pattern,
                        firmware=row.firmware_pattern,
                        methods=tuple(row.methods) if row.methods else None,
                        networks=policy.parse_networks(",".join(row.networks or [])))


def rules_for(tenant) -> policy.Rules:
    """The tenant's rules as the policy reads them, for a handshake: the tenant's policy
    row was read with the station's (`services.find_station`), and there is no query
    while its version is the one whose groups are in memory."""
    return _rules(tenant, policy_row(tenant))


def current_rules(tenant) -> policy.Rules:
    """The tenant's rules as they are now (for commands and pages: the policy row is read
    afresh, whatever a tenant instance holds)."""
    return _rules(tenant, StationAuthPolicy.objects.filter(tenant=tenant).first())


def _rules(tenant, row: StationAuthPolicy | None) -> policy.Rules:
    if row is None:
        return policy.NO_RULES
    version = (row.pk, row.version)
    with _groups_lock:
        cached = _groups.get(tenant.pk)
    if cached is None or cached[0] != version:
        groups = tuple(as_group(g) for g in StationGroup.objects.for_tenant(tenant).order_by("rank"))
        cached = (version, groups)
        # Not what a transaction read: it may yet be rolled back, and its version be
        # taken by another change of other groups.
        if not transaction.get_connection().in_atomic_block:
            with _groups_lock:
                _groups[tenant.pk] = cached
    return policy.Rules(default=tuple(row.methods) if row.methods else None, groups=cached[1])


def resolve(station: Station) -> policy.Resolved:
    return policy.resolve(station, current_rules(station.tenant))


def allows(station: Station, method: str) -> bool:
    """Whether `method` is in the station's list as the tenant's rules are now."""
    return method in resolve(station).methods
