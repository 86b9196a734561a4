"""ASGI entry point: HTTP goes to Django (machine endpoints on a lean path of their own,
portal/machine_http.py), WebSockets under /ocpp/ to the CSMS.

Serve with uvicorn: it implements the WebSocket Denial Response extension the CSMS
needs to answer a handshake with 401/404 (Daphne cannot).
"""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django_asgi_app = get_asgi_application()

from portal.startup import check_server  # noqa: E402

check_server()  # no development SECRET_KEY beyond the loopback

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from csms.routing import websocket_urlpatterns  # noqa: E402
from portal.machine_http import MachineEndpoints  # noqa: E402

application = ProtocolTypeRouter({
    # The authorization server's back channel past the page middleware; the rest to Django.
    "http": MachineEndpoints(django_asgi_app),
    # No AllowedHostsOriginValidator: stations are not browsers and send no Origin.
    "websocket": URLRouter(websocket_urlpatterns),
})
