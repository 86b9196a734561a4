"""A line that a flood would repeat, logged at most `burst` times per interval, with a count.

Why: refusals under load (a full machine-endpoint pool, the socket cap) happen once per
request of the flood that causes them, and a reconnect storm opens and closes thousands of
station sockets a minute. One line per event turns a flood into a logging flood too: it
costs the process the CPU the refusal was meant to save (a formatted, redacted and
written line was 2 % of a storm's CPU: bench/storm.py --profile), and buries every other
line. Here the first `burst` events of an interval are logged as they come, the ones after
them within the interval are counted, and the first line of a later interval carries that
count ("... (412 more since the previous such line)"). With the default burst of one, a
flood is one line per interval. With `per_key`, a line also names who caused it (a peer
address) and each key gets at most that many of the interval's lines: one client flooding
cannot use up the burst and hide everyone else's lines (review helper-41); only lines
logged are remembered by key, so at most `burst` keys are.

No timer: the count is written by the next event after the interval, so the last count
of a flood waits for the next event. Pure apart from the logger and the clock, which
are given.
"""
import logging
import threading
import time


class Summarised:
    def __init__(self, logger: logging.Logger, interval: float = 10.0, level: int = logging.WARNING,
                 clock=time.monotonic, burst: int = 1, per_key: int | None = None):
        if burst < 1 or per_key is not None and per_key < 1:
            raise ValueError("burst and per_key must be at least 1")
        self.logger, self.interval, self.level, self.clock, self.burst = logger, interval, level, clock, burst
        self.per_key = per_key
        self._lock = threading.Lock()
        self._since: float | None = None  # when the interval now being counted began
        self._logged = 0  # lines logged in it
        self._by_key: dict = {}  # key -> lines logged in it
        self._suppressed = 0

    SUPPRESSED = " (%d more since the previous such line)"

    def log(self, message: str, *args, key=None) -> bool:
        """Log `message % args` unless `burst` lines of this summary (or `per_key` of
        `key`'s) were logged less than `interval` ago (then count it). Whether it was logged."""
        if not self.logger.isEnabledFor(self.level):
            return False  # nobody would read it: not even counted
        suppressed = self.admit(key)
        if suppressed is None:
            return False
        message, args = with_count(message, args, suppressed)
        self.logger.log(self.level, message, *args)
        return True

    def admit(self, key=None) -> int | None:
        """For a line written elsewhere (a log filter's): None if it is to be left out
        (and counted), else how many were left out before it."""
        now = self.clock()
        with self._lock:
            if self._since is None or now - self._since >= self.interval:
                self._since, self._logged, self._by_key = now, 0, {}
            keyed = self.per_key is not None and key is not None
            if self._logged >= self.burst or keyed and self._by_key.get(key, 0) >= self.per_key:
                self._suppressed += 1
                return None
            self._logged += 1
            if keyed:
                self._by_key[key] = self._by_key.get(key, 0) + 1
            suppressed, self._suppressed = self._suppressed, 0
        return suppressed


def with_count(message: str, args: tuple, suppressed: int) -> tuple[str, tuple]:
    """`message` and its `args`, naming the `suppressed` lines left out before it, if any."""
    if not suppressed:
        return message, args
    return message + Summarised.SUPPRESSED, (*args, suppressed)
