"""Database work of station connections: a small pool of threads, not Channels' one.

Channels' `database_sync_to_async` is thread-sensitive: every call of the whole
process runs on one thread, so one station storing a large report held up every
other station's Heartbeat and every handshake. This runner has the same call shape
and the same connection hygiene, but runs calls on a bounded pool
(`CSMS["DB_THREADS"]`, lib/db_threads.py), so a slow call occupies one thread and the
others keep serving. A consumer awaits each of its calls, and every service it calls is
a self-contained unit of work. A process holds up to `DB_THREADS` connections for
station work.
"""
from django.conf import settings

from lib.db_threads import DatabaseThreads

_threads = DatabaseThreads("csms-db", lambda: settings.CSMS["DB_THREADS"])


def database_sync_to_async(func):
    """`func` as a coroutine function that runs on the station database pool."""
    return _threads.sync_to_async(func)
