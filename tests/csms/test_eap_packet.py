"""The EAP packet codec (RFC 3748 §4, §5): round trips, every kind of malformed packet a
clear `EapParseError`, and nothing else escaping whatever the bytes (hypothesis)."""
import base64
import struct

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from csms.auth.eap_packet import (
    MAX_PACKET_BYTES,
    Code,
    EapParseError,
    Packet,
    Type,
    decode,
    encode,
    from_b64,
    identity_of,
    md5_data,
    md5_value,
    nak_data,
    nak_types,
    to_b64,
)


def raw(code, identifier, body=b"", length=None):
    return struct.pack("!BBH", code, identifier, 4 + len(body) if length is None else length) + body


@pytest.mark.parametrize("packet, wire", [
    (Packet(Code.SUCCESS, 7), b"\x03\x07\x00\x04"),
    (Packet(Code.FAILURE, 255), b"\x04\xff\x00\x04"),
    (Packet(Code.REQUEST, 1, Type.IDENTITY), b"\x01\x01\x00\x05\x01"),
    (Packet(Code.RESPONSE, 1, Type.IDENTITY, b"CP1"), b"\x02\x01\x00\x08\x01CP1"),
    (Packet(Code.RESPONSE, 9, Type.NAK, b"\x00"), b"\x02\x09\x00\x06\x03\x00"),
    (Packet(Code.REQUEST, 2, Type.MD5_CHALLENGE, md5_data(b"\xaa" * 16, b"srv")),
     b"\x01\x02\x00\x19\x04\x10" + b"\xaa" * 16 + b"srv"),
])
def test_known_packets_encode_and_decode(packet, wire):
    assert encode(packet) == wire
    assert decode(wire) == packet
    assert from_b64(to_b64(packet).encode()) == packet


request_or_response = st.builds(
    Packet, st.sampled_from([Code.REQUEST, Code.RESPONSE]), st.integers(0, 255),
    st.sampled_from([Type.IDENTITY, Type.NOTIFICATION, Type.MD5_CHALLENGE]), st.binary(max_size=MAX_PACKET_BYTES - 5))
success_or_failure = st.builds(Packet, st.sampled_from([Code.SUCCESS, Code.FAILURE]), st.integers(0, 255))


@given(st.one_of(request_or_response, success_or_failure))
def test_every_packet_round_trips(packet):
    assert decode(encode(packet)) == packet
    assert from_b64(to_b64(packet).encode()) == packet


@given(st.binary(min_size=1, max_size=16), st.binary(max_size=32))
def test_md5_type_data_round_trips(value, name):
    packet = Packet(Code.RESPONSE, 3, Type.MD5_CHALLENGE, md5_data(value, name))
    assert md5_value(decode(encode(packet))) == (value, name)


@pytest.mark.parametrize("wire, message", [
    (b"", "shorter than its header"),
    (b"\x02\x01\x00", "shorter than its header"),
    (raw(5, 1), "unknown EAP code"),
    (raw(0, 1), "unknown EAP code"),
    (raw(2, 1, b"\x01abc", length=3), "length shorter than the header"),
    (raw(2, 1, b"\x01abc", length=9), "truncated"),                 # says 9, holds 8
    (raw(2, 1, b"\x01abc", length=7), "data after"),                # says 7, holds 8
    (raw(3, 1, b"x"), "Success or Failure with data"),
    (raw(4, 1, b"", length=5) + b"x", "Success or Failure with data"),
    (raw(2, 1), "without a type"),
    (raw(2, 1, b"\x63"), "unknown EAP type"),                       # 99
    (raw(2, 1, b"\xfe" + b"\0" * 7), "unknown EAP type"),           # expanded types are not read
    (raw(1, 1, b"\x03\x04"), "Nak in a Request"),
    (raw(2, 1, b"\x01" + b"x" * (MAX_PACKET_BYTES - 5)) + b"y", "too long"),
])
def test_malformed_packets_are_refused_with_a_reason(wire, message):
    with pytest.raises(EapParseError, match=message):
        decode(wire)


@pytest.mark.parametrize("text, message", [
    (b"not base64!", "not base64"),
    (b"AgEACAFDUDE", "not base64"),  # padding missing
    (b"A" * 2000, "too long"),
])
def test_eap_p_must_be_base64_of_one_packet(text, message):
    with pytest.raises(EapParseError, match=message):
        from_b64(text)


def test_type_data_readers_refuse_what_their_type_cannot_hold():
    with pytest.raises(EapParseError, match="not UTF-8"):
        identity_of(Packet(Code.RESPONSE, 1, Type.IDENTITY, b"\xff\xfe"))
    with pytest.raises(EapParseError, match="too long"):
        identity_of(Packet(Code.RESPONSE, 1, Type.IDENTITY, b"x" * 300))
    with pytest.raises(EapParseError, match="names no type"):
        nak_types(Packet(Code.RESPONSE, 1, Type.NAK, b""))
    assert nak_types(Packet(Code.RESPONSE, 1, Type.NAK, nak_data([13, 4]))) == (13, 4)
    with pytest.raises(EapParseError, match="without a value"):
        md5_value(Packet(Code.RESPONSE, 1, Type.MD5_CHALLENGE, b""))
    with pytest.raises(EapParseError, match="without a value"):
        md5_value(Packet(Code.RESPONSE, 1, Type.MD5_CHALLENGE, b"\x00abc"))
    with pytest.raises(EapParseError, match="truncated"):
        md5_value(Packet(Code.RESPONSE, 1, Type.MD5_CHALLENGE, b"\x10" + b"x" * 15))


def test_encoding_refuses_what_no_packet_can_be():
    for bad in (Packet(Code.SUCCESS, 1, Type.IDENTITY), Packet(Code.REQUEST, 1), Packet(Code.REQUEST, 256, Type.IDENTITY),
                Packet(Code.RESPONSE, 1, Type.IDENTITY, b"x" * MAX_PACKET_BYTES)):
        with pytest.raises(ValueError):
            encode(bad)


def test_a_packet_repr_shows_no_type_data():
    assert "secret" not in repr(Packet(Code.RESPONSE, 1, Type.MD5_CHALLENGE, b"\x06secret"))


@given(st.binary(max_size=MAX_PACKET_BYTES + 8))
@example(b"\x02\x01\x00\x05\x04")  # an MD5 Response without its Value-Size
def test_any_bytes_decode_or_raise_a_parse_error(data):
    try:
        packet = decode(data)
    except EapParseError:
        return
    assert encode(packet) == data  # what decodes is exactly what it encodes back to
    if packet.type is Type.MD5_CHALLENGE:
        try:
            md5_value(packet)
        except EapParseError:
            pass


@given(st.binary(max_size=64).map(base64.b64encode) | st.binary(max_size=64))
def test_any_eap_p_decodes_or_raises_a_parse_error(text):
    try:
        from_b64(text)
    except EapParseError:
        pass
