"""A station's connection history over REST: `stations/<identity>/connections/`, its last
`StationConnection.KEPT` connections, newest first, as its page shows them
(`connection_log.recent`): when each opened and closed and how (the close code and
reason), the scheme it authenticated with, the client address and User-Agent, and for
the newest `StationConnection.WITH_MESSAGES` their last frames (direction, type,
action, message id, outcome, size: never a payload).

Not paged: the history is bounded by the writes that grow it (csms/connection_log.py).
The viewer role reads it, as the other station endpoints; refused handshakes are the
station's `auth-events/`."""
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, serializers

from . import connection_log
from .api import station_for
from .api_access import OperatorView
from .protocol import recent


class FrameSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    direction = serializers.ChoiceField(choices=[recent.IN, recent.OUT], help_text="in: from the station")
    type = serializers.ChoiceField(choices=[*recent.KINDS.values(), recent.UNREADABLE],
                                   help_text="unreadable: a frame that parsed as no RPC message")
    action = serializers.CharField(allow_blank=True)
    message_id = serializers.CharField(allow_blank=True)
    outcome = serializers.CharField(allow_blank=True, help_text="an error code, if the frame was refused or one")
    bytes = serializers.IntegerField()


class ConnectionSerializer(serializers.Serializer):
    seq = serializers.IntegerField(help_text="the station's connection number: newer is higher")
    opened_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True, help_text="null: open, or its server process is gone")
    close_code = serializers.IntegerField(allow_null=True, help_text="1006: the socket dropped without a close")
    close_reason = serializers.CharField(allow_blank=True)
    method = serializers.CharField(help_text="the scheme it authenticated with")
    source = serializers.CharField(help_text="the client address")
    user_agent = serializers.CharField(allow_blank=True)
    frames_at = serializers.DateTimeField(allow_null=True, help_text="as of when the frames are")
    frames = FrameSerializer(many=True, allow_null=True, help_text="newest first; null: not kept for this one")


@extend_schema_view(get=extend_schema(summary="The station's last connections, newest first, with their last frames"))
class StationConnections(OperatorView, generics.ListAPIView):
    serializer_class = ConnectionSerializer
    pagination_class = None
    filter_backends: list = []

    def get_queryset(self):
        if self.tenant is None:  # the schema is being generated
            return []
        return connection_log.described(connection_log.recent(station_for(self.tenant, self.kwargs["identity"])))
