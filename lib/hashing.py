"""One gate for every password-style hash in the process: user passwords (Django's
hasher framework), OAuth client secrets and station keys all hash through it.

Why a gate: argon2 is memory-hard on purpose, so each run costs its `m` in RAM for as
long as it runs; unbounded, N concurrent wrong guesses cost N times that (16 bad logins
took a server from 243 MiB to 1.8 GiB with Django's default m = 100 MiB, p = 8). With
at most `CONCURRENCY` runs at a time, on `CONCURRENCY` dedicated threads, the peak is
CONCURRENCY × m whatever the load, and the CPU they take is bounded the same way. A
request whose hash is not done within `WAIT_SECONDS`, or that finds `MAX_WAITING`
requests already queued, fails fast with `HashingBusy` (503 + Retry-After) instead of
piling up.

The limits are read once per process from `settings.AUTH_HASHING`.
"""
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher, PBKDF2PasswordHasher
from django.db import connections


class HashingBusy(Exception):
    """Every hashing slot stayed taken: the caller answers 503 with `Retry-After`."""

    retry_after = 1


class _Gate:
    """A fixed pool of `concurrency` hashing threads with a bounded queue.

    Threads, not just a semaphore: glibc keeps what a thread's arena allocated (argon2's
    blocks are large, and after the first free they stop coming from mmap), so if every
    request thread hashed, each would keep its m MiB — 32 wrong client secrets left
    ~330 MiB behind with only two hashing at a time. Hashing only on these threads bounds
    the resident memory too."""

    def __init__(self, concurrency: int, wait_seconds: float, max_waiting: int):
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="hashing")
        self._concurrency = concurrency
        self._admitted = threading.BoundedSemaphore(concurrency + max_waiting)
        self._wait_seconds = wait_seconds

    def run(self, fn, /, *args, **kwargs):
        if threading.current_thread().name.startswith("hashing"):
            return fn(*args, **kwargs)  # already on a hashing thread (a hasher calling another)
        if not self._admitted.acquire(blocking=False):
            raise HashingBusy()
        _release_database_connections()
        future = self._pool.submit(fn, *args, **kwargs)
        future.add_done_callback(lambda _: self._admitted.release())
        try:
            return future.result(timeout=self._wait_seconds)
        except FutureTimeout:
            future.cancel()  # still queued: it will not run; running: it finishes unseen
            raise HashingBusy() from None

    def map(self, fn, items, *, on_done=None) -> list:
        """`[fn(item) for item in items]` on the gate's threads, many submitted at once:
        for batch work (a fleet import), not requests, so it waits for room instead of
        failing with `HashingBusy` and has no deadline.

        At most `2 × concurrency` are admitted at a time (every thread busy, the next
        one ready), each taking an admission like `run`, so the gate's bounds hold and
        the rest of its queue stays free for requests in the same process.
        `on_done(n)` is called as results arrive, in order, with how many are done."""
        _release_database_connections()
        items, ahead = list(items), 2 * self._concurrency
        futures, results = [], []

        def submit(item):
            self._admitted.acquire()  # blocking: a batch waits its turn
            future = self._pool.submit(fn, item)
            future.add_done_callback(lambda _: self._admitted.release())
            futures.append(future)

        try:
            for n in range(len(items)):
                while len(futures) < min(len(items), n + ahead):
                    submit(items[len(futures)])
                results.append(futures[n].result())
                if on_done is not None:
                    on_done(n + 1)
        finally:
            for future in futures[len(results):]:
                future.cancel()  # an error or an interrupt: what has not started never runs
        return results


def _release_database_connections() -> None:
    """Give back this thread's idle database connections before waiting for a hash.

    Every HTTP request runs on a thread of its own with a connection of its own; a
    hundred concurrent sign-ins held a hundred PostgreSQL connections while they waited
    up to `WAIT_SECONDS` for the gate, and the rest got "too many clients" as a 500
    (review F12). Not inside a transaction, which must keep its connection; Django opens
    a new one at the next query (a millisecond, against tens for argon2)."""
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None and not conn.in_atomic_block:
            conn.close()


_gate: _Gate | None = None
_gate_lock = threading.Lock()


def gate() -> _Gate:
    global _gate
    if _gate is None:
        with _gate_lock:
            if _gate is None:
                limits = settings.AUTH_HASHING
                _gate = _Gate(limits["CONCURRENCY"], limits["WAIT_SECONDS"], limits["MAX_WAITING"])
    return _gate


class GatedHasher:
    """Mixin for a Django hasher: every encode and verify runs on the gate's threads."""

    def encode(self, *args, **kwargs):
        return gate().run(super().encode, *args, **kwargs)

    def verify(self, *args, **kwargs):
        return gate().run(super().verify, *args, **kwargs)


class Argon2Hasher(GatedHasher, Argon2PasswordHasher):
    """User passwords: argon2id at OWASP's m = 46 MiB, t = 1, p = 1 (Django's default is
    m = 100 MiB, t = 2, p = 8). A human password needs the memory cost against offline
    guessing of a leaked table; p = 1 because the gate already spreads the cores over
    concurrent requests, and 8 threads per hash only multiplies the peak.

    The algorithm name stays `argon2`, so every stored hash is still verified here with
    the parameters it records, and Django re-encodes it with these on the next good
    login (`must_update`)."""

    time_cost = 1
    memory_cost = 46 * 1024  # KiB
    parallelism = 1


class PBKDF2Hasher(GatedHasher, PBKDF2PasswordHasher):
    """Old PBKDF2 hashes, if any: CPU-heavy rather than memory-heavy, gated alike."""


class MachineSecretHasher(GatedHasher, Argon2PasswordHasher):
    """Machine secrets — station keys (160 random bits) and generated client secrets:
    the hash need only defeat offline guessing of a leaked table, not of weak human
    passwords, so OWASP's lightest argon2id profile (m = 19 MiB, t = 2, p = 1) is enough
    and a fleet reconnecting after an outage stays cheap."""

    time_cost = 2
    memory_cost = 19 * 1024  # KiB
    parallelism = 1


class GeneratedSecretHasher(PBKDF2PasswordHasher):
    """Secrets this platform drew itself from `secrets` — station keys it generated or
    pushed (160 random bits, 238 for a 2.0.1 password), station tokens (256): one
    PBKDF2-SHA256 iteration, that is a salted HMAC-SHA256, about 6 µs, off the gate.

    A slow hash protects a secret someone could guess; nobody searches 2^160 keys at any
    hash speed, so argon2 bought these nothing but cost: 19 ms of CPU and 19 MiB per
    check meant a fleet of 10,000 reconnecting after a restart needed minutes, and
    meant the throttle had to refuse before the key was checked — which an attacker
    holding a station's name or sharing its NAT could use to keep it out. A key
    checked this cheaply is checked every time instead (`csms.auth.admission`). The
    1,000 iterations these hashes had until 2026-12-04 cost 0.28 ms, a tenth of a
    Basic handshake's CPU, for no security a 2^160 search lacks (a Digest verifier
    of the same key is password-equivalent anyway); hashes made then keep their count
    (it is in the stored string) and verify as before until the key changes.
    Operator-chosen, imported and series keys keep argon2 (`MachineSecretHasher`)."""

    algorithm = "pbkdf2_sha256_generated"
    iterations = 1
