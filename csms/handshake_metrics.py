"""What the station handshakes of a process came to, as Prometheus metrics.

For an operator moving a fleet off Basic (issue 10) and watching a reconnect storm:
how many handshakes each tenant's stations made with which scheme and what they came
to, how long the decision took, and how many stations are connected per OCPP version.

Labels stay bounded: the tenant only once the station was found (an unknown path is
`tenant="-"`: the slug of a 404 is whatever the client typed), the scheme only from the
names this CSMS knows (anything else is `other`), never an identity. Per process, like
every metric of `lib.metrics`.
"""
import time

from prometheus_client import Counter, Gauge, Histogram

from .auth.station_auth import KNOWN_SCHEMES

OUTCOMES = (
    "accepted",         # 101
    "challenged",       # 401: no, wrong or not-allowed credentials
    "malformed",        # 400
    "throttled",        # 429
    "busy",             # 503: hashing gate full, or the database unreachable
    "unknown_station",  # 404
    "no_subprotocol",   # accepted and closed: no OCPP version in common
    "key_replaced",     # 401: the key was replaced while the handshake ran
    "probed",           # accepted and closed at once: a `station probe` handshake, never served
)

HANDSHAKES = Counter(
    "chargegate_station_handshakes", "Station WebSocket handshakes by outcome and the scheme presented",
    ["tenant", "method", "outcome"])
DECISION_SECONDS = Histogram(
    "chargegate_station_handshake_seconds", "Time from the upgrade request to the handshake's answer",
    ["outcome"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
CONNECTED = Gauge("chargegate_station_connections", "Stations connected to this process", ["version"])


def presented_scheme(authorization: list[bytes]) -> str:
    """The scheme a handshake presented, as a bounded label: its lower-case name if it
    is one this CSMS knows of, `none` without an Authorization header, else `other`."""
    if not authorization:
        return "none"
    name = authorization[0].strip().split(b" ", 1)[0].decode("latin-1").lower()
    return name if name in KNOWN_SCHEMES else "other"


def observe(outcome: str, started: float, *, tenant: str = "-", method: str = "none") -> None:
    """Count one handshake that ended in `outcome` (one of OUTCOMES) after starting at
    `started` (time.monotonic())."""
    HANDSHAKES.labels(tenant=tenant, method=method, outcome=outcome).inc()
    DECISION_SECONDS.labels(outcome=outcome).observe(time.monotonic() - started)
