"""Admitting a station handshake to the key check: throttled, and bounded by the
process-wide hashing gate (issue 8: failed handshakes at 17-55/s saturated a server).

A station whose every valid key was generated here is not throttled at all
(`unthrottled`): its keys have the cheap hash, so a guess costs a quarter of a
millisecond and no hashing slot, and guessing 160 random bits is hopeless; its right
key is let in however many guesses came before it. The rest of this module is for the
keys that cost argon2 (an operator's, an import's, a series key).

The throttle (`lib.throttle.stations`) counts only failures that cost a hash, keyed on
"<tenant>/<identity>" and the peer address; it is designed so that an attacker cannot
lock a real station out: tripping an (identity, address) pair needs the station's own
address, and an identity under attack from elsewhere is only *guarded* — addresses the
station has connected from pass, others share a lane of one attempt per few seconds —
and a station presenting what it was let in with lately passes whatever the counts
(`recently_admitted`).
"""
import asyncio
import functools
import threading
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings

from lib import throttle
from lib.hashing import HashingBusy
from lib.verified import RecentlyVerified

from .keys import VERIFIED_TTL_SECONDS
from .schemes import SecretStore
from .station_auth import AuthResult, Decision, Subject, authenticate, presented

SPARE_THREADS = 16
_threads: ThreadPoolExecutor | None = None
_threads_lock = threading.Lock()


def _admission_threads() -> ThreadPoolExecutor:
    """More threads than the hashing gate admits (running + waiting), so the gate sees
    every handshake waiting for it and answers those beyond its bound at once (503);
    the spare threads turn those away in microseconds, and do the throttle's cache
    lookups meanwhile.
    On the event loop's default executor (a handful of threads) the waiting happened in
    that executor's unbounded queue instead, where a real station's handshake sat behind
    every guess before it and the gate never refused one."""
    global _threads
    with _threads_lock:
        if _threads is None:
            limits = settings.AUTH_HASHING
            _threads = ThreadPoolExecutor(limits["CONCURRENCY"] + limits["MAX_WAITING"] + SPARE_THREADS,
                                          thread_name_prefix="admission")
        return _threads


async def _in_admission_thread(func, **kwargs):
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_admission_threads(), functools.partial(func, **kwargs))


def unthrottled(keys: SecretStore) -> bool:
    """Whether this station's key check skips the throttle: all its keys are cheap to check.

    The throttle exists to spare the argon2 runs of guesses, and a refusal before the
    check is what let an attacker keep a real station out (holding its name's lane,
    tripping the pair limit behind its NAT, or just outlasting a restart that emptied
    `recently_admitted`). Where the check is cheap it is simply made."""
    return keys.all_cheap()


async def decide(subject: Subject, *, tenant_slug: str, source: str, authorization: list[bytes],
                 totp_header: list[bytes] = ()) -> AuthResult:
    """The handshake's authentication, from the event loop: the one call the consumer
    makes. Throttled first (unless every key is cheap to check), then
    `station_auth.authenticate` behind the hashing gate, the outcome counted."""
    if not authorization and not totp_header:
        # Nothing presented, so nothing to throttle or check: the 401's challenges are
        # made here, on the event loop, in microseconds (Digest's nonces and EAP's
        # Identity Request are stateless, no hash runs). Every Digest or EAP admission
        # after a restart starts so, and the two thread hops were most of its cost.
        return authenticate(subject, authorization, totp_header)
    where = {"subject_key": f"{tenant_slug}/{subject.identity}", "source": source,
             "subject": subject, "authorization": authorization, "totp_header": totp_header}
    if not unthrottled(subject.keys):
        refused = await _in_admission_thread(_throttle_verdict, **where)
        if refused is not None:
            return refused
    return await _in_admission_thread(authenticate_handshake, **where)


# What a station presented when it was last let in, per station: an attempt presenting
# the same lets the throttle pass it. An attacker who guards a name by failing from many
# addresses, or trips the pair limit from the station's own (a shared NAT), would
# otherwise keep the real station out however right its key (review F3, F11); it still
# proves its key as always, this only spares it the refusal meant for guesses.
recently_admitted = RecentlyVerified(VERIFIED_TTL_SECONDS, max_entries=100_000)


def _throttle_verdict(*, subject_key: str, source: str, subject: Subject,
                      authorization: list[bytes], totp_header: list[bytes] = ()) -> AuthResult | None:
    """A THROTTLED result if this handshake is refused before its key is checked."""
    verdict = throttle.stations.check(subject_key, source)
    if verdict.allowed:
        return None
    secret = presented(authorization, subject)
    if secret and recently_admitted.matches(subject_key, secret):
        return None
    return AuthResult(Decision.THROTTLED, verdict.reason, retry_after=verdict.retry_after)


def authenticate_handshake(*, subject_key: str, source: str, subject: Subject,
                           authorization: list[bytes], totp_header: list[bytes] = ()) -> AuthResult:
    """`station_auth.authenticate` behind the hashing gate, with the outcome counted by
    the throttle; blocking (cache and argon2): run in an admission thread by `decide`."""
    try:
        result = authenticate(subject, authorization, totp_header)
    except HashingBusy as exc:
        return AuthResult(Decision.BUSY, "every hashing slot is taken", retry_after=exc.retry_after)
    if result.decision is Decision.OK:
        # Recorded for cheap keys too: the station may be given an operator's key next
        # (`station rekey --key`), and then needs its known address and recent pass.
        throttle.stations.succeeded(subject_key, source)
        secret = presented(authorization, subject)
        if secret:
            recently_admitted.remember(subject_key, secret)
    elif result.hashes:
        throttle.stations.failed(subject_key, source)
    return result
