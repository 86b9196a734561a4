from django.urls import re_path

from .consumers import StationConsumer

# The consumer re-reads the raw path itself so percent-encoded identities survive.
websocket_urlpatterns = [re_path(r"^ocpp/", StationConsumer.as_asgi())]
