"""The baseline for bench/versus.py: a central system written directly on the `ocpp`
library and `websockets`, as one would write it in an afternoon.

    python bench/baseline_csms.py --port 9000 --stations 200 --key <40 hex digits>

It serves ws://HOST:PORT/ocpp/<tenant>/<identity> with subprotocol ocpp1.6, checks HTTP
Basic against an in-memory dict (identities B00000 .. B<stations>, the last one is
bench/versus.py's probe, all with the same 20-byte key compared in constant time, no
hashing) and answers what Chargegate answers a station in good standing:
BootNotification Accepted with the tenant's default interval (300 s) and currentTime,
Heartbeat with currentTime, MeterValues with {}. Nothing is stored. The `ocpp`
library validates every CALL and answer against its JSON schemas, as Chargegate does.
"""
import argparse
import asyncio
import base64
import binascii
import hmac
import logging
import resource
from datetime import UTC, datetime
from http import HTTPStatus

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action, RegistrationStatus

HEARTBEAT_INTERVAL = 300  # what a new Chargegate tenant answers (tenants.Tenant.heartbeat_interval)


def now_text() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


class Station(ChargePoint):
    @on(Action.boot_notification)
    def on_boot_notification(self, charge_point_vendor, charge_point_model, **_):
        return call_result.BootNotification(current_time=now_text(), interval=HEARTBEAT_INTERVAL,
                                            status=RegistrationStatus.accepted)

    @on(Action.heartbeat)
    def on_heartbeat(self):
        return call_result.Heartbeat(current_time=now_text())

    @on(Action.meter_values)
    def on_meter_values(self, connector_id, meter_value, **_):
        return call_result.MeterValues()


def read_basic(header: str | None) -> tuple[str, bytes] | None:
    if not header or not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:], validate=True).partition(b":")
        return user.decode(), password
    except (binascii.Error, UnicodeDecodeError):
        return None


def make_server(keys: dict[str, bytes], host: str, port: int):
    def check(connection, request):
        identity = request.path.rstrip("/").rsplit("/", 1)[-1]
        if not request.path.startswith("/ocpp/"):
            return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")
        credentials = read_basic(request.headers.get("Authorization"))
        expected = keys.get(identity)
        if (credentials is None or expected is None or credentials[0] != identity
                or not hmac.compare_digest(credentials[1], expected)):
            response = connection.respond(HTTPStatus.UNAUTHORIZED, "unauthorized\n")
            response.headers["WWW-Authenticate"] = 'Basic realm="ocpp"'
            return response
        return None

    async def handler(ws):
        station = Station(ws.request.path.rstrip("/").rsplit("/", 1)[-1], ws)
        try:
            await station.start()
        except websockets.ConnectionClosed:
            pass

    return websockets.serve(handler, host, port, subprotocols=["ocpp1.6"], process_request=check,
                            backlog=4096, max_size=65536)


async def serve(keys, host, port):
    async with make_server(keys, host, port) as server:
        await server.serve_forever()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--stations", type=int, required=True, help="identities B00000 .. B<stations>")
    parser.add_argument("--key", required=True, help="the stations' key, 40 hex digits")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    logging.basicConfig(level=logging.WARNING)
    key = bytes.fromhex(args.key)
    keys = {f"B{i:05d}": key for i in range(args.stations + 1)}
    try:
        asyncio.run(serve(keys, args.host, args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
