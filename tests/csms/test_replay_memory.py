"""Since when the replay store remembers (csms/auth/keys.replay_memory_since): a process's
own memory (embedded mode) forgets at a restart, Redis does not."""
import time

from csms.auth import keys

LOCAL = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "replay-memory-test"}
REDIS = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}


def test_process_memory_remembers_since_the_process_started(settings):
    settings.CACHES = {**settings.CACHES, keys.REPLAY_CACHE: LOCAL}
    assert keys.replay_memory_since() == keys._PROCESS_STARTED <= time.time()


def test_redis_remembers_across_restarts(settings):
    settings.CACHES = {**settings.CACHES, keys.REPLAY_CACHE: REDIS}  # never connected to: only its kind counts
    assert keys.replay_memory_since() is None
