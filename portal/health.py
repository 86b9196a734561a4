"""Health checks: `GET /healthz` (readiness) and `GET /livez` (liveness).

`/healthz`: may this node be given stations and requests? The database and the channel
layer answer, and the process is not draining (csms/drain.py). Point load balancers and
Kubernetes readiness probes at it.

`/livez`: is the process serving at all? It checks nothing else, so an orchestrator that
restarts on it does not turn a database or Redis outage, which the station sockets
survive, into every station reconnecting; and it stays 200 while the process drains.
"""
import asyncio
import uuid

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connection
from django.http import JsonResponse

from csms import leaving


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        return False


async def _channel_layer_ok() -> bool:
    layer = get_channel_layer()
    if layer is None:
        return False
    try:
        channel = await layer.new_channel()
        token = uuid.uuid4().hex
        await layer.send(channel, {"type": "health.check", "token": token})
        received = await asyncio.wait_for(layer.receive(channel), timeout=2)
        return received.get("token") == token
    except Exception:
        return False


def _server() -> str:
    return "draining" if leaving.draining() else "ok"


def _answer(checks: dict, status: int) -> JsonResponse:
    response = JsonResponse(checks, status=status)
    response["Cache-Control"] = "no-store"
    return response


async def healthz(request):
    checks = {
        "database": "ok" if await sync_to_async(_database_ok)() else "failed",
        "channel_layer": "ok" if await _channel_layer_ok() else "failed",
        "server": _server(),
    }
    response = _answer(checks, 200 if all(v == "ok" for v in checks.values()) else 503)
    if checks["server"] == "draining" and "failed" not in checks.values():
        # Expected on every stop, and probed every few seconds: not an error for Django's
        # request log (an outage still is).
        response._has_been_logged = True
    return response


async def livez(request):
    return _answer({"server": _server()}, 200)
