"""Leaving without a storm: a process told to stop hands its stations to the others gradually.

uvicorn alone, on SIGTERM, closes every socket of the process at once (1012, service
restart): all its stations reconnect in the same second, and the remaining nodes meet a
handshake storm (argon2 checks, the hashing gate's 503s, retries) on every rolling
deploy. Draining instead (`portal.serve.DrainingServer` calls `drain` first):

* the process stops taking station handshakes (`leaving.draining()`: `portal.serve`
  answers 503) and its
  readiness check says so (`/healthz`), so proxies and Kubernetes route elsewhere;
* it starts no new CALL (`services.claim_next_call` finds nothing): queued work stays
  queued in the database, and whichever node the station reconnects to sends it;
* it closes its station sockets one by one, spread over `CSMS["DRAIN_SECONDS"]`, with
  1012: N stations reconnect at N / DRAIN_SECONDS a second instead of all at once. A
  connection waiting for the answer to a CALL goes last, so the answer can arrive;
  what is still outstanding when the window ends is recorded as lost, as at any close.

`stop()` (a second SIGTERM or SIGINT) cuts the drain short: uvicorn's own shutdown
then closes whatever is left at once.
"""
import asyncio
import logging
from collections.abc import Callable

from . import leaving

log = logging.getLogger(__name__)

TICK = 0.05  # seconds: the shortest round, and how often a sleeping drain looks at `stop`

async def drain(window: float, stop: Callable[[], bool] = lambda: False) -> int:
    """Close this process's station connections spread over `window` seconds; returns
    how many it closed.

    Paced by what is left: each round closes the remaining connections' share of the
    round in the remaining time (one at a time for a few stations, a handful per TICK
    for thousands), so stations that leave by themselves, or handshakes that were
    already under way, keep the spacing even. A connection with a call outstanding is
    passed over while there are others."""
    from . import auth_audit, held

    leaving.begin()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + window
    closing: set = set()
    log.info("draining: closing %d station connections over %.1f s (a second SIGTERM or Ctrl-C "
             "stops at once)", held.held_count(), window)
    while not stop():
        left = [c for c in held.connections() if c not in closing]
        remaining = deadline - loop.time()
        if not left or remaining <= 0:
            break
        interval = max(TICK, remaining / len(left))
        await _sleep_until(loop.time() + min(interval, remaining), stop)
        if stop():
            break
        share = max(1, round(len(left) * interval / remaining))
        for consumer in [c for c in held.connections() if c not in closing and not c.busy][:share]:
            closing.add(consumer)
            _close_soon(consumer)
    if stop():  # uvicorn's own shutdown closes the rest at once
        return len(closing)
    rest = [c for c in held.connections() if c not in closing]
    if rest:
        log.info("draining: window over, closing the last %d (calls outstanding)", len(rest))
    for consumer in rest:
        closing.add(consumer)
        _close_soon(consumer)
    while _closes and not stop():
        await asyncio.wait(set(_closes), timeout=TICK)
    await auth_audit.flush()  # the decisions of the last interval, before the process goes
    log.info("draining: done, %d station connections handed on", len(closing))
    return len(closing)


_closes: set[asyncio.Task] = set()


def _close_soon(consumer) -> None:
    # Not awaited one by one: each close writes to the database (the station is shown
    # offline), and thousands of them in a row must not outlast the window.
    task = asyncio.ensure_future(consumer.drain_close())
    _closes.add(task)
    task.add_done_callback(_closes.discard)
    task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("draining: closing a station connection failed", exc_info=task.exception())


async def _sleep_until(when: float, stop: Callable[[], bool]) -> None:
    loop = asyncio.get_running_loop()
    while not stop() and (left := when - loop.time()) > 0:
        await asyncio.sleep(min(left, TICK))
