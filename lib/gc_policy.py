"""When the server process's cyclic garbage collector may stop the world, and for how long.

Why: a full (generation 2) collection walks every container object the process holds,
with the interpreter stopped. A CSMS process holds a few hundred objects per connected
station, so with 5,000 stations one such collection took 660–720 ms, and CPython starts
one whenever the long-lived objects have grown by a quarter since the last: during a
reconnect storm that was every 2–3 s (bench/storm.py, gc callbacks: 14 full collections
in 40 s, 150–720 ms each, and every connected station's CALLs waited through each).

The policy, applied once by the server (portal/serve.py) after the application is loaded:

* `gc.freeze()` the objects that exist then (Django, the URL conf, schemas, templates:
  they live as long as the process): no collection walks them again.
* The young generations are collected as before, a little less often (threshold 0 from
  700 to 10,000 allocations): short-lived cycles (a frame's exception, a closed socket's
  futures) are still freed within moments.
* Full collections no longer start on their own; one runs every `full_seconds` (600 by
  default, `WEB_GC_FULL_SECONDS`) on the event loop. The price: cyclic garbage that
  reached the old generation (say, a connection that lived minutes and left a cycle
  behind) waits up to that long to be freed, and a pause still happens, rarely and at
  a known rhythm instead of in every storm. 0 leaves CPython's own schedule.

Process-wide state (the `gc` module) by nature; the loop is given.
"""
import asyncio
import gc
import logging
import time

log = logging.getLogger(__name__)

YOUNG_THRESHOLD = 10_000
MIDDLE_THRESHOLD = 10
# Never reached in practice: the full collections are the timer's (see above).
NO_AUTOMATIC_FULL = 1_000_000_000


def apply(loop: asyncio.AbstractEventLoop, full_seconds: float) -> "FullCollections | None":
    """Freeze what exists, set the thresholds, and schedule the periodic full collection
    on `loop`. Returns its schedule (None with `full_seconds` 0: CPython's kept)."""
    if full_seconds <= 0:
        return None
    gc.collect()  # what is garbage now is not frozen with the rest
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, NO_AUTOMATIC_FULL)
    log.info("garbage collection: %d startup objects frozen, a full collection every %g s",
             gc.get_freeze_count(), full_seconds)
    return FullCollections(loop, full_seconds)


class FullCollections:
    """A full collection every `every` seconds on `loop`, until cancelled."""

    def __init__(self, loop: asyncio.AbstractEventLoop, every: float):
        self.loop, self.every = loop, every
        self._next = loop.call_later(every, self._collect)

    def cancel(self) -> None:
        self._next.cancel()

    def _collect(self) -> None:
        started = time.perf_counter()
        found = gc.collect(2)
        log.info("garbage collection: full pass freed %d objects in %.0f ms",
                 found, (time.perf_counter() - started) * 1000)
        self._next = self.loop.call_later(self.every, self._collect)
