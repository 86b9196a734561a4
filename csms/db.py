"""Database work of station connections: a small pool of threads, not Channels' one.

Channels' `database_sync_to_async` is thread-sensitive: every call of the whole
process runs on one thread, so one station storing a large report held up every
other station's Heartbeat and every handshake. This runner has the same call shape
and the same connection hygiene (stale connections closed before and after each
call), but runs calls on a bounded pool (`CSMS["DB_THREADS"]`), so a slow call
occupies one thread and the others keep serving.

What makes that safe: a consumer awaits each of its calls, and every service it calls
is a self-contained unit of work (its own transaction, conditional updates) that is
already correct with several server processes on one database. Each pool thread keeps
its own persistent connection (`CONN_MAX_AGE`), so a process holds up to
`DB_THREADS` connections for station work.
"""
import threading
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import SyncToAsync
from django.conf import settings
from django.db import close_old_connections

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=settings.CSMS["DB_THREADS"],
                                       thread_name_prefix="csms-db")
        return _pool


class _PooledDatabaseSyncToAsync(SyncToAsync):
    def thread_handler(self, loop, *args, **kwargs):
        close_old_connections()
        try:
            return super().thread_handler(loop, *args, **kwargs)
        finally:
            close_old_connections()


def database_sync_to_async(func):
    """`func` as a coroutine function that runs on the station database pool."""
    return _PooledDatabaseSyncToAsync(func, thread_sensitive=False, executor=_executor())
