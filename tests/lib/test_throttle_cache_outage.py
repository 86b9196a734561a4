"""The throttle when its cache (Redis) is down: every attempt is allowed (the hashing
gate still bounds the cost), and the log says so once a minute, not once per attempt."""
import logging

import pytest

from lib import throttle


class DownCache:
    def __init__(self):
        self.asked = 0

    def __getattr__(self, name):
        def fail(*args, **kwargs):
            self.asked += 1
            raise ConnectionError("Redis is down")
        return fail


@pytest.fixture
def down(monkeypatch, settings):
    settings.AUTH_THROTTLE = {**settings.AUTH_THROTTLE, "ENABLED": True}
    cache = DownCache()
    monkeypatch.setattr(throttle, "cache", cache)
    limiter = throttle.Throttle("stations")
    limiter.down_cache = cache
    return limiter


def test_a_cache_outage_allows_every_attempt_warns_once_and_rests_the_cache(down, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG, logger="lib.throttle")
    clock = [1000.0]
    monkeypatch.setattr(throttle.time, "monotonic", lambda: clock[0])
    for _ in range(50):
        assert down.check("acme/CP1", "192.0.2.7").allowed
        down.failed("acme/CP1", "192.0.2.7")
        down.succeeded("acme/CP1", "192.0.2.7")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "ConnectionError: Redis is down" in warnings[0].getMessage()  # with its traceback
    # Asked once: a Redis that does not answer costs its timeout per call, so the
    # throttle leaves it alone for a moment after a failure ...
    assert down.down_cache.asked == 1
    clock[0] += throttle.CACHE_REST_SECONDS
    assert down.check("acme/CP1", "192.0.2.7").allowed
    assert down.down_cache.asked == 2  # ... and then tries again


def test_the_warning_comes_back_after_a_minute(down, caplog, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(throttle.time, "monotonic", lambda: clock[0])
    down.check("acme/CP1", "192.0.2.7")
    clock[0] += throttle.CACHE_WARNING_SECONDS
    down.check("acme/CP1", "192.0.2.7")
    assert sum(r.levelno == logging.WARNING for r in caplog.records) == 2
