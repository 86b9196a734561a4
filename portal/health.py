"""GET /healthz: is this node able to serve? Checks the database and the channel layer."""
import asyncio
import uuid

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connection
from django.http import JsonResponse


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


async def healthz(request):
    checks = {
        "database": "ok" if await sync_to_async(_database_ok)() else "failed",
        "channel_layer": "ok" if await _channel_layer_ok() else "failed",
    }
    status = 200 if all(v == "ok" for v in checks.values()) else 503
    response = JsonResponse(checks, status=status)
    response["Cache-Control"] = "no-store"
    return response
