"""Throttling failed credential checks: one mechanism for user passwords (portal login,
/admin/login/, REST Basic), OAuth client secrets and station keys.

Three counters of *failures* (a success costs nothing and is never counted), in fixed
windows of `WINDOW_SECONDS`:

* per (subject, source) — one name guessed from one address: over `PAIR` the pair is
  refused until its window ends. Only someone at that address can trip it.
* per source — one address guessing many names: over `SOURCE` it is refused, except
  for pairs that have succeeded before (stations and users behind one NAT keep working).
* per subject — one name guessed from many addresses: over `SUBJECT` the name is
  *guarded*, not locked: sources it has succeeded from pass as usual, and every other
  source shares a lane of one attempt per `LANE_SECONDS`. A distributed attacker is slowed
  to that rate, and the real owner — from a known source at once, from a new one within
  a few lanes — still gets in.

So no lockout is indefinite: a pair or source refusal ends with its window, and a
guarded name is never refused to its known sources. "Known" is a success from that
source within `KNOWN_GOOD_SECONDS`.

State lives in Django's cache: Redis when REDIS_URL is set (shared by every process),
process memory in embedded mode; the known-good marks in a cache alias of their own. If the cache fails the throttle fails open (and says
so in the log): the hashing gate (`lib.hashing`) still bounds what an attacker costs.
`decide` is the pure rule; `Throttle` is the cache I/O around it.
"""
import hashlib
import logging
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache, caches

log = logging.getLogger(__name__)
# Known-good marks live in a cache of their own: only a success writes one, so an
# attacker cannot push them out by filling the counters' cache with failures (the
# embedded in-memory cache culls its least recent entries when full).
KNOWN_GOOD_CACHE = "known_good"
CACHE_WARNING_SECONDS = 60
CACHE_REST_SECONDS = 5


@dataclass(frozen=True)
class Limits:
    window_seconds: int
    pair: int
    source: int
    subject: int
    lane_seconds: int
    known_good_seconds: int


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int = 0
    reason: str = ""


ALLOW = Verdict(True)


@dataclass(frozen=True)
class Counts:
    pair: int
    source: int
    subject: int


def decide(counts: Counts, *, known_good, take_lane, limits: Limits, window_left: int) -> Verdict:
    """Whether an attempt may be checked at all. `known_good()` says whether this pair
    succeeded before, `take_lane()` claims the guarded subject's lane; each is called
    only when a limit is reached (a cache lookup the common case does without; claiming
    the lane spends it)."""
    if counts.pair >= limits.pair:
        return Verdict(False, window_left, "too many failures for this name from this address")
    if counts.source >= limits.source and not known_good():
        return Verdict(False, window_left, "too many failures from this address")
    if counts.subject >= limits.subject and not known_good() and not take_lane():
        return Verdict(False, limits.lane_seconds, "too many failures for this name")
    return ALLOW


class Throttled(Exception):
    """An attempt refused before any credential was checked: 429 with `Retry-After`."""

    def __init__(self, verdict: Verdict):
        super().__init__(verdict.reason)
        self.retry_after = max(1, verdict.retry_after)


def _digest(*parts: str) -> str:
    # Fixed-length keys whatever a client sends, and no names or addresses in the cache.
    return hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]


class Throttle:
    def __init__(self, name: str):
        self.name = name
        self._last_warning = -math.inf
        self._last_failure = -math.inf

    @property
    def _cache_resting(self) -> bool:
        """Right after the cache failed, leave it alone for a moment: every call to a
        Redis that does not answer waits out its socket timeout, and four of them per
        handshake held every station's reconnect for seconds during an outage."""
        return time.monotonic() - self._last_failure < CACHE_REST_SECONDS

    def _cache_failed(self, consequence: str) -> None:
        """Say so, with the error, once a minute: during a cache outage every attempt
        fails here, and a reconnect storm would write a traceback per station."""
        now = time.monotonic()
        self._last_failure = now
        loud = now - self._last_warning >= CACHE_WARNING_SECONDS
        if loud:
            self._last_warning = now
        log.log(logging.WARNING if loud else logging.DEBUG,
                "throttle %s: the cache failed; %s", self.name, consequence, exc_info=loud)

    @property
    def limits(self) -> Limits:
        conf = settings.AUTH_THROTTLE
        kind = conf[self.name]
        return Limits(window_seconds=conf["WINDOW_SECONDS"], pair=kind["PAIR"], source=kind["SOURCE"],
                      subject=kind["SUBJECT"], lane_seconds=kind["LANE_SECONDS"],
                      known_good_seconds=conf["KNOWN_GOOD_SECONDS"])

    @property
    def enabled(self) -> bool:
        return settings.AUTH_THROTTLE["ENABLED"]

    def _keys(self, subject: str, source: str, window: int) -> dict[str, str]:
        p = f"throttle:{self.name}"
        return {"pair": f"{p}:pair:{_digest(subject, source)}:{window}",
                "source": f"{p}:source:{_digest(source)}:{window}",
                "subject": f"{p}:subject:{_digest(subject)}:{window}"}

    def _good_key(self, subject: str, source: str) -> str:
        return f"throttle:{self.name}:good:{_digest(subject, source)}"

    def _window(self) -> tuple[int, int]:
        now, size = time.time(), self.limits.window_seconds
        index = int(now // size)
        return index, max(1, math.ceil((index + 1) * size - now))

    def check(self, subject: str, source: str) -> Verdict:
        if not self.enabled or self._cache_resting:
            return ALLOW
        limits = self.limits
        window, left = self._window()
        keys = self._keys(subject, source, window)
        try:
            values = cache.get_many(list(keys.values()))
            counts = Counts(**{kind: int(values.get(key) or 0) for kind, key in keys.items()})
            good_key = self._good_key(subject, source)
            lane = f"throttle:{self.name}:lane:{_digest(subject)}"
            return decide(counts, known_good=lambda: bool(caches[KNOWN_GOOD_CACHE].get(good_key)),
                          limits=limits, window_left=left,
                          take_lane=lambda: cache.add(lane, 1, timeout=limits.lane_seconds))
        except Exception:  # a cache outage must not lock everyone out
            self._cache_failed("allowing the attempt")
            return ALLOW

    def check_or_raise(self, subject: str, source: str) -> None:
        verdict = self.check(subject, source)
        if not verdict.allowed:
            raise Throttled(verdict)

    def failed(self, subject: str, source: str) -> None:
        if not self.enabled or self._cache_resting:
            return
        window, _ = self._window()
        ttl = self.limits.window_seconds + 1
        try:
            for key in self._keys(subject, source, window).values():
                cache.add(key, 0, timeout=ttl)
                cache.incr(key)
        except Exception:
            self._cache_failed("a failure went uncounted")

    def succeeded(self, subject: str, source: str) -> None:
        if not self.enabled or self._cache_resting:
            return
        window, _ = self._window()
        try:
            cache.delete(self._keys(subject, source, window)["pair"])
            caches[KNOWN_GOOD_CACHE].set(self._good_key(subject, source), 1, timeout=self.limits.known_good_seconds)
        except Exception:
            self._cache_failed("a success went unrecorded")


# The three kinds of secret; their limits are in settings.AUTH_THROTTLE.
users = Throttle("users")
clients = Throttle("clients")
stations = Throttle("stations")
