"""A tenant's fleet at a glance, for the portal's dashboard (and anything else that
reports on a whole fleet): every figure is one aggregate query, never a loop over
stations, so it costs the same whether the tenant has ten stations or 100,000."""
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Q
from django.utils import timezone

from . import auth_audit
from .auth.station_auth import SCHEMES
from .models import CredentialChange, KeyOrigin, RegistrationStatus, Station, StationCredential
from .protocol.versions import OcppVersion

# Key-age buckets, youngest first: (label, lower bound in days, upper bound in days or None).
KEY_AGE_BUCKETS = (("under 30 days", 0, 30), ("30–90 days", 30, 90), ("90–365 days", 90, 365),
                   ("over a year", 365, None))
FAILURE_WINDOW = timedelta(days=7)
METHODS = tuple(name.lower() for name in SCHEMES.names())  # what `Station.last_auth_method` holds
VERSIONS = tuple(version.label for version in OcppVersion)  # what `Station.ocpp_version` holds


def station_figures(tenant) -> dict:
    """The per-station counts, in one pass over the tenant's stations: totals, and each
    method last used and each OCPP version connected (the values the CSMS writes; any
    other is counted as such by `by_value`)."""
    figures = {f"method:{method}": Count("id", filter=Q(last_auth_method=method)) for method in ("", *METHODS)}
    for version in ("", *VERSIONS):
        figures[f"version:{version}"] = Count("id", filter=Q(connected=True, ocpp_version=version))
    # Last: an alias named like a field ("connected") shadows it for the aggregates after it.
    figures.update(total=Count("id"), connected=Count("id", filter=Q(connected=True)),
                   pending=Count("id", filter=Q(registration_status=RegistrationStatus.PENDING)))
    counts = Station.objects.for_tenant(tenant).aggregate(**figures)
    counts["on_basic"] = counts["method:basic"]
    return counts


def by_value(counts: dict, prefix: str, whole: int, blank: str) -> list[tuple[str, int]]:
    """The `prefix:value` counts of `station_figures` as (label, count) pairs, largest
    first, zeros left out; what no known value accounts for (a value written by an older
    version) is "other"."""
    pairs = [(name.removeprefix(prefix) or blank, n) for name, n in counts.items() if name.startswith(prefix) and n]
    other = whole - sum(n for _, n in pairs)
    return sorted(pairs + ([("other", other)] if other > 0 else []), key=lambda pair: (-pair[1], pair[0]))


def key_figures(tenant, now=None) -> dict:
    """Key ages (KEY_AGE_BUCKETS, then "no key"), series keys and stations waiting for a
    unique key, in one pass over the tenant's credentials."""
    now = now or timezone.now()
    figures = {}
    for n, (_label, low, high) in enumerate(KEY_AGE_BUCKETS):
        since = Q(current_since__lte=now - timedelta(days=low))
        if high is not None:
            since &= Q(current_since__gt=now - timedelta(days=high))
        figures[f"age{n}"] = Count("id", filter=since)
    figures["age_none"] = Count("id", filter=Q(current_since__isnull=True))
    figures["on_series_key"] = Count("id", filter=Q(current_origin=KeyOrigin.MASTER) | Q(needs_unique_key=True))
    figures["waiting"] = Count("id", filter=Q(needs_unique_key=True))
    return StationCredential.objects.filter(tenant=tenant).aggregate(**figures)


def key_ages(keys: dict) -> list[tuple[str, int]]:
    labels = [label for label, _, _ in KEY_AGE_BUCKETS] + ["no key"]
    return list(zip(labels, [keys[f"age{n}"] for n in range(len(KEY_AGE_BUCKETS))] + [keys["age_none"]],
                    strict=True))


def rotations(tenant, now=None) -> dict:
    now = now or timezone.now()
    open_states = [CredentialChange.State.QUEUED, CredentialChange.State.IN_FLIGHT,
                   CredentialChange.State.AWAITING_PROOF]
    recent = Q(created_at__gte=now - FAILURE_WINDOW)
    return CredentialChange.objects.filter(tenant=tenant).aggregate(
        in_progress=Count("id", filter=Q(state__in=open_states)),
        failed=Count("id", filter=recent & Q(state=CredentialChange.State.FAILED)),
        succeeded=Count("id", filter=recent & Q(state=CredentialChange.State.SUCCEEDED)))


def summary(tenant) -> dict:
    """Everything the dashboard shows: six aggregate queries whatever the fleet's size."""
    stations, keys = station_figures(tenant), key_figures(tenant)
    # Read afresh: the hold is set by whichever process saw the burst of series-key boots.
    held_since = type(tenant).objects.filter(pk=tenant.pk).values_list("onboarding_held_since", flat=True)[0]
    return {"connections": {"total": stations["total"], "connected": stations["connected"],
                            "by_version": by_value(stations, "version:", stations["connected"], "unknown")},
            "auth_methods": by_value(stations, "method:", stations["total"], "never connected"),
            "key_ages": key_ages(keys),
            "key_risks": {"on_series_key": keys["on_series_key"], "on_basic": stations["on_basic"]},
            "rotations": rotations(tenant),
            "onboarding": {"held_since": held_since, "waiting": keys["waiting"], "pending": stations["pending"]},
            "failure_window_days": FAILURE_WINDOW.days,
            # Refused handshakes are audit events (csms/auth_audit.py), filed per tenant.
            "auth_failures": {"by_hour": auth_audit.failures_by_hour(tenant),
                              "by_kind": auth_audit.failures_by_kind(tenant), "hours": auth_audit.FAILURE_HOURS}}


def shared_summary(tenant) -> dict:
    """`summary`, computed at most once per `CSMS["DASHBOARD_CACHE_SECONDS"]` per tenant
    (in the shared cache, so across processes with Redis): ten operators watching one
    fleet cost what one does, and the figures are at most that much older than the
    page's own 5-second refresh."""
    seconds = settings.CSMS["DASHBOARD_CACHE_SECONDS"]
    if seconds <= 0:
        return summary(tenant)
    try:
        figures = cache.get(cache_key(tenant))
    except Exception:  # a cache outage costs the computation, never the page
        return summary(tenant)
    if figures is None:
        figures = summary(tenant)
        try:
            cache.set(cache_key(tenant), figures, seconds)
        except Exception:
            pass
    return figures


def cache_key(tenant) -> str:
    return f"csms.posture:{tenant.pk}"
