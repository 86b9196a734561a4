"""A connection's claim on its station: one `UPDATE … RETURNING`, built once per database.

Why: the claim is on every handshake's path, inside the group-commit batch
(csms/group_commit.py). Through the ORM it was an `update()` (rebuilt and recompiled on
each call) and then a read of the new sequence number: two round trips, and on
PostgreSQL each costs the writer thread about 0.4 ms of driver CPU while a storm keeps
the event loop busy (docs/performance.md). PostgreSQL and SQLite (3.35 and later) both
return the updated row's columns.

Whether an older socket may still hold the station is decided from the row as the
handshake read it (`needs_takeover`): the takeover announcement (a `group_send` on the
channel layer, about 3 ms of CPU on channels_redis) is skipped when no socket was open
and no other connection claimed the station in between, as in a cold reconnect storm.
"""
import threading

from django.db import connections, router
from django.utils import timezone

from lib import plain_sql

from . import liveness
from .models import Station

# The columns a claim sets, besides the sequence number it counts up.
CLAIMED = ("connected", "connection_id", "connection_node", "ocpp_version", "last_auth_method",
           "last_auth_credential", "last_user_agent", "connected_at", "last_seen_at")

_statements: dict[str, plain_sql.Statement] = {}
_lock = threading.Lock()


def claim(station_id: int, connection_id: str, version: str, method: str, credential: str = "",
          user_agent: str = "") -> int | None:
    """Make `connection_id` the station's socket, proved with `method` (and `credential`,
    the public name of the token it presented, if any), from a client calling itself
    `user_agent`; its new sequence number (None: no such station any more)."""
    alias = router.db_for_write(Station)
    connection = connections[alias]
    now = timezone.now()
    values = {"connected": True, "connection_id": connection_id, "connection_node": liveness.NODE,
              "ocpp_version": version, "last_auth_method": method, "last_auth_credential": credential,
              "last_user_agent": user_agent, "connected_at": now, "last_seen_at": now}
    meta = Station._meta
    params = [meta.get_field(name).get_db_prep_save(values[name], connection) for name in CLAIMED]
    with plain_sql.cursor(connection) as cursor:
        cursor.execute(_statement(alias), [*params, station_id])
        row = cursor.fetchone()
    return None if row is None else row[0]


def needs_takeover(before: Station, seq: int | None) -> bool:
    """Whether the connection that claimed `seq` must tell an older socket to close,
    given the station row `before` its claim. No: nothing was connected, and the claim
    came right after that row's (a connection claiming in between would have counted the
    sequence on). A connection claiming after ours announces itself, and a socket the
    row does not know of closes at its process's next reconcile pass, which finds
    another connection holding the station (csms/held.py)."""
    return seq is not None and (before.connected or seq != before.connection_seq + 1)


def _statement(alias: str) -> plain_sql.Statement:
    found = _statements.get(alias)
    if found is None:
        with _lock:
            found = _statements.setdefault(alias, _build(alias))
    return found


def _build(alias: str) -> plain_sql.Statement:
    meta, quote = Station._meta, connections[alias].ops.quote_name
    seq = quote(meta.get_field("connection_seq").column)
    assignments = [f"{quote(meta.get_field(name).column)} = %s" for name in CLAIMED]
    sql = "UPDATE {} SET {}, {seq} = {seq} + 1 WHERE {} = %s RETURNING {seq}".format(
        quote(meta.db_table), ", ".join(assignments), quote(meta.pk.column), seq=seq)
    return plain_sql.statement(connections[alias], sql)
