"""The Redis channel layer, made to ride out a Redis outage.

channels_redis lets a connection error escape from `receive`, which Channels awaits in
every consumer's dispatch loop: a Redis restart killed every station socket of a process
at once, each consumer dying with "Exception in ASGI application" (issue 8). Here:

* `receive` waits for Redis to come back (capped, jittered backoff) instead of raising;
* group memberships are remembered in process and written again once Redis is back: a
  Redis that restarted (or lost its data) has forgotten them, and nobody would re-add them.
  They are also written again every quarter of `group_expiry`: channels_redis drops a
  member older than that (a day by default), so a station connected for longer silently
  stopped getting nudges and takeover notices;
* group_add, group_discard and group_send log and carry on. Every use of them here is
  best effort with the database as the source of truth: a nudge lost while Redis is down
  leaves its call queued for the consumer's reconcile loop, a lost takeover notice is
  found by the old connection's reconcile loop (csms/consumers.py);
* `send` to one channel still raises: its one caller, /healthz, must report the outage.

An outage is logged once when it starts (warning) and once when it ends (info).
"""
import asyncio
import logging
import random
import time
from collections import defaultdict

from channels_redis.core import RedisChannelLayer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)


class ResilientRedisChannelLayer(RedisChannelLayer):
    def __init__(self, *args, retry_min_seconds=0.1, retry_max_seconds=2.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.retry_min_seconds, self.retry_max_seconds = retry_min_seconds, retry_max_seconds
        self.probers: dict[asyncio.AbstractEventLoop, asyncio.Task] = {}
        self.refreshers: dict[asyncio.AbstractEventLoop, asyncio.Task] = {}
        self.memberships: dict[str, set[str]] = defaultdict(set)  # group -> channels of ours
        self.down_since: float | None = None
        self.failures = 0  # calls that failed during the current outage

    # --- the outage ------------------------------------------------------------------------

    def _unreachable(self, what: str, exc: BaseException) -> None:
        self.failures += 1
        if self.down_since is None:
            self.down_since = time.monotonic()
            log.warning("channel layer: Redis unreachable (%s: %s); sockets stay open, "
                        "retrying until it is back", what, str(exc) or type(exc).__name__)
        else:
            log.debug("channel layer: %s failed during the outage: %s", what, exc)

    async def _reachable(self) -> None:
        """A call to Redis succeeded: if an outage was on, it is over."""
        if self.down_since is None:
            return
        lasted, failures = time.monotonic() - self.down_since, self.failures
        self.down_since, self.failures = None, 0
        try:
            restored = await self._rejoin()
        except UNREACHABLE as exc:
            self._unreachable("restoring group memberships", exc)
            return
        log.info("channel layer: Redis reachable again after %.1f s (%d calls failed meanwhile); "
                 "%d group memberships restored", lasted, failures, restored)

    async def _rejoin(self) -> int:
        """Write every membership of ours again (one pipeline per shard)."""
        by_shard = defaultdict(list)
        for group, channels in list(self.memberships.items()):
            by_shard[self.consistent_hash(group)].append((self._group_key(group), tuple(channels)))
        now, restored = time.time(), 0
        for index, entries in by_shard.items():
            pipe = self.connection(index).pipeline(transaction=False)
            for key, channels in entries:
                pipe.zadd(key, dict.fromkeys(channels, now))
                pipe.expire(key, self.group_expiry)
                restored += len(channels)
            await pipe.execute()
        return restored

    async def _back(self) -> None:
        """Wait until Redis answers again. One prober per event loop however many
        consumers wait (thousands of sockets must not mean thousands of pings), shielded
        so that a consumer that goes away does not stop it for the others."""
        loop = asyncio.get_running_loop()
        prober = self.probers.get(loop)
        if prober is None or prober.done():
            prober = self.probers[loop] = loop.create_task(self._probe_until_back())
            prober.add_done_callback(lambda done: self.probers.pop(loop, None))
        await asyncio.shield(prober)

    async def _probe_until_back(self) -> None:
        delay = self.retry_min_seconds
        while True:
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self.retry_max_seconds)
            if await self._probe():
                return

    async def _probe(self) -> bool:
        """Whether Redis answers now (or someone else already found it back)."""
        if self.down_since is None:
            return True
        try:
            for index in range(self.ring_size):
                await self.connection(index).ping()
        except UNREACHABLE as exc:
            self._unreachable("ping", exc)
            return False
        await self._reachable()
        return True

    def _keep_fresh(self) -> None:
        """Run one refresher per event loop while this process has memberships."""
        loop = asyncio.get_running_loop()
        if loop not in self.refreshers:
            task = self.refreshers[loop] = loop.create_task(self._refresh_while_members())
            task.add_done_callback(lambda done: self.refreshers.pop(loop, None))

    async def _refresh_while_members(self) -> None:
        while self.memberships:
            await asyncio.sleep(self.group_expiry / 4)
            if self.down_since is not None:
                continue  # restored when Redis is back
            try:
                await self._rejoin()
            except UNREACHABLE as exc:
                self._unreachable("refreshing group memberships", exc)

    async def _best_effort(self, what: str, call) -> bool:
        try:
            await call
        except UNREACHABLE as exc:
            self._unreachable(what, exc)
            return False
        await self._reachable()
        return True

    # --- the channel layer API -------------------------------------------------------------

    async def receive(self, channel):
        while True:
            try:
                message = await super().receive(channel)
            except UNREACHABLE as exc:
                self._unreachable("receive", exc)
                await self._back()
            else:
                await self._reachable()
                return message

    async def group_add(self, group, channel):
        self.memberships[group].add(channel)  # first: restored after an outage even if this fails
        self._keep_fresh()
        await self._best_effort("group_add", super().group_add(group, channel))

    async def group_discard(self, group, channel):
        members = self.memberships.get(group)
        if members is not None:
            members.discard(channel)
            if not members:
                del self.memberships[group]
        # If Redis misses this, the stale member's messages expire unread.
        await self._best_effort("group_discard", super().group_discard(group, channel))

    async def group_send(self, group, message):
        """False when Redis was unreachable (the message is lost; callers here hold the
        truth in the database and reconcile)."""
        return await self._best_effort("group_send", super().group_send(group, message))

    async def _clean_receive_backup(self, index, channel):
        # A fire-and-forget task in channels_redis: its failure would only be reported as
        # "Task exception was never retrieved". The message stays in the backup queue and
        # is delivered again, which nudges and takeover notices tolerate.
        await self._best_effort("cleaning the receive backup",
                                super()._clean_receive_backup(index, channel))
