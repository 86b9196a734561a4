"""The OCPP-J versions we speak, named by their WebSocket subprotocol."""
from enum import StrEnum


class OcppVersion(StrEnum):
    V16 = "ocpp1.6"
    V201 = "ocpp2.0.1"

    @property
    def label(self) -> str:
        return {"ocpp1.6": "1.6", "ocpp2.0.1": "2.0.1"}[self.value]


SUPPORTED = tuple(v.value for v in OcppVersion)


def parse_offered(header_value: str | None) -> list[str]:
    """The subprotocols a client offers, in its order of preference."""
    if not header_value:
        return []
    return [p.strip() for p in header_value.split(",") if p.strip()]


def negotiate(offered: list[str], allowed: list[str]) -> OcppVersion | None:
    """The first protocol the client offers that the station may use (RFC 6455 §4.2.2).

    The client's order wins: it states its preference, and OCPP-J 1.6 §3.1.3 reads the
    header that way.
    """
    for proto in offered:
        if proto in allowed and proto in SUPPORTED:
            return OcppVersion(proto)
    return None
