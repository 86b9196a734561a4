"""lib/verified.py: a secret verified a moment ago is recognised without argon2, and
nothing else is."""
import pytest

from lib import verified
from lib.verified import RecentlyVerified


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(verified.time, "monotonic", lambda: now[0])
    return now


def test_the_same_secret_against_the_same_hash_matches_within_the_ttl(clock):
    cache = RecentlyVerified(ttl=60, max_entries=10)
    cache.remember("argon2$hash-a", b"right key")
    assert cache.matches("argon2$hash-a", b"right key")
    assert not cache.matches("argon2$hash-a", b"wrong key")
    assert not cache.matches("argon2$hash-b", b"right key")  # another stored hash (a rotated key)
    clock[0] += 61
    assert not cache.matches("argon2$hash-a", b"right key")


def test_the_secret_itself_is_not_kept():
    cache = RecentlyVerified(ttl=60, max_entries=10)
    cache.remember("argon2$hash-a", b"right key")
    assert all(b"right key" not in mac for mac, _ in cache._entries.values())
    # Another process (another random key) cannot use what this one computed.
    assert RecentlyVerified(60, 10)._mac(b"right key") != cache._mac(b"right key")


def test_at_most_max_entries_are_kept_the_least_recent_forgotten_first():
    cache = RecentlyVerified(ttl=60, max_entries=3)
    for n in range(4):
        cache.remember(f"h{n}", b"k")
    assert not cache.matches("h0", b"k") and cache.matches("h3", b"k")
    cache.remember("h1", b"k")  # refreshed: now the most recent
    cache.remember("h4", b"k")
    assert cache.matches("h1", b"k") and not cache.matches("h2", b"k")
