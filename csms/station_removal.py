"""Removing a station: the one way the REST API and the CLI do it.

Its rows go with it (credential, key changes, tokens, logins, calls: they cascade); the
audit log keeps the removal, naming the identity, since its entries outlive the station
(`AuditEvent.station` is set to null). A connection it holds is closed: no station row,
no station.
"""
import copy

from django.db import transaction

from . import announce
from .models import AuditEvent, Station


def remove_station(station: Station, actor: str) -> None:
    with transaction.atomic():
        AuditEvent.objects.create(tenant_id=station.tenant_id, actor=actor, action="station.removed",
                                  outcome=station.identity[:64], detail={"identity": station.identity})
        held = copy.copy(station)  # delete() clears the pk that names its connection's group
        station.delete()
        transaction.on_commit(lambda: announce.disconnect(held))
