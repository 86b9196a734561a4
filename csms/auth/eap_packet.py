"""EAP packets (RFC 3748 §4, §5): the bytes HTTP EAP (draft-torvinen-http-eap-01) carries
base64-encoded in `eap-p`.

    0                   1                   2                   3
    +---------------+---------------+-------------------------------+
    |     Code      |  Identifier   |            Length             |
    +---------------+---------------+-------------------------------+
    |     Type      |  Type-Data ... (Request and Response only)
    +---------------+------

Strict and pure: `decode` returns a `Packet` or raises `EapParseError`, whose message
says what is wrong and never echoes the bytes (it reaches the log); nothing else
escapes, whatever the input (tests/csms/test_eap_packet.py fuzzes it). RFC 3748 lets a
link layer pad after `Length`; HTTP has no such padding, so bytes beyond it are refused,
as are the several packets in one `eap-p` the draft allows (no method here needs them).
"""
import base64
import binascii
from dataclasses import dataclass
from enum import IntEnum

HEADER_BYTES = 4
# RFC 3748 §3.1: every lower layer carries EAP packets of at least 1020 octets; no
# Identity or MD5-Challenge comes near it, so nothing longer is read.
MAX_PACKET_BYTES = 1020
MAX_IDENTITY_BYTES = 253  # RFC 3748 §5.1 leaves it open; a station identity is far shorter


class EapParseError(ValueError):
    """Not an EAP packet this server reads: the handshake answers 400."""


class Code(IntEnum):
    REQUEST = 1
    RESPONSE = 2
    SUCCESS = 3
    FAILURE = 4


class Type(IntEnum):
    """The method types this codec knows (RFC 3748 §5); a stronger method adds its number
    here and a plug-in in `eap_methods`."""
    IDENTITY = 1
    NOTIFICATION = 2
    NAK = 3  # Legacy Nak: Response only
    MD5_CHALLENGE = 4


@dataclass(frozen=True)
class Packet:
    code: Code
    identifier: int
    type: Type | None = None  # Request and Response only
    data: bytes = b""  # the Type-Data

    def __repr__(self):  # an MD5 value is a credential: keep it out of logs
        kind = self.type.name if self.type is not None else "-"
        return f"Packet({self.code.name}, id={self.identifier}, {kind}, <{len(self.data)} bytes>)"


def encode(packet: Packet) -> bytes:
    if not 0 <= packet.identifier <= 255:
        raise ValueError("an EAP identifier is one octet")
    if packet.code in (Code.SUCCESS, Code.FAILURE):
        if packet.type is not None or packet.data:
            raise ValueError("Success and Failure carry no data")
        body = b""
    else:
        if packet.type is None:
            raise ValueError("a Request or Response has a type")
        body = bytes((packet.type,)) + packet.data
    length = HEADER_BYTES + len(body)
    if length > MAX_PACKET_BYTES:
        raise ValueError("EAP packet too long")
    return bytes((packet.code, packet.identifier)) + length.to_bytes(2, "big") + body


def decode(raw: bytes) -> Packet:
    if len(raw) < HEADER_BYTES:
        raise EapParseError("EAP packet shorter than its header")
    if len(raw) > MAX_PACKET_BYTES:
        raise EapParseError("EAP packet too long")
    try:
        code = Code(raw[0])
    except ValueError:
        raise EapParseError("unknown EAP code") from None
    length = int.from_bytes(raw[2:4], "big")
    if length < HEADER_BYTES:
        raise EapParseError("EAP length shorter than the header")
    if length > len(raw):
        raise EapParseError("EAP packet truncated (shorter than its length)")
    if length < len(raw):
        raise EapParseError("data after the EAP packet's length")
    if code in (Code.SUCCESS, Code.FAILURE):
        if length != HEADER_BYTES:
            raise EapParseError("EAP Success or Failure with data")
        return Packet(code, raw[1])
    if length == HEADER_BYTES:
        raise EapParseError("EAP Request or Response without a type")
    try:
        kind = Type(raw[4])
    except ValueError:
        raise EapParseError("unknown EAP type") from None
    if kind is Type.NAK and code is not Code.RESPONSE:
        raise EapParseError("EAP Nak in a Request")
    return Packet(code, raw[1], kind, bytes(raw[5:]))


def to_b64(packet: Packet) -> str:
    return base64.b64encode(encode(packet)).decode("ascii")


def from_b64(text: bytes) -> Packet:
    """`eap-p` as sent: standard base64 with its padding (the draft: "base64 encoded")."""
    if len(text) > 4 * ((MAX_PACKET_BYTES + 2) // 3):
        raise EapParseError("EAP packet too long")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise EapParseError("eap-p is not base64") from None
    return decode(raw)


# --- Type-Data of the types we read ---------------------------------------------------------

def identity_of(packet: Packet) -> str:
    """An Identity Response's identity: UTF-8 (RFC 3748 §5.1), not NUL-terminated."""
    if len(packet.data) > MAX_IDENTITY_BYTES:
        raise EapParseError("EAP identity too long")
    try:
        return packet.data.decode("utf-8")
    except UnicodeDecodeError:
        raise EapParseError("EAP identity is not UTF-8") from None


def nak_data(types: list[int]) -> bytes:
    if not types or not all(0 <= t <= 255 for t in types):
        raise ValueError("a Nak names at least one type, one octet each")
    return bytes(types)


def nak_types(packet: Packet) -> tuple[int, ...]:
    """The types a Nak asks for instead (0: none acceptable). Unknown numbers are kept:
    a peer may want a method this server lacks, which is then a Failure, not a 400."""
    if not packet.data:
        raise EapParseError("EAP Nak names no type")
    return tuple(packet.data)


def md5_data(value: bytes, name: bytes = b"") -> bytes:
    """MD5-Challenge Type-Data (RFC 3748 §5.4, RFC 1994 §4.1): Value-Size, Value, Name."""
    if not 1 <= len(value) <= 255:
        raise ValueError("an MD5-Challenge value is 1 to 255 octets")
    return bytes((len(value),)) + value + name


def md5_value(packet: Packet) -> tuple[bytes, bytes]:
    """(Value, Name) of an MD5-Challenge packet."""
    data = packet.data
    if not data or data[0] == 0:
        raise EapParseError("EAP MD5-Challenge without a value")
    size = data[0]
    if len(data) < 1 + size:
        raise EapParseError("EAP MD5-Challenge value truncated")
    return bytes(data[1:1 + size]), bytes(data[1 + size:])
