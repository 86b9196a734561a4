"""The rings of recent frames (csms/protocol/recent.py) of the connections a process
holds, written every `CSMS["RECENT_FLUSH_SECONDS"]`: those that changed, all in one
transaction on the process's writer (csms/group_commit.py), one UPDATE each.

Why not per frame: a database write per Heartbeat was most of its cost (issue 9,
csms/stamps.py). A connection only marks its ring changed (`changed`); the snapshot is
taken here, on the event loop, when it is written, so however many frames arrive in
between, a station costs one UPDATE per period at most, and none while it is quiet.
What a page shows is therefore as of the last write (`StationConnection.messages_at`).
A connection's last frames are written with its close (`services.close_connection`);
a process that dies loses at most one period of them.
"""
import asyncio
import logging

from django.conf import settings

from . import connection_log, db_outage, group_commit
from .protocol.recent import Ring

log = logging.getLogger(__name__)

_changed: dict[tuple[int, int], Ring] = {}
_flusher: asyncio.Task | None = None


def changed(station_id: int, seq: int, ring: Ring) -> None:
    """The ring of connection `seq` of the station has new frames: write it next time."""
    global _flusher
    _changed[(station_id, seq)] = ring
    loop = asyncio.get_running_loop()
    if _flusher is None or _flusher.done() or _flusher.get_loop() is not loop:
        _flusher = loop.create_task(_flush_forever())


def forget(station_id: int, seq: int) -> None:
    """The connection ended: its close writes its frames, no flush needs to."""
    _changed.pop((station_id, seq), None)


async def flush() -> int:
    """Write the rings that changed; how many were written."""
    rings = list(_changed.items())
    _changed.clear()
    batch = {key: ring.snapshot() for key, ring in rings if ring.dirty}
    if batch:
        try:
            await group_commit.run(connection_log.write_messages, batch)
        except Exception as exc:  # a database outage: try again next time, unless newer came
            for key, ring in rings:
                ring.dirty = True
                _changed.setdefault(key, ring)
            db_outage.failed(log, exc, "writing recent frames of %d stations", len(batch),
                             level=logging.WARNING)
            return 0
    return len(batch)


async def _flush_forever() -> None:
    while True:
        await asyncio.sleep(settings.CSMS["RECENT_FLUSH_SECONDS"])
        await flush()
