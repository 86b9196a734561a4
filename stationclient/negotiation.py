"""Which HTTP authentication method a station sends, and when it moves to another
(white paper, "Charging Station Configuration").

* The station holds its methods **ordered by priority** (default: Basic alone).
* On a 401 it compares them with the methods the `WWW-Authenticate` challenges offer
  and takes the **shared method of highest priority**.
* A method that **fails 3 times** (`max_failures`) is passed over for the next one, in
  the same authentication process; none left means the process fails finally
  (`Exhausted`), with the reason logged by the caller.
* The method of a success is the **negotiated method**: it opens the next connection
  and is kept across reconnections, until a 401 answers it (renegotiation).

Pure: no I/O, no clock; `client.py` drives it.
"""
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Method:
    name: str  # as method lists name it (the CSMS's `station auth set --methods`, lower case)
    scheme: str  # the normative spelling of its auth-scheme (CS-4: "Basic", not "BASIC")
    needs_challenge: bool  # Digest answers a nonce: it cannot be sent before a 401


METHODS = {m.name: m for m in (
    Method("basic", "Basic", False),
    Method("token", "Token", False),
    Method("digest", "Digest", True),
    Method("totp", "TOTP", False),
    Method("bearer", "Bearer", False),
    Method("eap", "EAP", True),  # the CSMS opens each round with its Request
)}
DEFAULT_METHODS = ("basic",)  # the white paper's default, for backward compatibility
MAX_FAILURES = 3
# After a final failure: the white paper's "1-2 hours (+-30 minutes)", longer than the
# retries after network errors, since a CSMS fault may have caused it.
LONG_WAIT_SECONDS = (3600, 7200)


def long_wait(fraction: float) -> float:
    """Seconds to wait before the next authentication process after one that failed
    finally; `fraction` in [0, 1) spreads a fleet's retries over the span."""
    low, high = LONG_WAIT_SECONDS
    return low + (high - low) * fraction


def method_for_scheme(scheme: str) -> Method | None:
    """The method a challenge's auth-scheme stands for (compared without case); None for
    a scheme this client does not speak."""
    return METHODS.get(scheme.lower())


def offered(schemes: Iterable[str]) -> list[str]:
    """The method names a 401's challenges offer, in the server's order, each once."""
    names: list[str] = []
    for scheme in schemes:
        method = method_for_scheme(scheme)
        if method is not None and method.name not in names:
            names.append(method.name)
    return names


class UnknownMethod(ValueError):
    pass


def checked_methods(names: Iterable[str]) -> tuple[str, ...]:
    """A station's configured priority list: known methods, each once. Empty is allowed:
    a client holding no credentials can still ask what a server offers (`station probe`)."""
    chosen = tuple(n.strip().lower() for n in names)
    for name in chosen:
        if name not in METHODS:
            raise UnknownMethod(f"unknown method {name!r} (known: {', '.join(METHODS)})")
    if len(set(chosen)) != len(chosen):
        raise UnknownMethod("a method is named twice")
    return chosen


@dataclass
class Negotiator:
    """One station's method choice; lives as long as the station's client object."""

    methods: tuple[str, ...] = DEFAULT_METHODS
    max_failures: int = MAX_FAILURES
    negotiated: str | None = None
    failures: dict[str, int] = field(default_factory=dict)

    def __post_init__(self):
        self.methods = checked_methods(self.methods)
        if self.max_failures < 1:
            raise ValueError("max_failures is at least 1")

    def begin(self) -> None:
        """A new authentication process (a connection attempt): failures are counted
        afresh; the negotiated method stays."""
        self.failures.clear()

    def opening(self, preemptive: bool = True) -> str | None:
        """The method of the first request: the negotiated one, else (when `preemptive`,
        as stations send Basic without being asked) the most preferred; None when that
        method needs a challenge first, or when not preemptive."""
        first = self.negotiated or (self.methods[0] if preemptive and self.methods else None)
        if first is None or METHODS[first].needs_challenge:
            return None
        return first

    def failed(self, method: str) -> None:
        """The server answered `method`'s credentials with a 401."""
        self.failures[method] = self.failures.get(method, 0) + 1
        if method == self.negotiated:
            self.negotiated = None  # the 401 that answers it starts a renegotiation

    def succeeded(self, method: str | None) -> None:
        self.negotiated = method
        self.failures.clear()

    def exhausted(self, method: str) -> bool:
        return self.failures.get(method, 0) >= self.max_failures

    def choose(self, offered_methods: Iterable[str]) -> str | None:
        """The method to answer a 401 with: the negotiated one while it is offered and
        has not failed, else the station's highest-priority method the server offers that
        has not failed `max_failures` times; None if there is none."""
        on_offer = set(offered_methods)
        if self.negotiated in on_offer and not self.failures.get(self.negotiated):
            return self.negotiated
        for name in self.methods:
            if name in on_offer and not self.exhausted(name):
                return name
        return None

    def why_none(self, offered_methods: Iterable[str]) -> "Exhausted":
        """Why `choose` found nothing, for the station's log and the probe's verdict."""
        on_offer = list(offered_methods)
        shared = [n for n in self.methods if n in on_offer]
        return Exhausted(tuple(on_offer), self.methods, tuple(shared))


@dataclass(frozen=True)
class Exhausted:
    """No method left: `shared` empty means none in common; else each failed."""

    offered: tuple[str, ...]
    configured: tuple[str, ...]
    shared: tuple[str, ...]

    def __str__(self):
        if not self.offered:
            return "the server offers no method this client speaks"
        if not self.shared:
            return (f"the server offers only {names(self.offered)}; "
                    f"this station is configured for {names(self.configured)}")
        return f"the server refused the credentials of {names(self.shared)}"


def names(methods: Iterable[str]) -> str:
    """`Token and TOTP`, `Digest, Token and Basic`: method names as people write them."""
    spelled = [METHODS[m].scheme if m in METHODS else m for m in methods]
    if len(spelled) <= 1:
        return "".join(spelled) or "nothing"
    return ", ".join(spelled[:-1]) + " and " + spelled[-1]
