"""A station's connection history: its last `StationConnection.KEPT` connections, each
with when and how it closed, and the last frames of the newest few.

Bounded by the write that grows it: a new connection's row is added in the handshake's
own transaction (on the group-commit writer), and every `PRUNE_EVERY`-th connection of a
station also deletes the rows beyond the last `KEPT` and empties the frames of those
beyond the newest `WITH_MESSAGES`, by ranges of the station's connection sequence
number (each accepted claim counts it up by one, so `seq > new - KEPT` is at most `KEPT`
rows). A station thus holds at most `KEPT + PRUNE_EVERY - 1` rows, and frames on at most
`WITH_MESSAGES + PRUNE_EVERY - 1`; pages show the newest `KEPT` and `WITH_MESSAGES`. No
housekeeping job, no growth. Pruning at every handshake was two more statements in
each (4 → 7 per Basic handshake, the cost issue 9 had taken out of a reconnect storm);
one in five makes it 5.4.

Plain SQL statements, built once per database (as csms/claim.py's): these run in every
handshake and, for the frames, for every station that sent any in a flush period; through
the ORM each statement was rebuilt and recompiled per call, some 0.3 ms of the writer
thread's CPU each (bench/versus.py: idle CPU of the flush after 200 boots).
"""
import threading

from django.db import connections, router
from django.utils import timezone

from lib import plain_sql

from .models import StationConnection

KEPT = StationConnection.KEPT
WITH_MESSAGES = StationConnection.WITH_MESSAGES
PRUNE_EVERY = 5

# The columns a new connection's row is written with, in this order.
OPENED = ("tenant", "station", "seq", "connection_id", "opened_at", "close_reason", "method", "source",
          "user_agent", "messages")

_statements: dict[tuple[str, str], plain_sql.Statement] = {}
_lock = threading.Lock()


def recent(station) -> list[StationConnection]:
    """The station's last `KEPT` connections, newest first: what its page, the REST API
    and `station connections` show. Frames are shown for the newest `WITH_MESSAGES`
    (`shows_frames`): older rows may still hold some until the next pruning."""
    return list(StationConnection.objects.for_tenant(station.tenant).filter(station=station)[:KEPT])


def shows_frames(position: int, row: StationConnection) -> bool:
    """Whether the `position`-th newest connection's frames are shown."""
    return position < WITH_MESSAGES and row.messages_at is not None


def described(rows: list[StationConnection]) -> list[dict]:
    """`recent`'s rows as the REST API and the CLI give them: how each opened and closed,
    and the frames where shown (each with `at` a datetime, newest first), else null."""
    out = []
    for k, row in enumerate(rows):
        shown = shows_frames(k, row)
        out.append({"seq": row.seq, "opened_at": row.opened_at, "closed_at": row.closed_at,
                    "close_code": row.close_code, "close_reason": row.close_reason, "method": row.method,
                    "source": row.source, "user_agent": row.user_agent,
                    "frames_at": row.messages_at if shown else None,
                    "frames": row.frames_newest_first() if shown else None})
    return out


def opened(station_id: int, tenant_id: int, seq: int, connection_id: str, *, method: str,
           source: str, user_agent: str) -> None:
    """Record the connection that claimed the station as `seq`; prune one time in `PRUNE_EVERY`."""
    connection, alias = _connection()
    values = (tenant_id, station_id, seq, connection_id, _when(connection), "", method, source[:64], user_agent, "[]")
    with plain_sql.cursor(connection) as cursor:
        cursor.execute(_statement(alias, "insert"), values)
        if seq % PRUNE_EVERY == 0:
            cursor.execute(_statement(alias, "prune"), (station_id, seq - KEPT))
            cursor.execute(_statement(alias, "forget_frames"), (station_id, seq - WITH_MESSAGES))


def closed(station_id: int, seq: int, code: int | None, reason: str, frames: str) -> None:
    """How the connection `seq` ended, with its last frames (a `recent.Ring.snapshot`)."""
    connection, alias = _connection()
    now = _when(connection)
    with plain_sql.cursor(connection) as cursor:
        cursor.execute(_statement(alias, "close"), (now, code, reason[:123], frames, now, station_id, seq))


def lost(held: list[tuple[int, str]], when) -> None:
    """The connections (station, connection id) whose server process stopped beating:
    closed at `when` as far as anyone will know (csms/liveness.py); their last frames are
    those of the last flush."""
    for start in range(0, len(held), 500):  # SQLite's bound on a statement's parameters
        chunk = held[start:start + 500]
        StationConnection.objects.filter(
            station_id__in=[pk for pk, _ in chunk], connection_id__in=[c for _, c in chunk], closed_at=None,
        ).update(closed_at=when, close_reason="its server process stopped")


def write_messages(batch: dict[tuple[int, int], str]) -> None:
    """Each connection's frames (`recent.Ring.snapshot`s) as of now: one UPDATE per
    connection, in the caller's transaction (csms/recent_frames.py runs it on the writer,
    one batch for the process)."""
    connection, alias = _connection()
    now = _when(connection)
    with plain_sql.cursor(connection) as cursor:
        cursor.executemany(_statement(alias, "frames"), [
            (frames, now, station_id, seq) for (station_id, seq), frames in batch.items()])


def _connection():
    alias = router.db_for_write(StationConnection)
    return connections[alias], alias


def _when(connection):
    return StationConnection._meta.get_field("opened_at").get_db_prep_save(timezone.now(), connection)


def _statement(alias: str, name: str) -> plain_sql.Statement:
    found = _statements.get((alias, name))
    if found is None:
        with _lock:
            found = _statements.setdefault((alias, name), plain_sql.statement(connections[alias], _build(alias, name)))
    return found


def _build(alias: str, name: str) -> str:
    meta, quote = StationConnection._meta, connections[alias].ops.quote_name
    # The frames arrive as JSON text (`recent.Ring.snapshot`): PostgreSQL's jsonb casts it.
    json_text = "CAST(%s AS jsonb)" if connections[alias].vendor == "postgresql" else "%s"

    def col(field: str) -> str:
        return quote(meta.get_field(field).column)

    table, this_one = quote(meta.db_table), f"{col('station')} = %s AND {col('seq')} = %s"
    if name == "insert":
        return "INSERT INTO {} ({}) VALUES ({})".format(
            table, ", ".join(col(f) for f in OPENED), ", ".join(["%s"] * (len(OPENED) - 1) + [json_text]))
    if name == "prune":
        return f"DELETE FROM {table} WHERE {col('station')} = %s AND {col('seq')} <= %s"
    if name == "forget_frames":
        return (f"UPDATE {table} SET {col('messages')} = '[]', {col('messages_at')} = NULL"
                f" WHERE {col('station')} = %s AND {col('seq')} <= %s AND {col('messages_at')} IS NOT NULL")
    if name == "close":
        return (f"UPDATE {table} SET {col('closed_at')} = %s, {col('close_code')} = %s, {col('close_reason')} = %s,"
                f" {col('messages')} = {json_text}, {col('messages_at')} = %s WHERE {this_one}")
    if name == "frames":
        return f"UPDATE {table} SET {col('messages')} = {json_text}, {col('messages_at')} = %s WHERE {this_one}"
    raise KeyError(name)
