"""The station connections this process holds, reconciled with the database in one pass.

Each connection used to poll the database on its own every `RECONCILE_SECONDS`: is it
still the station's connection, does its key change need housekeeping, is work queued
for it. Three queries per connection per period: 10,000 idle stations cost 10,000
queries a second in embedded mode (3 s) and kept a core busy doing nothing (issue 9).
Now the process asks once per period, in chunks, for all the stations it holds, and
only a connection with something to do hears about it.

The channel-layer events (`station.nudge`, `station.takeover`, ...) stay the fast path;
this pass is what makes a lost event, or a process-local in-memory layer, delay work
instead of losing it.
"""
import asyncio
import logging
from dataclasses import dataclass

from django.conf import settings

from lib.prepared import Many, Prepared, padded

from . import db_outage
from .db import database_sync_to_async
from .models import Station, StationCall
from .rotation import Phase

log = logging.getLogger(__name__)

CHUNK = 500  # stations per query: well inside every backend's parameter limit


@dataclass(frozen=True)
class Findings:
    """What the database says about one held station."""

    holder: str | None  # the connection id that holds it now; None: the station is gone
    change_open: bool  # a key change is unresolved: credential housekeeping is due
    queued: bool  # calls are waiting to be sent


GONE = Findings(holder=None, change_open=False, queued=False)

_held: set = set()  # the consumers of this process that hold a station
_task: asyncio.Task | None = None


def hold(consumer) -> None:
    """`consumer` (with `station_id`, `connection_id` and an async `reconcile(findings)`)
    now holds its station; the pass starts with the first one."""
    global _task
    _held.add(consumer)
    loop = asyncio.get_running_loop()
    if _task is None or _task.done() or _task.get_loop() is not loop:
        _task = loop.create_task(_reconcile_forever())


def release(consumer) -> None:
    _held.discard(consumer)


def held_count() -> int:
    return len(_held)


def connections() -> list:
    """The consumers that hold a station now (a copy: closing one releases it)."""
    return list(_held)


# Compiled once (lib/prepared.py): built by the ORM for every chunk, the two queries were
# most of a pass, and in embedded mode a pass over 10,000 stations runs every 3 s.
_queued_among = Prepared(lambda ids: StationCall.objects.filter(
    station_id__in=ids, state=StationCall.State.QUEUED).values_list("station_id", flat=True).distinct(),
    ids=Many(int, CHUNK))
_holders_among = Prepared(lambda ids: Station.objects.filter(pk__in=ids).values_list(
    "pk", "connection_id", "credential__phase"), ids=Many(int, CHUNK))


def look(station_ids: list[int]) -> dict[int, Findings]:
    """One pass over the database for these stations: two queries per CHUNK of them."""
    found = {}
    for start in range(0, len(station_ids), CHUNK):
        chunk = padded(station_ids[start:start + CHUNK], CHUNK)
        queued = set(_queued_among(ids=chunk))
        for pk, holder, phase in _holders_among(ids=chunk):
            found[pk] = Findings(holder=holder, change_open=phase not in (None, Phase.IDLE),
                                 queued=pk in queued)
    return found


async def reconcile_once() -> int:
    """Look once and tell each connection with something to do; returns how many."""
    consumers = list(_held)
    if not consumers:
        return 0
    found = await database_sync_to_async(look)(sorted({c.station_id for c in consumers}))
    told = 0
    for consumer in consumers:
        findings = found.get(consumer.station_id, GONE)
        if (findings.holder != consumer.connection_id or findings.change_open or findings.queued):
            consumer.reconcile_soon(findings)
            told += 1
    return told


async def _reconcile_forever() -> None:
    while _held:
        await asyncio.sleep(settings.CSMS["RECONCILE_SECONDS"])
        try:
            await reconcile_once()
        except Exception as exc:  # e.g. a database outage: keep serving, look again later
            db_outage.failed(log, exc, "reconciling this process's station connections",
                             level=logging.WARNING)
