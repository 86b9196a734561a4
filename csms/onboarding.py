"""Onboarding, for every caller (REST API, portal, CLI): the tenant's anomaly hold (too
many first connections with a series key: `credentials.watch_onboarding_rate`) and its
release, and the stations waiting to be let in, approved or rejected one by one.

A station waits while it is on a series key (it gets its unique key at its next boot,
unless onboarding is held) or while the operator's setting answers it Pending.
Approving sets that to Accepted, rejecting to Rejected (its boots are refused); both are
seen at its next boot.
"""
from django.db.models import Q, QuerySet

from . import announce, credentials
from .models import RegistrationStatus, Station, StationCredential


class Refused(ValueError):
    """The decision does not apply in the current state (the API answers 409)."""


def hold_of(tenant) -> dict:
    tenant.refresh_from_db(fields=["onboarding_held_since"])
    return {"held": tenant.onboarding_held_since is not None, "held_since": tenant.onboarding_held_since,
            "on_series_key": StationCredential.objects.for_tenant(tenant).filter(needs_unique_key=True).count(),
            "window_minutes": tenant.onboarding_window_minutes, "max_in_window": tenant.onboarding_max_in_window}


def release(tenant, actor: str) -> int:
    """Lift the hold; returns how many stations wait for their unique key. Refused when
    onboarding is not held, so a second operator's click does not audit a release twice."""
    if not hold_of(tenant)["held"]:
        raise Refused(f"onboarding is not held for {tenant.slug}")
    return credentials.release_onboarding(tenant, actor)


def waiting(tenant) -> QuerySet:
    """The tenant's stations waiting to be onboarded, oldest first."""
    waits = Q(credential__needs_unique_key=True) | Q(registration_status=RegistrationStatus.PENDING)
    return (Station.objects.for_tenant(tenant).select_related("credential").filter(waits)
            .order_by("created_at", "pk"))


def decide(station: Station, setting: str, actor: str) -> Station:
    """Set the station's registration to Accepted (approve) or Rejected (reject), audited
    as `onboarding.accepted` / `onboarding.rejected`; seen at its next boot."""
    setting = RegistrationStatus(setting)
    if station.registration_status == setting:
        waits = setting == RegistrationStatus.ACCEPTED and station.effective_registration != setting
        raise Refused(f"the station's setting is {setting} already"
                      + ("; it waits for its unique key at its next boot (while onboarding is held: "
                         "release it)" if waits else ""))
    station.registration_status = setting
    station.save(update_fields=["registration_status"])
    credentials.audit(station, actor, f"onboarding.{setting.lower()}", setting)
    announce.station_changed(station)
    return station
