"""Fuzzing the live server (issue 9, drills): hypothesis writes OCPP-J frames and
Authorization headers, the server the README starts answers them over real sockets.

Whatever arrives, the answer is per spec (a CALLERROR with one of the version's codes,
never InternalError; a refused handshake with 400, 401 or 429, never a 500), nothing
hangs (a Heartbeat right behind every frame is answered), and no socket is left open
once the clients have gone.
"""
import asyncio
import json
import os
import socket
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from csms.protocol.errors import valid_codes
from csms.protocol.versions import OcppVersion
from tests.factories import AL1000_KEY, make_station, make_tenant
from tests.stations import basic_auth, raw_station
from tests.waiting import eventually

pytestmark = pytest.mark.django_db(transaction=True)

PROTOCOLS = ["ocpp1.6", "ocpp2.0.1"]
FUZZ = settings(max_examples=8, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
actions = st.sampled_from(["Heartbeat", "BootNotification", "MeterValues", "StatusNotification",
                           "Authorize", "TransactionEvent", "StartTransaction", "NoSuchAction", ""])
frame_like = st.tuples(st.sampled_from([2, 3, 4, 5, 0, -1, "2", None]),
                       st.one_of(st.text(max_size=40), st.integers(), st.none()),
                       actions | json_values, json_values).map(lambda parts: json.dumps(list(parts)))
frames = st.one_of(
    frame_like,
    st.lists(json_values, max_size=6).map(json.dumps),  # arrays of any length and content
    json_values.map(json.dumps),  # not an array at all
    st.text(max_size=60),  # not JSON
    st.sampled_from(['[2,"x","Heartbeat"', '[2,"x","Heartbeat",{}]]', '[2,"x","Heartbeat",{}', "[]",
                     '[2,"' + "i" * 40 + '","Heartbeat",{}]', '[2,"x","Heartbeat",{"a":1}]']),
)


def assert_per_spec(reply, protocol, frame):
    assert isinstance(reply, list) and reply and reply[0] in (3, 4), (frame, reply)
    if reply[0] == 4:
        assert len(reply) == 5, (frame, reply)
        assert reply[2] in valid_codes(OcppVersion(protocol)), (frame, reply)
        assert reply[2] != "InternalError", (frame, reply)
        assert isinstance(reply[3], str) and isinstance(reply[4], dict), (frame, reply)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_any_frame_gets_an_answer_per_spec_and_the_connection_goes_on(csms, run, protocol):
    make_station(make_tenant("acme"), "CP1", AL1000_KEY)

    @FUZZ
    @given(batch=st.lists(frames, min_size=25, max_size=25))
    def check(batch):
        async def scenario():
            async with raw_station(csms, "acme", "CP1", AL1000_KEY, protocol=protocol) as station:
                for n, frame in enumerate(batch):
                    await station.send(frame)
                    sync = f"sync-{n}"
                    await station.send([2, sync, "Heartbeat", {}])
                    replies = []
                    while True:  # whatever the frame got, then the Heartbeat's answer
                        reply = await station.recv(timeout=5)
                        if reply[:2] == [3, sync]:
                            break
                        replies.append(reply)
                    assert len(replies) <= 1, (frame, replies)
                    for reply in replies:
                        assert_per_spec(reply, protocol, frame)

        run(scenario())

    check()


HEADER_TEXT = st.text(alphabet=string.printable.replace("\r", "").replace("\n", "") + "äé\x7f",
                      max_size=80)
authorization = st.one_of(
    HEADER_TEXT,
    st.builds(lambda scheme, rest: f"{scheme} {rest}",
              st.sampled_from(["Basic", "basic", "BASIC", "Bearer", "Digest", "Token", "TOTP", "EAP", "X"]),
              HEADER_TEXT),
    st.builds(lambda user, password: basic_auth(user, password),
              st.binary(max_size=30), st.binary(max_size=30)),
    st.builds(lambda n: "Basic " + "A" * n, st.integers(0, 9000)),
    st.builds(lambda params: "Digest " + ", ".join(params),
              st.lists(st.builds(lambda k, v: f'{k}="{v}"', st.text(string.ascii_letters, max_size=8),
                                 HEADER_TEXT), max_size=6)),
)


async def handshake(port, path, headers: list[bytes]) -> int | None:
    """A raw upgrade request with these header lines; the status code, or None if the
    server closed without one."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        head = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.6\r\n").encode()
        writer.write(head + b"".join(h + b"\r\n" for h in headers) + b"\r\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 10)
        return int(line.split()[1]) if line.startswith(b"HTTP/1.1 ") else None
    finally:
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), 2)
        except (OSError, TimeoutError):
            pass


def client_sockets(pid: int, port: int) -> int:
    """The process's open sockets of connections accepted on `port` (not its listener,
    nor its own database or Redis connections)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:  # closed while we looked
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                local_port, state, inode = int(fields[1].rsplit(":", 1)[1], 16), fields[3], fields[9]
                count += local_port == port and state != "0A" and inode in inodes  # 0A: LISTEN
    return count


def test_any_authorization_header_is_answered_400_401_or_429_and_no_socket_is_left(own_server, run):
    make_station(make_tenant("acme"), "CP1", AL1000_KEY)
    server = own_server("fuzz-auth")

    @FUZZ
    @given(values=st.lists(authorization, min_size=1, max_size=3), many=st.integers(1, 3))
    def check(values, many):
        async def scenario():
            lines = [b"Authorization: " + value.encode("latin-1", "replace") for value in values][:many]
            status = await handshake(server.port, "/ocpp/acme/CP1", lines)
            # 400 malformed or repeated, 401 wrong (with its challenge), 429 throttled.
            assert status in (400, 401, 429), (lines, status)

        run(scenario())

    check()

    async def real_station_still_gets_in():
        return await handshake(server.port, "/ocpp/acme/CP1",
                               [b"Authorization: " + basic_auth("CP1", AL1000_KEY).encode()])

    assert run(real_station_still_gets_in()) in (101, 429)  # throttled only if fuzzing hit the limit
    eventually(lambda: client_sockets(server.proc.pid, server.port) == 0, timeout=15)
    # ... and the count does see a client that is there.
    with socket.create_connection(("127.0.0.1", server.port)):
        eventually(lambda: client_sockets(server.proc.pid, server.port) == 1)
