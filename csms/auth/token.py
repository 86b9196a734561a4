"""`Authorization: Token <opaque>` for stations (white paper, "Token"): the second
scheme plug-in.

The white paper asks for an opaque token of at least 20 characters and that a CSMS
take tokens of up to at least 128; this one takes up to `MAX_TOKEN_CHARS` (512, well
inside the 4,096-byte header bound) and answers anything shorter or longer with 400,
as it does a token that is not one token68 (RFC 9110 §11.2).

The tokens it issues are

    cgt_<public id: 12 hex digits>_<secret: 43 base64url characters (256 bits)>

The public id names the token's row, so a presented token costs one indexed read and
one constant-time check of the secret's hash — never a hash check per stored token.
The prefix makes a leaked token easy to find for a secret scanner. A token of another
shape is well-formed but cannot be ours: 401, after a decoy check of equal cost.
Pure: the station's tokens are reached through `subject.tokens` (`keys.StoredTokens`).
"""
import re
import secrets
from dataclasses import dataclass

from lib.http_auth import Credentials, MalformedAuthorization, challenge

from .schemes import Subject, Verdict

MIN_TOKEN_CHARS = 20
MAX_TOKEN_CHARS = 512
PREFIX = "cgt_"
ID_HEX_DIGITS = 12
SECRET_BYTES = 32
_ISSUED = re.compile(rb"cgt_([0-9a-f]{%d})_([A-Za-z0-9_-]{43})" % ID_HEX_DIGITS)


@dataclass(frozen=True)
class TokenCredentials:
    token: bytes
    public_id: str | None  # None: not the shape of a token issued here
    secret: bytes

    def __repr__(self):  # never let a token reach a log through repr()
        return f"TokenCredentials(public_id={self.public_id!r}, <{len(self.token)} bytes>)"


def generate() -> tuple[str, str, str]:
    """A new token: (token, public id, secret). Only the public id and the secret's
    hash are stored; the token is shown once."""
    public_id = secrets.token_hex(ID_HEX_DIGITS // 2)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    return f"{PREFIX}{public_id}_{secret}", public_id, secret


def split(token: bytes) -> TokenCredentials:
    issued = _ISSUED.fullmatch(token)
    if issued is None:
        return TokenCredentials(token, None, token)
    return TokenCredentials(token, issued.group(1).decode("ascii"), issued.group(2))


class Token:
    """The scheme plug-in (`schemes.Scheme`)."""

    name = "Token"

    def parse(self, credentials: Credentials) -> TokenCredentials:
        token = credentials.only_token68(self.name)
        if not MIN_TOKEN_CHARS <= len(token) <= MAX_TOKEN_CHARS:
            raise MalformedAuthorization(f"a token is {MIN_TOKEN_CHARS} to {MAX_TOKEN_CHARS} characters")
        return split(token)

    def verify(self, credentials: TokenCredentials, subject: Subject) -> Verdict:
        return subject.tokens.check(credentials.public_id or "", credentials.secret)

    def challenge(self, subject: Subject) -> str:
        return challenge(self.name, [("realm", subject.realm)])

    def presented(self, credentials: TokenCredentials) -> bytes | None:
        return credentials.token


SCHEME = Token()
