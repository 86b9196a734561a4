"""Secrets verified a moment ago, so that the next check of the same secret against the
same stored hash need not run argon2 again.

Why: a station reconnects with the key it connected with minutes ago (a network blip,
a load balancer's idle timeout, a server's graceful restart elsewhere in the fleet),
and during a storm of wrong guesses the hashing gate is full: the real station's own
check was refused with 503 along with the attacker's (bench/drill_handshakes.py). A
secret this process verified within `ttl` seconds is recognised here without a slot.

What is kept: per stored hash, HMAC-SHA256 of the secret under a key drawn at random
when the process starts and never written anywhere — not the secret, and nothing that
outlives the process or can be checked without its memory. A different secret misses
and goes through argon2 as before, so guessing gets no cheaper. Keyed on the stored
hash: a rotated or retired key's hash is simply no longer asked about. Its salt makes
each unique, except the one hash of a series key that a fleet import gives every
station onboarding with it; an entry then serves them all, rightly, since a match
says only that this secret is the one that hash was made from. Bounded: at most
`max_entries`, the oldest forgotten first.
"""
import hashlib
import hmac
import os
import threading
import time
from collections import OrderedDict


class RecentlyVerified:
    def __init__(self, ttl: float, max_entries: int):
        self.ttl, self.max_entries = ttl, max_entries
        self._key = os.urandom(32)
        self._entries: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self._lock = threading.Lock()

    def _mac(self, secret: bytes) -> bytes:
        return hmac.new(self._key, secret, hashlib.sha256).digest()

    def matches(self, stored_hash: str, secret: bytes) -> bool:
        """Whether `secret` was verified against `stored_hash` within the last `ttl` s."""
        with self._lock:
            entry = self._entries.get(stored_hash)
        if entry is None:
            return False
        mac, verified_at = entry
        if time.monotonic() - verified_at > self.ttl:
            return False
        return hmac.compare_digest(mac, self._mac(secret))

    def remember(self, stored_hash: str, secret: bytes) -> None:
        """Call only after argon2 said `secret` matches `stored_hash`."""
        entry = (self._mac(secret), time.monotonic())
        with self._lock:
            self._entries[stored_hash] = entry
            self._entries.move_to_end(stored_hash)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def forget_all(self) -> None:
        with self._lock:
            self._entries.clear()
