"""Admitting a station handshake to the key check: throttled, and bounded by the
process-wide hashing gate (issue 8: failed handshakes at 17-55/s saturated a server).

The throttle (`lib.throttle.stations`) counts only failures that cost a hash, keyed on
"<tenant>/<identity>" and the peer address; it is designed so that an attacker cannot
lock a real station out: tripping an (identity, address) pair needs the station's own
address, and an identity under attack from elsewhere is only *guarded* — addresses the
station has connected from pass, others share a lane of one attempt per few seconds.
"""
from lib import throttle
from lib.hashing import HashingBusy

from .station_auth import AuthResult, Decision, authenticate


def authenticate_handshake(*, tenant_slug: str, identity: str, source: str, **auth) -> AuthResult:
    """`station_auth.authenticate`, behind the throttle and the hashing gate; blocking
    (cache and argon2), so the consumer runs it in a worker thread."""
    subject = f"{tenant_slug}/{identity}"
    verdict = throttle.stations.check(subject, source)
    if not verdict.allowed:
        return AuthResult(Decision.THROTTLED, verdict.reason, retry_after=verdict.retry_after)
    try:
        result = authenticate(identity=identity, **auth)
    except HashingBusy as exc:
        return AuthResult(Decision.BUSY, "every hashing slot is taken", retry_after=exc.retry_after)
    if result.decision is Decision.OK:
        throttle.stations.succeeded(subject, source)
    elif result.hashes:
        throttle.stations.failed(subject, source)
    return result
