"""EAP authentication methods (RFC 3748 §5) behind one small interface, so a stronger
method (EAP-TLS, EAP-pwd, ...) is a class here and a type number in `eap_packet.Type`.

A method opens a round with `request` (the Type-Data of its EAP-Request and what the
round keeps to check the answer) and judges the peer's Response with `check` against the
station's secrets: one (key hash, passwords) pair per valid key, so both keys of an open
key change are tried. `METHODS` lists them most preferred first; the first is the one a
round starts with, and a Nak may only move to another one in it.

**MD5-Challenge is weak** (RFC 3748 §5.4 and §7): no mutual authentication, no key
derivation, and a captured challenge and response let an attacker test guesses offline
(for our 160-bit random keys that is hopeless; for a short password an operator chose,
it is not). It is here because stations and their stacks have it; prefer Digest with
SHA-256 or Token where a station can do either. Pure.
"""
import hashlib
import hmac
from collections.abc import Callable, Iterable
from typing import Protocol

from .eap_packet import Packet, Type, md5_data, md5_value

Secrets = Iterable[tuple[str, tuple[bytes, ...]]]  # (key hash, the key's EAP passwords)


class Method(Protocol):
    type: Type
    name: str

    def request(self, random: Callable[[int], bytes]) -> tuple[bytes, bytes]:
        """(Type-Data of the EAP-Request, what the round keeps to check the answer)."""
        ...

    def check(self, identifier: int, kept: bytes, response: Packet, secrets: Secrets) -> str | None:
        """The hash of the key the Response proves, or None."""
        ...


class Md5Challenge:
    """EAP-MD5 (RFC 3748 §5.4): CHAP's response MD5(Identifier | secret | Challenge)
    (RFC 1994 §4.1), with a fresh 16-octet challenge per round."""

    type = Type.MD5_CHALLENGE
    name = "md5"
    CHALLENGE_BYTES = 16
    SERVER_NAME = b"Chargegate"

    def request(self, random: Callable[[int], bytes]) -> tuple[bytes, bytes]:
        challenge = random(self.CHALLENGE_BYTES)
        return md5_data(challenge, self.SERVER_NAME), challenge

    def check(self, identifier: int, kept: bytes, response: Packet, secrets: Secrets) -> str | None:
        value, _name = md5_value(response)
        found = None
        for key_hash, passwords in secrets:  # every secret compared, whichever matches
            for password in passwords:
                expected = chap_response(identifier, password, kept)
                if hmac.compare_digest(expected, value) and found is None:
                    found = key_hash
        return found


def chap_response(identifier: int, secret: bytes, challenge: bytes) -> bytes:
    return hashlib.md5(bytes((identifier,)) + secret + challenge, usedforsecurity=False).digest()


METHODS: tuple[Method, ...] = (Md5Challenge(),)


def by_type(number: int) -> Method | None:
    return next((m for m in METHODS if m.type == number), None)


def first() -> Method:
    return METHODS[0]


def after_nak(refused: int, wanted: tuple[int, ...]) -> Method | None:
    """The method to try after the peer refused `refused` asking for `wanted` (in its
    order); None when none of them is one of ours: the conversation ends in Failure."""
    for number in wanted:
        method = by_type(number)
        if method is not None and method.type != refused:
            return method
    return None
