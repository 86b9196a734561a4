"""Background work for the CSMS (Celery, scheduled by beat)."""
import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from . import credentials, lifecycle
from .models import CredentialChange, StationCall

log = logging.getLogger(__name__)

# Grace beyond the call timeout before a sent call is declared orphaned: the consumer
# that sent it resolves it itself unless its process died.
ORPHAN_GRACE = timedelta(seconds=60)


@shared_task
def reap_orphaned_calls() -> int:
    """End the calls left 'sent' by a server process that stopped before resolving them.

    Ended as lost, with what their purpose makes of that (a key change: the key may or may
    not have arrived), in one transaction each (`lifecycle.settle`).
    """
    cutoff = timezone.now() - timedelta(seconds=settings.CSMS["CALL_TIMEOUT_SECONDS"]) - ORPHAN_GRACE
    orphans = StationCall.objects.filter(state=StationCall.State.SENT, sent_at__lt=cutoff)
    reaped, _after = lifecycle.lose_sent(orphans.values_list(*lifecycle.LOST_ROW),
                                         "the server holding the connection stopped before an answer")
    return reaped  # the stations' connections, if any, find their changes in their reconcile pass


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


def advance_campaign_of(sender, change_id: int, trigger: str, **kwargs) -> None:
    """`signals.change_settled`: a campaign's change settled, so move the campaign on now
    rather than at the next beat (connected in csms/apps.py)."""
    if trigger != CredentialChange.Trigger.CAMPAIGN:
        return
    try:
        # No publish retries: with the broker (Redis) down they would hold a station's
        # database thread for seconds, and beat runs this task every 15 s anyway.
        advance_campaigns.apply_async(retry=False)
    except Exception:
        log.warning("campaign of key change %s moves on at the next beat: the broker is "
                    "unreachable", change_id, exc_info=True)


@shared_task
def rotate_station(station_id: int, requested_by: str) -> int | None:
    """Request a key change for one station (portal, REST); None if one is already open."""
    from .models import Station

    station = Station.objects.select_related("tenant", "credential").get(pk=station_id)
    try:
        return credentials.request_change(station, "demand", requested_by).pk
    except credentials.ChangeRefused:
        return None
