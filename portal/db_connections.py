"""Closing an HTTP request's database connections when it finishes.

Under ASGI, Django runs each request's synchronous code in a thread of its own, and a
connection belongs to the thread that opened it. With persistent connections
(`CONN_MAX_AGE`, which the consumers need: they reuse one database thread) every
request thread would leave its connection open behind it, until PostgreSQL runs out
of connection slots under load. So HTTP requests close theirs on the way out; the
consumers' database thread keeps its connection, as it never sends `request_finished`.
"""
from django.core.signals import request_finished
from django.db import connections


def close_request_connections(**kwargs) -> None:
    for connection in connections.all(initialized_only=True):
        # Inside an atomic block (a test's transaction), the connection is not ours to close.
        if not connection.in_atomic_block:
            connection.close()


def install() -> None:
    request_finished.connect(close_request_connections, dispatch_uid="chargegate-close-request-connections")
