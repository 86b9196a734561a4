"""A station's connection history: its last `StationConnection.KEPT` connections, each
with when and how it closed, and the last frames of the newest few.

Bounded by the write that grows it: a new connection's row is added, the rows beyond
the last `KEPT` deleted and the frames of those beyond the newest `WITH_MESSAGES`
emptied in the handshake's own transaction (on the group-commit writer), by ranges of
the station's connection sequence number (each accepted claim counts it up by one, so
`seq > new - KEPT` is at most `KEPT` rows). No housekeeping job, no growth.
"""
from django.utils import timezone

from .models import StationConnection
from .protocol import recent

KEPT = StationConnection.KEPT
WITH_MESSAGES = StationConnection.WITH_MESSAGES


def opened(station_id: int, tenant_id: int, seq: int, connection_id: str, *, method: str,
           source: str, user_agent: str) -> None:
    """Record the connection that claimed the station as `seq`, and prune."""
    rows = StationConnection.objects.filter(station_id=station_id)
    StationConnection.objects.create(
        tenant_id=tenant_id, station_id=station_id, seq=seq, connection_id=connection_id,
        opened_at=timezone.now(), method=method, source=source[:64], user_agent=user_agent)
    rows.filter(seq__lte=seq - KEPT).delete()
    rows.filter(seq__lte=seq - WITH_MESSAGES, messages_at__isnull=False).update(messages=[], messages_at=None)


def closed(station_id: int, seq: int, code: int | None, reason: str, frames: list[tuple]) -> None:
    """How the connection `seq` ended, with its last frames (a `recent.Ring.snapshot`)."""
    now = timezone.now()
    StationConnection.objects.filter(station_id=station_id, seq=seq).update(
        closed_at=now, close_code=code, close_reason=reason[:123], messages=recent.stored(frames),
        messages_at=now)


def write_messages(batch: dict[tuple[int, int], list[tuple]]) -> None:
    """Each connection's frames (`recent.Ring.snapshot`s) as of now: one UPDATE per
    connection, in the caller's transaction (csms/recent_frames.py runs it on the writer,
    one batch for the process)."""
    now = timezone.now()
    for (station_id, seq), frames in batch.items():
        StationConnection.objects.filter(station_id=station_id, seq=seq).update(
            messages=recent.stored(frames), messages_at=now)
