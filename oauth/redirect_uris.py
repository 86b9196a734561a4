"""What a redirect URI may look like, at registration and in every request: one place,
pure, so the two can never disagree.

`urlsplit` silently drops tab, CR and LF (WHATWG URL parsing) and accepts an empty
fragment, so checks on its parts see a different string from the one the browser is
later sent to; the rules here therefore look at the whole string first.
"""
import re

# C0 controls, space and DEL: never valid in a URI (RFC 3986 §2), and CR/LF in a
# Location header is a response-splitting attempt (Django raises BadHeaderError).
_CONTROL = re.compile(r"[\x00-\x20\x7f]")
# RFC 8252 §7.3: http on a loopback IP literal with any port the app picked at run time.
# ASCII only (`re.ASCII`: a Python `\d` also matches fullwidth and other Unicode digits);
# a port is 1-65535 written without a leading zero.
_LOOPBACK = re.compile(r"http://(127\.0\.0\.1|\[::1\])(?::([1-9][0-9]{0,4}))?([/?][^#]*)?", re.ASCII)
MAX_PORT = 65535


def syntax_problem(uri: str) -> str | None:
    """Why `uri` can never be a redirect URI (control characters, any fragment — even an
    empty one, RFC 6749 §3.1.2), or None."""
    if _CONTROL.search(uri):
        return "must not contain spaces or control characters"
    if "#" in uri:
        return "must not contain a fragment"
    return None


def _loopback_parts(uri: str) -> tuple[str, str] | None:
    """(host, the rest after the port) of a loopback redirect URI, or None."""
    m = _LOOPBACK.fullmatch(uri)
    if m is None or (m.group(2) is not None and int(m.group(2)) > MAX_PORT):
        return None
    return m.group(1), m.group(3) or ""


def loopback_match(registered: str, uri: str) -> bool:
    """RFC 8252 §7.3: for http://127.0.0.1 and http://[::1] any port matches; everything
    else must be the registered string exactly (RFC 9700 §4.1.3)."""
    r, u = _loopback_parts(registered), _loopback_parts(uri)
    return r is not None and r == u


def matches(registered: list[str], uri: str) -> bool:
    return syntax_problem(uri) is None and (uri in registered or any(loopback_match(r, uri) for r in registered))
