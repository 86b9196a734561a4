"""A station that really keeps the keys it is given, for credential-rotation tests.

It connects with whatever password it holds, answers ChangeConfiguration
AuthorizationKey (1.6) or SetVariables BasicAuthPassword (2.0.1) according to its
`behaviour`, and behaves like firmware afterwards: reconnecting with a key it applied
(white paper A01 happy flow), rebooting on Reset with a key it staged.

`microocpp()` gives it the habits of MicroOcpp, the C++ firmware stack that found the
lockouts of issue 8: it answers Accepted, saves the key and keeps the old one in memory
until it restarts (reconnects included); it carries out a Reset only once its boot has
been Accepted; and it repeats its Pending boot on the same socket.
"""
import asyncio
import contextlib

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as CP16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as CP201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201

from tests.stations import basic_auth, station_url

APPLY = "apply"  # store now, answer Accepted, reconnect with the new key
STAGE = "stage"  # answer RebootRequired; the key takes effect at the next reboot
REJECT = "reject"
NOT_SUPPORTED = "not_supported"
SILENT = "silent"  # never answers
DROP_AFTER_APPLY = "drop_after_apply"  # stores the key, loses the socket before answering
LOSE = "lose"  # answers Accepted but never stores the key, and stays connected
APPLY_SILENTLY = "apply_silently"  # stores the key, never answers (its CSMS went away)
CALL_ERROR = "call_error"  # the firmware fails on the request: a CALLERROR goes back
# MicroOcpp: answers Accepted and saves the key, which it uses only after its next restart.
APPLY_ON_RESTART = "apply_on_restart"
UNKNOWN_COMPONENT = "unknown_component"  # 2.0.1 firmware without SecurityCtrlr.BasicAuthPassword


class KeyedStation:
    def __init__(self, server, tenant, identity, password: bytes, version="1.6", behaviour=APPLY):
        self.server, self.tenant, self.identity = server, tenant, identity
        self.password = password
        self.staged: bytes | None = None
        self.version = version
        self.behaviour = behaviour
        self.keys_received: list[str] = []
        self.resets = 0
        self.connections = 0
        self.boot_statuses: list[str] = []
        self.ws = None
        self.cp = None
        self.task = None
        self.closed_codes: list[int | None] = []
        self.reset_answer = "Accepted"
        self.reset_delay = 0.05  # seconds between accepting a Reset and carrying it out
        # A restart takes a while (seconds, on real firmware). Back at once, the new
        # socket's handshake could overtake the server's handling of the old socket's
        # close, which is the restart evidence; no real station restarts that fast.
        self.restart_seconds = 0.2
        self.reset_only_when_accepted = False  # MicroOcpp: a Reset waits for an Accepted boot
        self.reset_due = False
        self.reconnecting: asyncio.Future | None = None  # a reconnect the firmware started on its own

    def microocpp(self) -> "KeyedStation":
        self.behaviour = APPLY_ON_RESTART
        self.reset_only_when_accepted = True
        return self

    # --- connection lifecycle ----------------------------------------------------------

    async def connect(self):
        protocol = "ocpp1.6" if self.version == "1.6" else "ocpp2.0.1"
        self.ws = await websockets.connect(
            station_url(self.server, self.tenant, self.identity), subprotocols=[protocol],
            additional_headers={"Authorization": basic_auth(self.identity, self.password)},
            open_timeout=10, ping_interval=None)
        cls = _Firmware16 if self.version == "1.6" else _Firmware201
        self.cp = cls(self.identity, self.ws, response_timeout=10)
        self.cp.station = self
        self.task = asyncio.create_task(self._run(self.cp, self.ws))
        self.connections += 1

    async def _run(self, cp, ws):
        with contextlib.suppress(websockets.ConnectionClosed):
            await cp.start()
        self.closed_codes.append(ws.close_code)

    async def disconnect(self):
        if self.ws is not None:
            await self.ws.close()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self.task, 5)
            self.ws = None

    async def reconnect(self, delay=0.1):
        await asyncio.sleep(delay)
        await self.disconnect()
        await self.connect()

    def _reconnect_soon(self, after: float = 0.0):
        """Reconnect by itself `after` seconds from now, as firmware does after taking a key."""
        def start():
            self.reconnecting = asyncio.ensure_future(self.reconnect(delay=0))
        asyncio.get_running_loop().call_later(after, start)

    async def reconnect_settled(self, timeout=10):
        """Wait for a reconnect the firmware started (or is about to start) on its own:
        a test connecting by hand meanwhile would be a second socket, and one of the two
        would be replaced by the other. The reconnect may fail (no server there)."""
        await asyncio.sleep(0.3)  # past `_reconnect_soon`'s delay and `reconnect`'s own
        if self.reconnecting is not None:
            with contextlib.suppress(Exception):  # it failed: `ws` stays None
                await asyncio.wait_for(asyncio.shield(self.reconnecting), timeout)
            self.reconnecting = None

    async def reboot(self, reason="RemoteReset"):
        self.reset_due = False
        await self.disconnect()
        await asyncio.sleep(self.restart_seconds)
        if self.staged is not None:
            self.password, self.staged = self.staged, None
        await self.connect()
        await self.boot(reason=reason)

    async def boot(self, reason="PowerUp") -> str:
        if self.version == "1.6":
            answer = await self.cp.call(call16.BootNotification(
                charge_point_model="KeyKeeper", charge_point_vendor="Tests"))
        else:
            answer = await self.cp.call(call201.BootNotification(
                charging_station={"model": "KeyKeeper", "vendor_name": "Tests"}, reason=reason))
        self.boot_statuses.append(answer.status)
        if answer.status == "Accepted" and self.reset_due:
            self._reboot_soon()
        return answer.status

    async def watch_for_close(self, timeout=10) -> int | None:
        """Wait until the CSMS closes the current socket; its close code."""
        await asyncio.wait_for(asyncio.shield(self.task), timeout)
        return self.closed_codes[-1]

    # --- what the firmware does with a key -----------------------------------------------

    async def take_key(self, secret: bytes) -> str | None:
        """Returns the status to answer, or None for no answer at all."""
        self.keys_received.append(secret.hex())
        b = self.behaviour
        if b == APPLY:
            self.password = secret
            self._reconnect_soon(after=0.15)
            return "Accepted"
        if b == STAGE:
            self.staged = secret
            return "RebootRequired"
        if b == APPLY_ON_RESTART:
            self.staged = secret
            return "Accepted"
        if b == REJECT:
            return "Rejected"
        if b == NOT_SUPPORTED:
            return "NotSupported" if self.version == "1.6" else "NotSupportedAttributeType"
        if b == LOSE:
            return "Accepted"
        if b == UNKNOWN_COMPONENT:
            return "UnknownComponent"
        if b == DROP_AFTER_APPLY:
            self.password = secret
            self._reconnect_soon()
            await asyncio.sleep(30)  # the answer never leaves
            return None
        if b == CALL_ERROR:
            raise RuntimeError("configuration store unavailable")  # ocpp answers InternalError
        if b == APPLY_SILENTLY:
            self.password = secret
        await asyncio.sleep(30)  # SILENT, APPLY_SILENTLY
        return None

    async def on_reset(self) -> str:
        self.resets += 1
        if self.reset_answer == "Scheduled":
            return "Scheduled"  # 2.0.1 OnIdle while charging: it restarts later, by itself
        self.reset_due = True
        if not self.reset_only_when_accepted or (self.boot_statuses and self.boot_statuses[-1] == "Accepted"):
            self._reboot_soon()
        return "Accepted"

    def _reboot_soon(self):
        self.reboot_task = asyncio.get_running_loop().call_later(
            self.reset_delay, lambda: asyncio.ensure_future(self.reboot()))


class _Firmware16(CP16):
    @on("ChangeConfiguration")
    async def change_configuration(self, key, value):
        assert key == "AuthorizationKey"
        status = await self.station.take_key(bytes.fromhex(value))
        return result16.ChangeConfiguration(status=status)

    @on("Reset")
    async def reset(self, type):
        return result16.Reset(status=await self.station.on_reset())


class _Firmware201(CP201):
    @on("SetVariables")
    async def set_variables(self, set_variable_data, **kwargs):
        [item] = set_variable_data
        assert item["variable"]["name"] == "BasicAuthPassword"
        status = await self.station.take_key(item["attribute_value"].encode("ascii"))
        return result201.SetVariables(set_variable_result=[{
            "attribute_status": status, "component": item["component"], "variable": item["variable"]}])

    @on("Reset")
    async def reset(self, type, **kwargs):
        return result201.Reset(status=await self.station.on_reset())
