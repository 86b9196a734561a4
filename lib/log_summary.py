"""A warning that a flood would repeat, logged once per interval with a count.

Why: refusals under load (a full machine-endpoint pool, the socket cap) happen once per
request of the flood that causes them. One line per refusal turns a flood into a
logging flood too: it costs the process the CPU the refusal was meant to save, and
buries every other line. Here the first refusal of a quiet spell is logged at once, the
ones after it within `interval` seconds are counted, and the first after the interval
is logged with that count ("... (412 more since the previous such line)").

No timer: the count is written by the next event after the interval, so the last count
of a flood waits for the next refusal. Pure apart from the logger and the clock, which
are given.
"""
import logging
import threading
import time


class Summarised:
    def __init__(self, logger: logging.Logger, interval: float = 10.0, level: int = logging.WARNING,
                 clock=time.monotonic):
        self.logger, self.interval, self.level, self.clock = logger, interval, level, clock
        self._lock = threading.Lock()
        self._since: float | None = None  # when the line now being counted against was logged
        self._suppressed = 0

    def log(self, message: str, *args) -> bool:
        """Log `message % args` unless a line of this summary was logged less than
        `interval` ago (then count it). Whether it was logged."""
        now = self.clock()
        with self._lock:
            if self._since is not None and now - self._since < self.interval:
                self._suppressed += 1
                return False
            suppressed, self._suppressed, self._since = self._suppressed, 0, now
        if suppressed:
            message += " (%d more since the previous such line)"
            args = (*args, suppressed)
        self.logger.log(self.level, message, *args)
        return True
