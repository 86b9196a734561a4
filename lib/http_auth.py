"""The Authorization request header and WWW-Authenticate challenges (RFC 9110 §11), as bytes.

    credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
    auth-param  = token BWS "=" BWS ( token / quoted-string )

Pure and bounded: one left-to-right pass over at most `MAX_AUTHORIZATION_BYTES`, no
backtracking, so any value costs microseconds. Whatever arrives, `read_authorization`
returns credentials or None, or raises `MalformedAuthorization` (a 400); nothing else
escapes (tests/lib/test_http_auth.py says so with hypothesis).

Which form a scheme takes (Basic: token68; Digest, TOTP, EAP: auth-params) is the
scheme's business (`csms.auth.basic` and its siblings), not this module's: here a
credentials value is only split by the grammar.

Both sides use it, so it lives on the `lib` floor: the CSMS reads `Authorization` and
writes challenges; the reference station client (`stationclient`) reads the
`WWW-Authenticate` challenges of a 401 (`parse_challenges`, the same grammar with
several challenges per field) and writes `Authorization` values.
"""
import re
from dataclasses import dataclass

MAX_AUTHORIZATION_BYTES = 4096
MAX_AUTH_PARAMS = 32

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TOKEN68 = re.compile(rb"[A-Za-z0-9\-._~+/]+=*")
_OWS = re.compile(rb"[ \t]*")
_SPACES = re.compile(rb" +")
# qdtext and quoted-pair (RFC 9110 §5.6.4): no control character but HTAB, obs-text allowed.
_QUOTED = re.compile(rb'"((?:[\t !#-\[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*)"')
_QUOTED_PAIR = re.compile(rb"\\(.)", re.DOTALL)


class MalformedAuthorization(ValueError):
    """The header is present but unparseable: the handshake earns a 400, not a 401.

    Its message says what is wrong, never what was sent (it reaches the log)."""


@dataclass(frozen=True)
class Credentials:
    """One Authorization header, split by the grammar.

    `scheme` is lower-cased (scheme names are case-insensitive); so are parameter names.
    At most one of `token68` and `params` is given; a scheme alone has neither.
    Parameter values are bytes, quoted-pairs unescaped.
    """
    scheme: str
    token68: bytes | None = None
    params: tuple[tuple[str, bytes], ...] = ()

    def param(self, name: str) -> bytes | None:
        return dict(self.params).get(name)

    def only_token68(self, scheme: str) -> bytes:
        """The token68 of a scheme whose credentials are one (Basic, Token); raise if
        they are not: `Basic <base64> trailing-data` reads as an auth-param list (CSMS-10)."""
        if self.token68 is None:
            raise MalformedAuthorization(f"{scheme} credentials are not one token68" if self.params
                                         else f"{scheme} without credentials")
        return self.token68

    def __repr__(self):  # credentials must not reach a log through repr()
        shape = "token68" if self.token68 is not None else f"params={[n for n, _ in self.params]}"
        return f"Credentials(scheme={self.scheme!r}, {shape})"


def read_authorization(values: list[bytes]) -> Credentials | None:
    """The request's credentials from its Authorization header values (one per field
    line, as the ASGI server lists them); None if there is none.

    Authorization is a singleton field: two of them (or one holding two credentials) are
    ambiguous, and answering either could let a proxy and this server disagree on who
    the caller is — refused, as are oversized values (white paper CSMS-12)."""
    if not values:
        return None
    if len(values) > 1:
        raise MalformedAuthorization("more than one Authorization header")
    if len(values[0]) > MAX_AUTHORIZATION_BYTES:
        raise MalformedAuthorization("Authorization header too long")
    return parse_authorization(values[0])


def parse_authorization(value: bytes) -> Credentials:
    """Split one Authorization value; raise `MalformedAuthorization` if it breaks the grammar.

    Leading and trailing whitespace is not part of a field value (RFC 9110 §5.5) and
    several spaces may follow the scheme (white paper CSMS-8)."""
    value = value.strip(b" \t")
    scheme = _TOKEN.match(value)
    if scheme is None or not scheme.group():
        raise MalformedAuthorization("Authorization header has no valid auth-scheme")
    at = scheme.end()
    name = scheme.group().decode("ascii").lower()
    if at == len(value):
        return Credentials(name)
    spaces = _SPACES.match(value, at)
    if spaces is None:
        raise MalformedAuthorization("the auth-scheme is not followed by a space")
    rest = value[spaces.end():]
    if _TOKEN68.fullmatch(rest):
        return Credentials(name, token68=rest)
    return Credentials(name, params=_auth_params(rest))


def _auth_params(text: bytes) -> tuple[tuple[str, bytes], ...]:
    """`#auth-param`: a comma-separated list, empty elements ignored (RFC 9110 §5.6.1)."""
    params, _ = _param_list(text, 0, until_challenge=False)
    if not params:
        raise MalformedAuthorization("credentials are neither a token68 nor auth-params")
    return params


def _param_list(text: bytes, at: int, *, until_challenge: bool) -> tuple[tuple[tuple[str, bytes], ...], int]:
    """The auth-params from `at`, and where they end: at the end of `text`, or (in a
    WWW-Authenticate list, `until_challenge`) before the comma that starts the next
    challenge, which is an element that is not `name=`."""
    params: dict[str, bytes] = {}
    end = len(text)
    while True:
        element = _skip_list_separators(text, at)
        if element == end:
            at = element
            break
        if until_challenge and params and not _param_ahead(text, element):
            break
        name, value, at = _auth_param(text, element)
        if name in params:
            # RFC 9110 §11.2: each parameter name MUST only occur once.
            raise MalformedAuthorization("an auth-param is repeated")
        params[name] = value
        if len(params) > MAX_AUTH_PARAMS:
            raise MalformedAuthorization("too many auth-params")
        at = _OWS.match(text, at).end()
        if at < end and text[at:at + 1] != b",":
            raise MalformedAuthorization("auth-params are not separated by commas")
    return tuple(params.items()), at


def _param_ahead(text: bytes, at: int) -> bool:
    """Whether an auth-param (`token BWS "="`) starts at `at`, rather than a challenge
    (`auth-scheme 1*SP ...`)."""
    name = _TOKEN.match(text, at)
    return name is not None and text[_OWS.match(text, name.end()).end():][:1] == b"="


def parse_auth_params(value: bytes) -> tuple[tuple[str, bytes], ...]:
    """A field that is only `#auth-param`, such as `Authentication-Info` (RFC 9110
    §11.6.3): the parameters, names lower-cased; raise `MalformedAuthorization`."""
    return _auth_params(value.strip(b" \t"))


def _skip_list_separators(text: bytes, at: int) -> int:
    while True:
        at = _OWS.match(text, at).end()
        if text[at:at + 1] != b",":
            return at
        at += 1


def _auth_param(text: bytes, at: int) -> tuple[str, bytes, int]:
    name = _TOKEN.match(text, at)
    if name is None:
        raise MalformedAuthorization("an auth-param has no valid name")
    at = _OWS.match(text, name.end()).end()
    if text[at:at + 1] != b"=":
        raise MalformedAuthorization("an auth-param has no '='")
    at = _OWS.match(text, at + 1).end()
    quoted = _QUOTED.match(text, at)
    if quoted is not None:
        value, at = _QUOTED_PAIR.sub(rb"\1", quoted.group(1)), quoted.end()
    else:
        token = _TOKEN.match(text, at)
        if token is None:
            raise MalformedAuthorization("an auth-param value is neither a token nor a quoted-string")
        value, at = token.group(), token.end()
    return name.group().decode("ascii").lower(), value, at


# --- challenges ---------------------------------------------------------------------------

MAX_CHALLENGE_BYTES = 8192  # a field line the CSMS's request guard would still let in


def parse_challenges(value: bytes) -> list[Credentials]:
    """The challenges of one WWW-Authenticate field value (`#challenge`, RFC 9110
    §11.6.1), in order: one per field, as this CSMS sends them, or several separated by
    commas, as RFC 9110 allows. Scheme names lower-cased, whitespace tolerated around
    and between the parts (white paper CS-5); raise `MalformedAuthorization` if the value
    breaks the grammar (a client then ignores that field, not the others)."""
    if len(value) > MAX_CHALLENGE_BYTES:
        raise MalformedAuthorization("WWW-Authenticate header too long")
    text, found = value.strip(b" \t"), []
    at, end = 0, len(text)
    while True:
        at = _skip_list_separators(text, at)
        if at == end:
            return found
        credentials, at = _challenge_at(text, at)
        found.append(credentials)
        at = _OWS.match(text, at).end()
        if at < end and text[at:at + 1] != b",":
            raise MalformedAuthorization("challenges are not separated by commas")


def _challenge_at(text: bytes, at: int) -> tuple[Credentials, int]:
    scheme = _TOKEN.match(text, at)
    if scheme is None:
        raise MalformedAuthorization("a challenge has no valid auth-scheme")
    name = scheme.group().decode("ascii").lower()
    spaces = _SPACES.match(text, scheme.end())
    if spaces is None or text[_OWS.match(text, spaces.end()).end():][:1] in (b"", b","):
        return Credentials(name), scheme.end()  # a scheme alone
    at = _OWS.match(text, spaces.end()).end()
    # token68 first: `abc=` is one, while a parameter has a value after its "=".
    token68 = _TOKEN68.match(text, at)
    if token68 is not None:
        after = _OWS.match(text, token68.end()).end()
        if after == len(text) or text[after:after + 1] == b",":
            return Credentials(name, token68=token68.group()), token68.end()
    if not _param_ahead(text, at):
        raise MalformedAuthorization("a challenge is neither a token68 nor auth-params")
    params, at = _param_list(text, at, until_challenge=True)
    return Credentials(name, params=params), at


# What a quoted-string may hold (RFC 9110 §5.6.4: qdtext and quoted-pair): HTAB, SP,
# visible ASCII and obs-text; one regular expression, not a test per character (a 401
# quotes a dozen values, on the event loop).
_QUOTABLE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")


def quoted_string(value: str) -> str:
    """`value` as an RFC 9110 quoted-string (backslash and double quote escaped)."""
    if not _QUOTABLE.fullmatch(value):
        raise ValueError("a quoted-string holds no control characters and only Latin-1")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def challenge(scheme: str, params: list[tuple[str, str]] | None = None, *, token68: str | None = None,
              tokens: tuple[str, ...] = ()) -> str:
    """One WWW-Authenticate value: `Scheme name="value", ...` (every value quoted, which
    RFC 9110 §11.2 allows for all and requires for realm, except the parameters named in
    `tokens`, written as tokens: Digest's `algorithm` and `stale`, RFC 7616 §3.3) or
    `Scheme token68`."""
    if not _TOKEN.fullmatch(scheme.encode("latin-1")):
        raise ValueError("an auth-scheme is a token")
    if token68 is not None:
        return f"{scheme} {token68}"
    if not params:
        return scheme
    for name, _ in params:
        if not _TOKEN.fullmatch(name.encode("latin-1")):
            raise ValueError("an auth-param name is a token")
    return f"{scheme} " + ", ".join(f"{name}={_param_value(value, name in tokens)}" for name, value in params)


def _param_value(value: str, as_token: bool) -> str:
    if not as_token:
        return quoted_string(value)
    if not _TOKEN.fullmatch(value.encode("latin-1")):
        raise ValueError("a token parameter's value is a token")
    return value
