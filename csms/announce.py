"""Telling the connection that holds a station, wherever it is held.

Best-effort channel-layer events to the station's group: every connection also looks
for its work in the process's reconcile pass (csms/held.py), so a lost event delays
what it announces instead of losing it.
"""
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.utils import timezone

from .models import Station

log = logging.getLogger(__name__)


# The claim `revoke_connection` leaves: no connection holds the station.
NO_CONNECTION = ""


def revoke_connection(station: Station, connection_id: str | None = None) -> None:
    """Take the station away from whichever connection holds it (or only from
    `connection_id`, if that one still holds it): at its next reconcile that connection
    closes itself (the `disconnect` event does it at once where the channel layer
    reaches, but a command run in another process has no such reach in embedded mode)."""
    rows = Station.objects.filter(pk=station.pk)
    if connection_id is not None:
        rows = rows.filter(connection_id=connection_id)
    if rows.update(connection_id=NO_CONNECTION, connected=False, connection_node="",
                   disconnected_at=timezone.now()):
        transaction.on_commit(lambda: disconnect(station, connection_id))


def station_changed(station: Station) -> None:
    """Tell the station's connection, wherever it is held, to reload the station row
    before its next message (an operator changed its registration or protocols). Best
    effort: the connection reloads within `CSMS["STATION_FRESH_SECONDS"]` anyway."""
    _tell(station, {"type": "station.changed"})


def nudge(station: Station) -> None:
    """Tell whichever consumer holds the station's socket to look for work.

    Best effort: consumers also reconcile on connect and periodically, so a lost nudge
    delays the work instead of losing it.
    """
    _tell(station, {"type": "station.nudge"})


def disconnect(station: Station, connection_id: str | None = None) -> None:
    """Close the station's live socket (or only `connection_id`'s), wherever it is held
    (its credentials were replaced or revoked: whoever is connected proved something no
    longer valid). Best effort like `nudge`; a station whose key is gone cannot connect
    again anyway."""
    _tell(station, {"type": "station.disconnect"} if connection_id is None
          else {"type": "station.disconnect", "connection_id": connection_id})


def _tell(station: Station, event: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(station.group_name, event)
    except Exception:  # a broken layer must not fail the caller's write
        log.warning("could not send %s to station %s", event["type"], station.pk, exc_info=True)
