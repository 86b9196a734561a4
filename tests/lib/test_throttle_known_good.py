"""A flood of failures cannot push a station's known-good mark out of the cache: only a
success writes one, and the marks have a cache of their own (the embedded cache used to
cull its oldest third at 300 entries, and the real station got 429 at its own address)."""
import pytest
from django.core.cache import caches

from lib import throttle


@pytest.fixture
def stations(settings):
    settings.AUTH_THROTTLE = {**settings.AUTH_THROTTLE, "ENABLED": True}
    for alias in ("default", throttle.KNOWN_GOOD_CACHE):
        caches[alias].clear()
    return throttle.Throttle("stations")


def test_a_known_address_gets_in_after_a_flood_of_failures_elsewhere(stations):
    subject, home = "acme/CP1", "192.0.2.1"
    stations.succeeded(subject, home)
    for i in range(30):  # guards the name ...
        stations.failed(subject, f"198.51.100.{i}")
    for i in range(3000):  # ... and fills the cache with other names' failures
        stations.failed(f"acme/X{i}", f"203.0.113.{i % 250}")
    assert stations.check(subject, "198.51.100.200").allowed  # a stranger takes the lane
    assert not stations.check(subject, "198.51.100.201").allowed  # the next one waits
    assert stations.check(subject, home).allowed  # the station, where it connected before


def test_the_counters_survive_the_flood_too(stations):
    subject, attacker = "acme/CP2", "198.51.100.7"
    for _ in range(10):
        stations.failed(subject, attacker)
    for i in range(3000):
        stations.failed(f"acme/X{i}", f"203.0.113.{i % 250}")
    assert not stations.check(subject, attacker).allowed  # still over its pair limit
