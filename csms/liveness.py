"""Which server process holds which station socket, and whether it is still alive.

A station's `connected` flag is cleared when its consumer shuts down. A process killed
with -9, a lost host or an ASGI server that drops its consumers does not run that
cleanup, and the flag stayed `connected` for good. So every process that holds
sockets beats (one row, one UPDATE per period, however many sockets it holds; no
per-connection polling), claims connections under its node id, and the reaper
(`reap_stale_connections`, on the beat schedule) clears the flag of every station
whose process stopped beating. The beat is written by the process's writer
(csms/group_commit.py): on SQLite a second writer starved behind it in a connect storm.
"""
import asyncio
import logging
import os
import socket
import uuid
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from . import connection_log, db_outage, group_commit
from .models import ServerProcess, Station

log = logging.getLogger(__name__)

NODE = uuid.uuid4().hex  # this process
STALE_AFTER_BEATS = 3

_beater: asyncio.Task | None = None


def beat_seconds() -> float:
    return float(settings.CSMS["NODE_BEAT_SECONDS"])


def stale_after() -> timedelta:
    return timedelta(seconds=beat_seconds() * STALE_AFTER_BEATS)


def beat() -> None:
    now = timezone.now()
    if ServerProcess.objects.filter(node=NODE).update(beat_at=now):
        return
    ServerProcess.objects.create(node=NODE, host=socket.gethostname()[:255], pid=os.getpid(),
                                 beat_at=now)
    # Reaped while frozen (a stalled host, say)? Its sockets are still open: say so again.
    revived = Station.objects.filter(connection_node=NODE, connected=False).update(connected=True)
    if revived:
        log.warning("server heartbeat resumed after a stall; %d stations shown connected again", revived)


async def ensure_beating() -> None:
    """Start this process's heartbeat if it is not running (the first beat is awaited,
    so a connection is never claimed under a node the reaper has not heard of)."""
    global _beater
    if _beater is not None and not _beater.done():
        return
    await group_commit.run(beat)
    _beater = asyncio.get_running_loop().create_task(_beat_forever())


async def _beat_forever() -> None:
    while True:
        await asyncio.sleep(beat_seconds())
        try:
            await group_commit.run(beat)
        except Exception as exc:  # a database outage: the sockets live on; beat again later
            db_outage.failed(log, exc, "server heartbeat", level=logging.WARNING)


def reap_stale_connections(now=None) -> int:
    """Mark offline every station held by a process that stopped beating, and end those
    connections in their stations' histories; forget such processes. Returns how many
    stations were marked offline."""
    now = now or timezone.now()
    cutoff = now - stale_after()
    alive = ServerProcess.objects.filter(beat_at__gte=cutoff).values_list("node", flat=True)
    # Connections are claimed only after their process's first beat (ensure_beating).
    orphans = Station.objects.filter(connected=True).exclude(connection_node__in=alive)
    held = list(orphans.values_list("pk", "connection_id"))  # nearly always none: one query, as before
    reaped = orphans.filter(pk__in=[pk for pk, _ in held]).update(connected=False, disconnected_at=now) if held else 0
    connection_log.lost(held, now)
    ServerProcess.objects.filter(beat_at__lt=cutoff).delete()
    if reaped:
        log.info("marked %d stations offline: their server process stopped", reaped)
    return reaped
