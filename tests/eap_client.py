"""The station side of HTTP EAP (draft-torvinen-http-eap-01) with EAP-MD5 (RFC 3748 §5.4,
RFC 1994), written from the RFCs for the tests and independent of `csms.auth`: its own
packet layout (`struct`), its own challenge reading, its own CHAP response.

    client = EapClient("CP1", password=b"AB12...")
    value = client.identity()                  # Authorization for the first request
    value = client.answer(www_authenticate)    # Authorization for the next one
"""
import base64
import hashlib
import re
import struct
from dataclasses import dataclass

import websockets

from tests.stations import station_url

REQUEST, RESPONSE, SUCCESS, FAILURE = 1, 2, 3, 4
IDENTITY, NAK, MD5 = 1, 3, 4

_PARAM = re.compile(r'([A-Za-z0-9-]+)="((?:[^"\\]|\\.)*)"')


def pack(code: int, identifier: int, kind: int | None = None, data: bytes = b"") -> bytes:
    body = b"" if kind is None else bytes([kind]) + data
    return struct.pack("!BBH", code, identifier, 4 + len(body)) + body


def unpack(raw: bytes) -> tuple[int, int, int | None, bytes]:
    code, identifier, length = struct.unpack("!BBH", raw[:4])
    assert length == len(raw), "length field and packet disagree"
    if code in (SUCCESS, FAILURE):
        return code, identifier, None, b""
    return code, identifier, raw[4], raw[5:]


def eap_challenge(values: list[str]) -> dict | None:
    """The EAP challenge among a 401's WWW-Authenticate values, as {realm, code, id, type, data}."""
    for value in values:
        scheme, _, rest = value.partition(" ")
        if scheme.lower() != "eap":
            continue
        params = {k.lower(): v for k, v in _PARAM.findall(rest)}
        code, identifier, kind, data = unpack(base64.b64decode(params["eap-p"]))
        return {"realm": params["realm"], "code": code, "id": identifier, "type": kind, "data": data}
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
        assert challenge["type"] == MD5
        size = challenge["data"][0]
        value = challenge["data"][1:1 + size]
        ident = challenge["id"] if identifier is None else identifier
        digest = md5_response(challenge["id"], self.password if password is None else password, value)
        return authorization(self.realm, pack(RESPONSE, ident, MD5, bytes([16]) + digest + self.identity.encode()))

    def nak(self, challenge: dict, wanted: list[int]) -> str:
        return authorization(challenge["realm"], pack(RESPONSE, challenge["id"], NAK, bytes(wanted)))


async def attempt(server, identity: str, authorization_value: str | None, protocol="ocpp1.6", tenant="acme"):
    """One handshake: (status, WWW-Authenticate values, Authentication-Info or None)."""
    headers = {"Authorization": authorization_value} if authorization_value else {}
    try:
        ws = await websockets.connect(station_url(server, tenant, identity), subprotocols=[protocol],
                                      additional_headers=headers, open_timeout=10, ping_interval=None)
    except websockets.InvalidStatus as exc:
        return exc.response.status_code, exc.response.headers.get_all("WWW-Authenticate"), None
    info = ws.response.headers.get("Authentication-Info")
    await ws.close()
    return 101, [], info
