"""A bounded pool of threads for database work from async code, each thread keeping its
own persistent connection.

Why not asgiref's `sync_to_async`: thread-sensitive calls all run on one thread of the
whole process (one slow call holds up every other), and under Django's ASGI handler
each request gets a thread of its own, so every request opens and closes a database
connection. A pool thread keeps its connection for `CONN_MAX_AGE`, with the hygiene of
a Django request around each call: stale or broken connections are closed before and
after it (`close_old_connections`).

What makes it safe: each call is a self-contained unit of work (its own transaction),
already correct with several server processes on one database.
"""
import threading
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import SyncToAsync
from django.db import close_old_connections


class DatabaseThreads:
    """`threads()` is the pool size, read when the pool first starts (settings load late)."""

    def __init__(self, name: str, threads):
        self.name, self._threads = name, threads
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self._threads(), thread_name_prefix=self.name)
            return self._pool

    def sync_to_async(self, func):
        """`func` as a coroutine function that runs on this pool."""
        return _PooledSyncToAsync(func, thread_sensitive=False, executor=self.executor())


class _PooledSyncToAsync(SyncToAsync):
    def thread_handler(self, loop, *args, **kwargs):
        close_old_connections()
        try:
            return super().thread_handler(loop, *args, **kwargs)
        finally:
            close_old_connections()
