"""A tenant's fleet at a glance, for the portal's dashboard (and anything else that
reports on a whole fleet): every figure is one aggregate query, never a loop over
stations, so it costs the same whether the tenant has ten stations or 100,000."""
from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

from .models import CredentialChange, KeyOrigin, RegistrationStatus, Station, StationCredential

# Key-age buckets, youngest first: (label, lower bound in days, upper bound in days or None).
KEY_AGE_BUCKETS = (("under 30 days", 0, 30), ("30–90 days", 30, 90), ("90–365 days", 90, 365),
                   ("over a year", 365, None))
FAILURE_WINDOW = timedelta(days=7)


def counted(rows, key: str, blank: str) -> list[tuple[str, int]]:
    """`values(key).annotate(n=Count(…))` rows as (label, count) pairs, largest first."""
    return sorted(((row[key] or blank, row["n"]) for row in rows), key=lambda pair: (-pair[1], pair[0]))


def connections(tenant) -> dict:
    stations = Station.objects.for_tenant(tenant)
    totals = stations.aggregate(total=Count("id"), connected=Count("id", filter=Q(connected=True)))
    by_version = stations.filter(connected=True).values("ocpp_version").annotate(n=Count("id"))
    return {**totals, "by_version": counted(by_version, "ocpp_version", "unknown")}


def auth_methods(tenant) -> list[tuple[str, int]]:
    """The method each station's latest connection proved itself with."""
    rows = Station.objects.for_tenant(tenant).values("last_auth_method").annotate(n=Count("id"))
    return counted(rows, "last_auth_method", "never connected")


def key_ages(tenant, now=None) -> list[tuple[str, int]]:
    now = now or timezone.now()
    buckets = {}
    for n, (_label, low, high) in enumerate(KEY_AGE_BUCKETS):
        since = Q(current_since__lte=now - timedelta(days=low))
        if high is not None:
            since &= Q(current_since__gt=now - timedelta(days=high))
        buckets[f"age{n}"] = Count("id", filter=since)
    buckets["none"] = Count("id", filter=Q(current_since__isnull=True))
    figures = StationCredential.objects.filter(tenant=tenant).aggregate(**buckets)
    labels = [label for label, _, _ in KEY_AGE_BUCKETS] + ["no key"]
    return list(zip(labels, figures.values(), strict=True))


def key_risks(tenant) -> dict:
    """Stations on a series (master or factory) key, and stations still proving
    themselves with Basic."""
    series = StationCredential.objects.filter(tenant=tenant).aggregate(
        on_series_key=Count("id", filter=Q(current_origin=KeyOrigin.MASTER) | Q(needs_unique_key=True)))
    basic = Station.objects.for_tenant(tenant).filter(last_auth_method="basic").count()
    return {**series, "on_basic": basic}


def rotations(tenant, now=None) -> dict:
    now = now or timezone.now()
    open_states = [CredentialChange.State.QUEUED, CredentialChange.State.IN_FLIGHT,
                   CredentialChange.State.AWAITING_PROOF]
    recent = Q(created_at__gte=now - FAILURE_WINDOW)
    return CredentialChange.objects.filter(tenant=tenant).aggregate(
        in_progress=Count("id", filter=Q(state__in=open_states)),
        failed=Count("id", filter=recent & Q(state=CredentialChange.State.FAILED)),
        succeeded=Count("id", filter=recent & Q(state=CredentialChange.State.SUCCEEDED)))


def onboarding(tenant) -> dict:
    """The tenant's onboarding hold (csms/credentials.py `watch_onboarding_rate`), the
    stations waiting for a unique key, and those an operator set to Pending."""
    held_since = type(tenant).objects.filter(pk=tenant.pk).values_list("onboarding_held_since", flat=True)[0]
    return {"held_since": held_since,
            "waiting": StationCredential.objects.filter(tenant=tenant, needs_unique_key=True).count(),
            "pending": Station.objects.for_tenant(tenant).filter(
                registration_status=RegistrationStatus.PENDING).count()}


def summary(tenant) -> dict:
    return {"connections": connections(tenant), "auth_methods": auth_methods(tenant),
            "key_ages": key_ages(tenant), "key_risks": key_risks(tenant),
            "rotations": rotations(tenant), "onboarding": onboarding(tenant),
            "failure_window_days": FAILURE_WINDOW.days}
