"""Background work for the CSMS (Celery, scheduled by beat)."""
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from . import credentials
from .models import StationCall
from .rotation import Outcome

# Grace beyond the call timeout before a sent call is declared orphaned: the consumer
# that sent it resolves it itself unless its process died.
ORPHAN_GRACE = timedelta(seconds=60)


@shared_task
def reap_orphaned_calls() -> int:
    """Close calls left 'sent' by a server process that stopped before resolving them.

    A credential call among them is an outcome too: the key may or may not have arrived.
    """
    cutoff = timezone.now() - timedelta(seconds=settings.CSMS["CALL_TIMEOUT_SECONDS"]) - ORPHAN_GRACE
    reaped = 0
    for call in StationCall.objects.filter(state=StationCall.State.SENT, sent_at__lt=cutoff):
        claimed = StationCall.objects.filter(pk=call.pk, state=StationCall.State.SENT).update(
            state=StationCall.State.LOST, completed_at=timezone.now(),
            error_description="the server holding the connection stopped before an answer")
        if claimed and call.purpose == StationCall.Purpose.CREDENTIAL:
            credentials.record_outcome(call.pk, Outcome.DROPPED)
        reaped += claimed
    return reaped


@shared_task
def reap_stale_connections() -> int:
    """Mark offline the stations whose server process died without closing them."""
    from . import liveness

    return liveness.reap_stale_connections()


@shared_task
def retry_failed_key_changes() -> int:
    """Retry failed key changes whose backoff has run out."""
    return len(credentials.retry_due())


@shared_task
def rotate_expiring_keys() -> int:
    """Rotate keys older than their tenant's maximum key age."""
    return len(credentials.rotate_old_keys())


@shared_task
def advance_campaigns() -> int:
    """Move every running rotation campaign along."""
    from . import campaigns

    return campaigns.advance_all()


@shared_task
def rotate_station(station_id: int, requested_by: str) -> int | None:
    """Request a key change for one station (portal, REST); None if one is already open."""
    from .models import Station

    station = Station.objects.select_related("tenant", "credential").get(pk=station_id)
    try:
        return credentials.request_change(station, "demand", requested_by).pk
    except credentials.ChangeRefused:
        return None
