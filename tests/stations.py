"""Station clients for tests: the `ocpp` library's ChargePoint over `websockets`.

These play the part of real charging stations: they connect with HTTP Basic, speak
either version, and answer the CSMS's calls with whatever the test configures.
"""
import asyncio
import base64
import contextlib
import json
from urllib.parse import quote

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v201 import ChargePoint as ChargePoint201


def basic_auth(identity: str | bytes, password: bytes) -> str:
    user = identity.encode() if isinstance(identity, str) else identity
    return "Basic " + base64.b64encode(user + b":" + password).decode("ascii")


def station_url(server, tenant: str, identity: str) -> str:
    return f"{server.ws}/ocpp/{quote(tenant, safe='')}/{quote(identity, safe='')}"


async def open_socket(server, tenant, identity, key: bytes | None, protocols=("ocpp1.6",),
                      password: bytes | None = None, headers=None):
    """A raw websockets connection (raises websockets.InvalidStatus on refusal)."""
    extra = dict(headers or {})
    if key is not None or password is not None:
        extra["Authorization"] = basic_auth(identity, password if password is not None else key)
    return await websockets.connect(
        station_url(server, tenant, identity), subprotocols=list(protocols) or None,
        additional_headers=extra, open_timeout=10, ping_interval=None,
    )


class Station16(ChargePoint16):
    """A 1.6 charge point that answers the CSMS's calls as configured."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.received: list[tuple[str, dict]] = []
        self.answers: dict[str, dict] = {}
        self.delays: dict[str, float] = {}

    async def _answer(self, action, payload):
        self.received.append((action, payload))
        await asyncio.sleep(self.delays.get(action, 0))
        return self.answers.get(action, {"status": "Accepted"})

    @on("ChangeConfiguration")
    async def on_change_configuration(self, key, value):
        from ocpp.v16 import call_result
        answer = await self._answer("ChangeConfiguration", {"key": key, "value": value})
        return call_result.ChangeConfiguration(**answer)

    @on("Reset")
    async def on_reset(self, type):
        from ocpp.v16 import call_result
        return call_result.Reset(**await self._answer("Reset", {"type": type}))

    @on("GetConfiguration")
    async def on_get_configuration(self, key=None):
        from ocpp.v16 import call_result
        await self._answer("GetConfiguration", {"key": key})
        return call_result.GetConfiguration(configuration_key=[
            {"key": "HeartbeatInterval", "readonly": False, "value": "300"}])


class Station201(ChargePoint201):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.received: list[tuple[str, dict]] = []
        self.answers: dict[str, dict] = {}

    @on("Reset")
    async def on_reset(self, type, **kwargs):
        from ocpp.v201 import call_result
        self.received.append(("Reset", {"type": type}))
        return call_result.Reset(**self.answers.get("Reset", {"status": "Accepted"}))

    @on("GetVariables")
    async def on_get_variables(self, get_variable_data, **kwargs):
        from ocpp.v201 import call_result
        self.received.append(("GetVariables", get_variable_data))
        return call_result.GetVariables(get_variable_result=[
            {"attribute_status": "Accepted", "component": d["component"],
             "variable": d["variable"], "attribute_value": "42"} for d in get_variable_data])


@contextlib.asynccontextmanager
async def station(server, tenant, identity, key, version="1.6", **kwargs):
    """A connected, running station client; yields the ChargePoint."""
    protocols = ("ocpp1.6",) if version == "1.6" else ("ocpp2.0.1",)
    ws = await open_socket(server, tenant, identity, key, protocols=protocols, **kwargs)
    cls = Station16 if version == "1.6" else Station201
    cp = cls(identity, ws, response_timeout=10)
    task = asyncio.create_task(cp.start())
    try:
        yield cp
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        await ws.close()


class RawStation:
    """Sends hand-made frames and reads what comes back, for RPC-rule tests."""

    def __init__(self, ws):
        self.ws = ws

    async def send(self, frame):
        await self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def recv(self, timeout=5):
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    async def exchange(self, frame, timeout=5):
        await self.send(frame)
        return await self.recv(timeout)

    async def silent(self, seconds=0.5) -> bool:
        """True if nothing arrives within `seconds`."""
        try:
            await asyncio.wait_for(self.ws.recv(), seconds)
        except TimeoutError:
            return True
        return False


@contextlib.asynccontextmanager
async def raw_station(server, tenant, identity, key, protocol="ocpp1.6"):
    ws = await open_socket(server, tenant, identity, key, protocols=(protocol,))
    try:
        yield RawStation(ws)
    finally:
        await ws.close()
