"""Each station connection's frame budget: one station flooding frames is slowed, not
the process.

A leaky bucket per connection (aiolimiter): `FRAME_BURST` frames at once, refilled at
`FRAMES_PER_SECOND`. A frame beyond the budget waits before it is read, and because a
consumer handles its frames one at a time, so does every frame after it: the server's
small receive queue fills (uvicorn `--ws-max-queue`, 32 frames) and TCP flow control
holds the rest in the station's own send buffer. Nothing is refused and no OCPP
semantics change; a flooding station just gets its answers at the budget's rate, and
the others never notice. Say it once per connection and minute in the log.
"""
import logging
import time

from aiolimiter import AsyncLimiter
from django.conf import settings

log = logging.getLogger(__name__)

NOTE_EVERY_SECONDS = 60


class FrameBudget:
    __slots__ = ("limiter", "noted_at")

    def __init__(self, per_second: float, burst: int):
        self.limiter = AsyncLimiter(burst, burst / per_second)
        self.noted_at = -NOTE_EVERY_SECONDS

    async def spend(self, label: str) -> None:
        """Take one frame from the budget, waiting for it if it is spent."""
        if not self.limiter.has_capacity():
            now = time.monotonic()
            if now - self.noted_at >= NOTE_EVERY_SECONDS:
                self.noted_at = now
                log.warning("station %s: more than %s frames a second; slowing its connection down",
                            label, settings.CSMS["FRAMES_PER_SECOND"])
        await self.limiter.acquire()


def budget() -> FrameBudget | None:
    """A new connection's budget, or None when `FRAMES_PER_SECOND` is 0 (no limit)."""
    per_second = settings.CSMS["FRAMES_PER_SECOND"]
    if per_second <= 0:
        return None
    return FrameBudget(per_second, max(1, settings.CSMS["FRAME_BURST"]))
