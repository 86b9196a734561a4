"""The station side of HTTP EAP (draft-torvinen-http-eap-01) with EAP-MD5 (RFC 3748 §5.4,
RFC 1994), written from the RFCs and independent of `csms.auth`: its own packet layout
(`struct`), its own CHAP response; the challenges are read with the RFC 9110 grammar
of `lib/http_auth.py`. The reference client (`client.py`) answers EAP with it, and the
CSMS's EAP tests drive it round by round. Pure.

    client = EapClient("CP1", password=b"AB12...")
    value = client.identity_response()                 # Authorization for the first request
    value = client.answer(eap_challenge(values))       # for the next one, from the 401's challenges
"""
import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass

from lib.http_auth import Credentials, MalformedAuthorization, parse_challenges

REQUEST, RESPONSE, SUCCESS, FAILURE = 1, 2, 3, 4
IDENTITY, NAK, MD5 = 1, 3, 4


class EapError(ValueError):
    """A packet or challenge this client cannot read."""


def pack(code: int, identifier: int, kind: int | None = None, data: bytes = b"") -> bytes:
    body = b"" if kind is None else bytes([kind]) + data
    return struct.pack("!BBH", code, identifier, 4 + len(body)) + body


def unpack(raw: bytes) -> tuple[int, int, int | None, bytes]:
    if len(raw) < 4:
        raise EapError("shorter than an EAP header")
    code, identifier, length = struct.unpack("!BBH", raw[:4])
    if length != len(raw) or (code in (REQUEST, RESPONSE) and length < 5):
        raise EapError("length field and packet disagree")
    if code in (SUCCESS, FAILURE):
        return code, identifier, None, b""
    return code, identifier, raw[4], raw[5:]


def eap_challenge(values: list[str]) -> dict | None:
    """The EAP challenge among a 401's WWW-Authenticate values, as {realm, code, id, type, data}."""
    challenges = []
    for value in values:
        try:
            challenges += parse_challenges(value.encode("latin-1"))
        except (MalformedAuthorization, UnicodeEncodeError):
            continue
    return eap_challenge_of(challenges)


def eap_challenge_of(challenges: list[Credentials]) -> dict | None:
    """The first EAP challenge that carries a readable packet; None if there is none."""
    for c in challenges:
        if c.scheme != "eap" or c.param("eap-p") is None:
            continue
        try:
            code, identifier, kind, data = unpack(base64.b64decode(c.param("eap-p"), validate=True))
        except (EapError, binascii.Error):
            continue
        realm = (c.param("realm") or b"").decode("latin-1")
        return {"realm": realm, "code": code, "id": identifier, "type": kind, "data": data}
    return None


def authorization(realm: str, packet: bytes) -> str:
    return f'EAP realm="{realm}", eap-p="{base64.b64encode(packet).decode()}"'


def md5_response(identifier: int, secret: bytes, challenge: bytes) -> bytes:
    return hashlib.md5(bytes([identifier]) + secret + challenge).digest()


@dataclass
class EapClient:
    identity: str
    password: bytes  # what the station is configured with (a 1.6 key: its hex text)
    realm: str = ""

    def identity_response(self, identifier: int = 0) -> str:
        """The (solicited or unsolicited) Identity Response."""
        return authorization(self.realm, pack(RESPONSE, identifier, IDENTITY, self.identity.encode()))

    def answer(self, challenge: dict, *, password: bytes | None = None, identifier: int | None = None) -> str:
        """The Response to a Request/MD5-Challenge (or to an Identity Request)."""
        self.realm = challenge["realm"]
        if challenge["type"] == IDENTITY:
            return self.identity_response(challenge["id"])
        if challenge["type"] != MD5 or not challenge["data"]:
            raise EapError("only MD5-Challenge is answered")
        size = challenge["data"][0]
        value = challenge["data"][1:1 + size]
        ident = challenge["id"] if identifier is None else identifier
        digest = md5_response(challenge["id"], self.password if password is None else password, value)
        return authorization(self.realm, pack(RESPONSE, ident, MD5, bytes([16]) + digest + self.identity.encode()))

    def nak(self, challenge: dict, wanted: list[int]) -> str:
        return authorization(challenge["realm"], pack(RESPONSE, challenge["id"], NAK, bytes(wanted)))
