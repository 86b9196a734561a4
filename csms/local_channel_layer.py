"""The in-memory channel layer of embedded mode (one process), at the cost of a CSMS.

Channels' `InMemoryChannelLayer` scans every channel and every group for expired
messages and memberships on each `receive` and `group_send`. A CSMS has a channel and a
group per connected station, and every handshake makes three such calls: at 1,000
connections that scan was about 1.5 ms of the event loop per handshake, at 10,000 ten
times that, so a cold reconnect storm in embedded mode slowed itself down quadratically
(issue 9). Here the scan runs at most once a second, which changes nothing that matters:
a message expires after `expiry` (60 s), a second late.

And the scan looks only at the channels a message was sent to since it last found them
empty: a waiting consumer's queue is empty almost always, and walking 10,000 of them once
a second was 2 % of the process in a reconnect storm (py-spy, bench/storm.py --profile).

Memberships do not expire either (Channels drops one older than `group_expiry`, a day):
a station connected for longer stopped getting nudges and takeover notices. A membership
ends with its connection's `group_discard`; in one process nothing else can lose it.
"""
import time

from channels.layers import InMemoryChannelLayer

CLEAN_EVERY_SECONDS = 1.0
NEVER = 100 * 365 * 86400  # seconds: "a membership outlives any connection"


class LocalChannelLayer(InMemoryChannelLayer):
    def __init__(self, *args, group_expiry=NEVER, **kwargs):
        super().__init__(*args, group_expiry=group_expiry, **kwargs)
        self.cleaned_at = -CLEAN_EVERY_SECONDS
        self.sent_to: set[str] = set()  # channels that may hold a message (`send` adds them)

    async def send(self, channel, message):
        # group_send sends through here too.
        await super().send(channel, message)
        self.sent_to.add(channel)

    async def flush(self):
        await super().flush()
        self.sent_to = set()

    def _clean_expired(self):
        now = time.monotonic()
        if now - self.cleaned_at < CLEAN_EVERY_SECONDS:
            return
        self.cleaned_at = now
        if self.group_expiry < NEVER:
            super()._clean_expired()
            return
        # Messages only: memberships never expire here, and Channels' pass over every
        # member of every group found nothing, at 10,000 stations half of the scan's time.
        wall = time.time()
        for channel in list(self.sent_to):
            queue = self.channels.get(channel)
            while queue is not None and not queue.empty() and queue._queue[0][0] < wall:
                queue.get_nowait()  # (expires at, message), as Channels keeps them
                self._remove_from_groups(channel)
                if queue.empty():
                    self.channels.pop(channel, None)
            if queue is None or queue.empty():
                self.sent_to.discard(channel)
