"""A flood of failures cannot push a station's known-good mark out of the cache: only a
success writes one, and the marks have a cache of their own (the embedded cache used to
cull its oldest third at 300 entries, and the real station got 429 at its own address)."""
import time
import uuid

import pytest

from lib import throttle

FLOOD = 400  # x3 counters: well past the 300 entries Django's in-memory cache kept


@pytest.fixture
def stations(settings):
    """Names of this test's own (never a cache clear: with REDIS_URL that would flush the
    Redis the live servers share), at a moment with room left in the counting window."""
    settings.AUTH_THROTTLE = {**settings.AUTH_THROTTLE, "ENABLED": True}
    window = settings.AUTH_THROTTLE["WINDOW_SECONDS"]
    left = window - time.time() % window
    if left < 20:
        time.sleep(left + 0.05)
    return throttle.Throttle("stations")


@pytest.fixture
def tag():
    return uuid.uuid4().hex[:10]


def test_a_known_address_gets_in_after_a_flood_of_failures_elsewhere(stations, tag):
    subject, home = f"acme/CP1-{tag}", "192.0.2.1"
    stations.succeeded(subject, home)
    for i in range(30):  # guards the name ...
        stations.failed(subject, f"198.51.100.{i}")
    for i in range(FLOOD):  # ... and fills the cache with other names' failures
        stations.failed(f"acme/X{i}-{tag}", f"203.0.113.{i % 250}")
    assert stations.check(subject, "198.51.100.200").allowed  # a stranger takes the lane
    assert not stations.check(subject, "198.51.100.201").allowed  # the next one waits
    assert stations.check(subject, home).allowed  # the station, where it connected before


def test_the_counters_survive_the_flood_too(stations, tag):
    subject, attacker = f"acme/CP2-{tag}", "198.51.100.7"
    for _ in range(10):
        stations.failed(subject, attacker)
    for i in range(FLOOD):
        stations.failed(f"acme/Y{i}-{tag}", f"203.0.113.{i % 250}")
    assert not stations.check(subject, attacker).allowed  # still over its pair limit
