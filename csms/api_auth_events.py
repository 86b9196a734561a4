"""A station's authentication decisions over REST: `stations/<identity>/auth-events/`,
every handshake's decision (csms/auth_audit.py, action `station.auth`), newest first,
filtered by outcome and by the scheme presented, cursor-paged like the audit log.

The viewer role reads it, as the other station endpoints. An event holds the scheme,
outcome, reason, client address and counts, never a credential (what the handshake
presented is not in it), so nothing here needs masking."""
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, serializers

from . import auth_audit, handshake_metrics
from .api import station_for
from .api_access import OperatorView
from .api_history import AuditPagination, AuditTimeFilter
from .auth.station_auth import KNOWN_SCHEMES
from .models import AuditEvent

# What `method` may be: a known scheme's name, `none` (no Authorization), `other`.
PRESENTED = sorted(KNOWN_SCHEMES | {"none", "other"})


class AuthEventFilter(AuditTimeFilter):
    outcome = filters.MultipleChoiceFilter(choices=[(o, o) for o in handshake_metrics.OUTCOMES],
                                           help_text="repeat for several")
    method = filters.MultipleChoiceFilter(field_name="detail__method", choices=[(m, m) for m in PRESENTED],
                                          help_text="the scheme presented; repeat for several")


class AuthEventSerializer(serializers.Serializer):
    """One event: identical decisions within a flush are one event with their `count`
    and the `first` and `last` of them (`at` is the last)."""

    id = serializers.IntegerField()
    at = serializers.DateTimeField()
    outcome = serializers.CharField()
    method = serializers.CharField(source="detail.method", help_text="the scheme presented")
    reason = serializers.CharField(source="detail.reason", allow_blank=True)
    source = serializers.CharField(source="detail.source", help_text="the client address")
    count = serializers.IntegerField(source="detail.count", default=1)
    first = serializers.DateTimeField(source="detail.first", allow_null=True, default=None)
    last = serializers.DateTimeField(source="detail.last", allow_null=True, default=None)


@extend_schema_view(get=extend_schema(summary="The station's authentication decisions, newest first"))
class StationAuthEvents(OperatorView, generics.ListAPIView):
    serializer_class = AuthEventSerializer
    filterset_class = AuthEventFilter
    pagination_class = AuditPagination

    def get_queryset(self):
        if self.tenant is None:  # the schema is being generated
            return AuditEvent.objects.none()
        return auth_audit.events(self.tenant, station_for(self.tenant, self.kwargs["identity"]))
