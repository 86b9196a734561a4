"""The white paper's diagnostics tool, its decisions (`manage.py station probe` is its
command line): what a probe sends as its User-Agent, and the verdict an operator reads
from a connection attempt's `Result` — what happened, in words that say what to do.

Pure: the attempt is the client's (`client.StationClient.establish`), the side-effect
guard the command's (it needs the CSMS's database).
"""
from . import negotiation
from .negotiation import names
from .outcome import Outcome, Result

# Not the station's own User-Agent: the white paper asks for one a CSMS can tell apart.
PROBE_USER_AGENT_NAME = "chargegate-probe"

_HINTS = {
    "basic": "check the login and the password (a 1.6 key: its raw bytes or hex text)",
    "digest": "check the login (the station's identity) and the password (a 1.6 key: its hex text)",
    "token": "the token is unknown, revoked or another station's",
    "totp": "check the secret, its parameters (validity, length, hash) and the clock",
    "bearer": "the token is not one the tenant's authorization server issued for this station",
    "eap": "check the identity and the password (a 1.6 key: its hex text), and that the key has an EAP secret",
}


def probe_user_agent(version: str) -> str:
    return f"{PROBE_USER_AGENT_NAME}/{version}"


def verdict(result: Result, configured: tuple[str, ...], protocols: tuple[str, ...]) -> str:
    """One line: what the server did with the attempt, and what the operator can do."""
    o, last = result.outcome, result.last
    if o is Outcome.ACCEPTED:
        how = f"with {last.detail}" if last.detail else "without credentials"
        return f"accepted {how}, OCPP subprotocol {result.subprotocol}"
    if o is Outcome.CHALLENGED:
        return _challenged(result, configured)
    if o is Outcome.NO_CHALLENGES:
        return ("refused: 401 without challenges: the server offers this client no method at all, "
                "as it answers an address outside the networks allowed for the station")
    if o is Outcome.MALFORMED:
        what = "the Authorization header" if last.method else "the request"
        return f"400: the server found {what} malformed"
    if o is Outcome.NOT_FOUND:
        return "404: the server knows no such tenant or station at this URL"
    if o is Outcome.THROTTLED:
        return (f"429: too many failed attempts for this login or address; the server asks to wait "
                f"{result.header('Retry-After') or '?'} s")
    if o is Outcome.BUSY:
        return f"503: the server is busy or cannot check now; retry after {result.header('Retry-After') or '?'} s"
    if o is Outcome.NO_SUBPROTOCOL:
        return (f"accepted {last.detail or 'without credentials'}, but no OCPP version was agreed "
                f"(offered {', '.join(protocols)}): the station may not be allowed those")
    if o is Outcome.UNPROVEN:
        return ("accepted, but the server's Digest rspauth is wrong: it did not prove it knows the password "
                "(a server or proxy that is not the CSMS?)")
    if o is Outcome.TRANSPORT:
        return f"could not connect: {result.error}"
    return f"{result.status}: not an answer to a WebSocket handshake an OCPP endpoint gives"


def _challenged(result: Result, configured: tuple[str, ...]) -> str:
    offered = result.offered()
    if not configured:
        return f"challenged: the server offers {names(offered)}; no credentials were given (--password-stdin)"
    exhausted = result.exhausted
    if exhausted is None or not exhausted.shared:
        return f"refused: {exhausted or negotiation.Exhausted(tuple(offered), configured, ())}"
    failed = result.last.method or exhausted.shared[-1]
    detail = next((a.detail for a in reversed(result.attempts) if a.method == failed), None) or names([failed])
    said = _bearer_error(result) if failed == "bearer" else None
    return (f"refused: the server rejected the {detail} credentials"
            f"{f' ({said})' if said else ''}; {_HINTS[failed]} (it offers {names(offered)})")


def _bearer_error(result: Result) -> str | None:
    """RFC 6750's error_description of the Bearer challenge, which says why."""
    for c in result.challenges:
        if c.scheme == "bearer" and c.param("error_description"):
            return c.param("error_description").decode("latin-1")
    return None
