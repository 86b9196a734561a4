"""HTTP EAP (draft-torvinen-http-eap-01) for stations: a scheme plug-in whose
conversation spans several handshakes.

    GET (no credentials, or any other 401)   → 401  WWW-Authenticate: EAP realm="…", eap-p="<Request/Identity>"
    Authorization: EAP realm="…", eap-p="<Response/Identity>"
                                             → 401  WWW-Authenticate: EAP realm="…", eap-p="<Request/MD5-Challenge>"
    Authorization: EAP realm="…", eap-p="<Response/MD5-Challenge>"
                                             → 101  Authentication-Info: <Success>
                                             or 401 WWW-Authenticate: EAP realm="…", eap-p="<Failure>"

* The Identity Request is stateless (nothing is stored for a 401 nobody answers), and a
  station may skip it: an unsolicited Identity Response in its first request (the
  draft's optimised flow) opens a round as a solicited one does. The identity must be
  the station's (the URL's); another is a Failure.
* A **round** is one method Request awaiting its Response: identifier, method and what
  the method keeps (MD5: the challenge), in a store shared by every process
  (`EapStore`, `keys.StoredEap`), for `ROUND_SECONDS`, bound to the station and the
  client address, usable once. A Response whose identifier names no open round (wrong
  identifier, expired, already answered, another station's or another address's) gets
  the plain challenges: the station starts again.
* Failures end the conversation with EAP-Failure in the EAP challenge (the draft, §2:
  the client tells an error from a continuation by it): a wrong response, a response of
  another type than the request, a Nak naming no method we have, a foreign identity.
* Methods are `eap_methods.METHODS`; MD5-Challenge is the one today, and it is weak
  (see there). The secret is the station's key as it is configured (`eap_passwords`),
  sealed at rest per key, for the keys of stations allowed EAP (`keys.seal_eap`).

Malformed (400): token68 credentials, no `realm` or `eap-p`, `eap-p` that is not
base64 of one well-formed EAP packet (`eap_packet.decode`), a packet that is not a
Response, Type-Data its type cannot have. Pure: the rounds, secrets and randomness
are reached through `subject.eap`.
"""
import hmac
from dataclasses import dataclass
from typing import Protocol

from lib.http_auth import Credentials, MalformedAuthorization, challenge

from . import eap_methods
from .digest import passwords as eap_passwords  # the same reading of a key: its hex text, or the password
from .eap_packet import (
    Code,
    EapParseError,
    Packet,
    Type,
    from_b64,
    identity_of,
    md5_value,
    nak_types,
    to_b64,
)
from .schemes import Subject, Verdict

__all__ = ["EAP", "SCHEME", "EapStore", "Round", "eap_passwords", "parse_eap"]

ROUND_SECONDS = 30  # the default; the deployment's is `CSMS["EAP_ROUND_SECONDS"]`
ROUND_SLOTS = 8  # open rounds per station and client address; a ninth replaces one


@dataclass(frozen=True)
class Round:
    identifier: int
    method: int  # an `eap_packet.Type`
    kept: bytes  # what the method keeps to check the answer (MD5: the challenge)


class EapStore(Protocol):
    """What the EAP check needs besides the header (`keys.StoredEap`)."""

    def has_secret(self) -> bool: ...

    def secrets(self) -> list[tuple[str, tuple[bytes, ...]]]:
        """(key hash, its EAP passwords) per valid key with a sealed EAP secret."""
        ...

    def open_round(self, found: Round) -> None: ...

    def take_round(self, identifier: int) -> Round | None:
        """The open round this identifier answers, taken for good (one process wins);
        None if there is none."""
        ...

    def random(self, n: int) -> bytes: ...


@dataclass(frozen=True)
class EapCredentials:
    realm: bytes
    packet: Packet
    identity: str = ""  # an Identity Response's
    nak: tuple[int, ...] = ()  # a Nak's wanted types

    def __repr__(self):
        return f"EapCredentials({self.packet!r})"


def parse_eap(credentials: Credentials) -> EapCredentials:
    if credentials.token68 is not None or not credentials.params:
        raise MalformedAuthorization("EAP credentials are auth-params")
    realm, packet_b64 = credentials.param("realm"), credentials.param("eap-p")
    if realm is None or packet_b64 is None:
        raise MalformedAuthorization("EAP credentials lack realm or eap-p")
    try:
        packet = from_b64(packet_b64)
        if packet.code is not Code.RESPONSE:
            raise EapParseError("a station sends EAP Responses only")
        if packet.type is Type.IDENTITY:
            return EapCredentials(realm, packet, identity=identity_of(packet))
        if packet.type is Type.NAK:
            return EapCredentials(realm, packet, nak=nak_types(packet))
        if packet.type is Type.MD5_CHALLENGE:
            md5_value(packet)
        return EapCredentials(realm, packet)
    except EapParseError as exc:
        raise MalformedAuthorization(str(exc)) from None


class EAP:
    """The scheme plug-in (`schemes.Scheme`)."""

    name = "EAP"

    def parse(self, credentials: Credentials) -> EapCredentials:
        return parse_eap(credentials)

    def verify(self, c: EapCredentials, subject: Subject) -> Verdict:
        store = subject.eap
        if store is None:
            return Verdict(False, "no EAP store")
        if not hmac.compare_digest(c.realm, subject.realm.encode("utf-8")):
            return Verdict(False, "EAP realm is not ours")
        p = c.packet
        if p.type is Type.IDENTITY:
            if not hmac.compare_digest(c.identity.encode("utf-8"), subject.identity.encode("utf-8")):
                return self._failure(subject, p, "EAP identity is not the station's")
            if not store.has_secret():
                return self._failure(subject, p, "no EAP secret for the station's keys")
            return self._next_round(subject, eap_methods.first(), "EAP identity received")
        found = store.take_round(p.identifier)
        if found is None:
            return Verdict(False, "EAP round unknown, expired or spent")
        if p.type is Type.NAK:
            method = eap_methods.after_nak(found.method, c.nak)
            if method is None:
                return self._failure(subject, p, "EAP Nak names no method of ours")
            return self._next_round(subject, method, "EAP method changed after a Nak")
        method = eap_methods.by_type(found.method)
        if method is None or p.type != found.method:
            return self._failure(subject, p, "EAP response of another type than the request")
        try:
            key_hash = method.check(p.identifier, found.kept, p, store.secrets())
        except EapParseError:
            key_hash = None
        if key_hash is None:
            return self._failure(subject, p, "wrong credentials")
        return Verdict(True, key_hash=key_hash, info=to_b64(Packet(Code.SUCCESS, p.identifier)))

    def _next_round(self, subject: Subject, method: eap_methods.Method, reason: str) -> Verdict:
        store = subject.eap
        identifier = store.random(1)[0]
        data, kept = method.request(store.random)
        store.open_round(Round(identifier, int(method.type), kept))
        return Verdict(False, reason, challenge=self._value(subject, Packet(Code.REQUEST, identifier, method.type, data)))

    def _failure(self, subject: Subject, p: Packet, reason: str) -> Verdict:
        return Verdict(False, reason, challenge=self._value(subject, Packet(Code.FAILURE, p.identifier)))

    def _value(self, subject: Subject, packet: Packet) -> str:
        return challenge(self.name, [("realm", subject.realm), ("eap-p", to_b64(packet))])

    def challenge(self, subject: Subject) -> str:
        """The conversation's start: an Identity Request, stateless."""
        store = subject.eap
        if store is None:
            return ""
        return self._value(subject, Packet(Code.REQUEST, store.random(1)[0], Type.IDENTITY))

    def challenges(self, subject: Subject, stale: bool = False) -> list[str]:
        return [self.challenge(subject)] if subject.eap is not None else []

    def presented(self, credentials: EapCredentials) -> bytes | None:
        return None  # a new response every round


SCHEME = EAP()
