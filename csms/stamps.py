"""Pure-state timestamps of the stations a process holds, written in one transaction a second.

"Last seen" and "last Heartbeat" are for people and dashboards; nothing is decided on
them. Written per message they were most of a Heartbeat's cost (a commit each), and
written per connection every 30 s they still came in bursts: 200 stations connected in
the same second wrote in the same second, each commit waiting its turn on SQLite, and
every Heartbeat behind them waited too (p99 of 400 ms at half of peak, bench/versus.py).
Here they are collected in memory and flushed every `CSMS["STAMP_FLUSH_SECONDS"]`, all
stations in one transaction on one database thread. A process that dies loses at most
that long of them. The flush is one call on the process's writer (csms/group_commit.py):
on SQLite a second writer thread starved behind it during a connect storm ("database is
locked" after the 20 s busy timeout).
"""
import asyncio
import logging

from django.conf import settings
from django.db import transaction

from . import db_outage, group_commit
from .models import Station

log = logging.getLogger(__name__)

# Timestamp fields this module writes: nothing else may be coalesced.
FIELDS = frozenset({"last_seen_at", "last_heartbeat_at"})

_pending: dict[int, dict] = {}
_flusher: asyncio.Task | None = None


def note(station_id: int, stamps: dict) -> None:
    """Record `stamps` (field -> time) for the next flush; the later time wins."""
    global _flusher
    if not stamps.keys() <= FIELDS:
        raise ValueError(f"not a stamp field: {sorted(stamps.keys() - FIELDS)}")
    _pending.setdefault(station_id, {}).update(stamps)
    loop = asyncio.get_running_loop()
    if _flusher is None or _flusher.done() or _flusher.get_loop() is not loop:
        _flusher = loop.create_task(_flush_forever())


def write(batch: dict[int, dict]) -> None:
    """One transaction for every station's stamps: one commit, however many stations."""
    with transaction.atomic():
        for station_id, stamps in batch.items():
            Station.objects.filter(pk=station_id).update(**stamps)


async def flush() -> int:
    global _pending
    batch, _pending = _pending, {}
    if batch:
        try:
            await group_commit.run(write, batch)
        except Exception as exc:  # a database outage: keep what is newer, try again next time
            for station_id, stamps in batch.items():
                _pending.setdefault(station_id, {}).update(
                    {k: v for k, v in stamps.items() if k not in _pending.get(station_id, {})})
            db_outage.failed(log, exc, "writing last-seen times of %d stations", len(batch),
                             level=logging.WARNING)
            return 0
    return len(batch)


async def _flush_forever() -> None:
    while True:
        await asyncio.sleep(settings.CSMS["STAMP_FLUSH_SECONDS"])
        await flush()
