"""The throttle when its cache (Redis) is down: every attempt is allowed (the hashing
gate still bounds the cost), and the log says so once a minute, not once per attempt."""
import logging

import pytest

from lib import throttle


class DownCache:
    def __getattr__(self, name):
        def fail(*args, **kwargs):
            raise ConnectionError("Redis is down")
        return fail


@pytest.fixture
def down(monkeypatch, settings):
    settings.AUTH_THROTTLE = {**settings.AUTH_THROTTLE, "ENABLED": True}
    monkeypatch.setattr(throttle, "cache", DownCache())
    return throttle.Throttle("stations")


def test_a_cache_outage_allows_every_attempt_and_warns_once(down, caplog):
    caplog.set_level(logging.DEBUG, logger="lib.throttle")
    for _ in range(50):
        assert down.check("acme/CP1", "192.0.2.7").allowed
        down.failed("acme/CP1", "192.0.2.7")
        down.succeeded("acme/CP1", "192.0.2.7")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "ConnectionError: Redis is down" in warnings[0].getMessage()  # with its traceback
    assert "Redis is down" in caplog.text
    assert sum(r.levelno == logging.DEBUG for r in caplog.records) == 149


def test_the_warning_comes_back_after_a_minute(down, caplog, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(throttle.time, "monotonic", lambda: clock[0])
    down.check("acme/CP1", "192.0.2.7")
    clock[0] += throttle.CACHE_WARNING_SECONDS
    down.check("acme/CP1", "192.0.2.7")
    assert sum(r.levelno == logging.WARNING for r in caplog.records) == 2
