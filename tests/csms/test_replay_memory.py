"""How long the replay store has remembered (csms/auth/keys.replay_memory_age): a
process's own memory (embedded mode) forgets at a restart, Redis does not."""
import time

from csms.auth import keys

LOCAL = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "replay-memory-test"}
REDIS = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}


def test_process_memory_remembers_for_the_processs_uptime(settings):
    settings.CACHES = {**settings.CACHES, keys.REPLAY_CACHE: LOCAL}
    assert 0 < keys.replay_memory_age() <= time.monotonic() - keys._PROCESS_STARTED


def test_a_wall_clock_step_does_not_move_it(settings, monkeypatch):
    """A clock stepped back (NTP, a restored VM) would make fresh nonces look older than
    the process: the uptime is measured on the monotonic clock."""
    settings.CACHES = {**settings.CACHES, keys.REPLAY_CACHE: LOCAL}
    before = keys.replay_memory_age()
    monkeypatch.setattr(time, "time", lambda: 0.0)
    assert keys.replay_memory_age() >= before


def test_redis_remembers_across_restarts(settings):
    settings.CACHES = {**settings.CACHES, keys.REPLAY_CACHE: REDIS}  # never connected to: only its kind counts
    assert keys.replay_memory_age() is None
