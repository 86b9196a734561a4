"""Waiting for another process to catch up, without fixed sleeps."""
import asyncio
import time

from asgiref.sync import sync_to_async
from django.db import connections


def eventually(check, timeout=10.0, interval=0.05):
    """Call `check` until it returns a truthy value (an AssertionError counts as "not yet")."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {check}")
        time.sleep(interval)


def _closing_connections(func):
    # `func` runs in a worker thread; a connection left open there would outlive the
    # test and keep PostgreSQL from dropping the test database.
    def run(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        finally:
            connections.close_all()

    return run


def in_thread_db(func):
    """`func` (ORM code) made awaitable from an async scenario, leaving no connection open."""
    return sync_to_async(_closing_connections(func))


async def async_eventually(check, timeout=10.0, interval=0.05):
    """`eventually` for async scenarios; `check` is a synchronous (ORM) function."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = await sync_to_async(_closing_connections(check))()
            if result:
                return result
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {check}")
        await asyncio.sleep(interval)
