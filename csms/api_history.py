"""The tenant's history over REST: every key change (`rotations/`) and the audit log
(`audit/`, also as CSV), newest first, filtered by station, kind, actor and time."""
import csv
import json

from django.http import StreamingHttpResponse
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, serializers

from lib.api import BoundedCursorPagination
from lib.filters import InstantFilter, StrictBooleanFilter
from lib.timestamps import rfc3339

from .api import ChangeSerializer
from .api_access import OperatorView
from .models import AuditEvent, CredentialChange

TEXT_MAX = 150  # as long as the longest column filtered on (actor)


class StationIdentityFilter(filters.CharFilter):
    def __init__(self, **kwargs):
        super().__init__(field_name="station__identity", max_length=255, label="the station's identity", **kwargs)


class ChangeFilter(filters.FilterSet):
    station = StationIdentityFilter()
    state = filters.MultipleChoiceFilter(choices=CredentialChange.State.choices, help_text="repeat for several")
    trigger = filters.MultipleChoiceFilter(choices=CredentialChange.Trigger.choices, help_text="repeat for several")
    compromised = StrictBooleanFilter()
    open = StrictBooleanFilter(method="by_openness", label="still queued, in flight or awaiting proof")
    created_after = InstantFilter(field_name="created_at", lookup_expr="gte")
    created_before = InstantFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = CredentialChange
        fields: list[str] = []

    def by_openness(self, qs, _name, value):
        still = {"state__in": [CredentialChange.State.QUEUED, CredentialChange.State.IN_FLIGHT,
                               CredentialChange.State.AWAITING_PROOF]}
        return qs.filter(**still) if value else qs.exclude(**still)


class TenantChangeSerializer(ChangeSerializer):
    station = serializers.CharField(source="station.identity")

    class Meta(ChangeSerializer.Meta):
        fields = ["station", *ChangeSerializer.Meta.fields]


@extend_schema_view(get=extend_schema(summary="Every key change of the tenant's stations, newest first"))
class Rotations(OperatorView, generics.ListAPIView):
    serializer_class = TenantChangeSerializer
    filterset_class = ChangeFilter

    def get_queryset(self):
        return self.scoped(CredentialChange).select_related("station")


class AuditTimeFilter(filters.FilterSet):
    """Audit events between two instants; the base of every audit event list's filters."""

    after = InstantFilter(field_name="at", lookup_expr="gte")
    before = InstantFilter(field_name="at", lookup_expr="lt")

    class Meta:
        model = AuditEvent
        fields: list[str] = []


class AuditFilter(AuditTimeFilter):
    station = StationIdentityFilter()
    action = filters.CharFilter(max_length=64, help_text="exactly, e.g. station.removed")
    action_prefix = filters.CharFilter(field_name="action", lookup_expr="startswith", max_length=64,
                                       help_text="e.g. campaign. for every campaign event")
    actor = filters.CharFilter(max_length=TEXT_MAX, help_text="a username, client:<client_id>, cli, system")


class AuditSerializer(serializers.ModelSerializer):
    station = serializers.CharField(source="station.identity", allow_null=True, default=None)

    class Meta:
        model = AuditEvent
        fields = ["id", "at", "actor", "action", "station", "outcome", "detail"]


class AuditPagination(BoundedCursorPagination):
    ordering = ("-at", "-id")


class AuditView(OperatorView):
    serializer_class = AuditSerializer
    filterset_class = AuditFilter

    def get_queryset(self):
        return self.scoped(AuditEvent).select_related("station").order_by("-at", "-id")


@extend_schema_view(get=extend_schema(summary="The audit log, newest first"))
class AuditLog(AuditView, generics.ListAPIView):
    pagination_class = AuditPagination


class Echo:
    """A file-like sink for csv.writer that hands each row back, for streaming."""

    def write(self, value):
        return value


CSV_COLUMNS = ["at", "actor", "action", "station", "outcome", "detail"]


def csv_cell(value: str) -> str:
    """A cell a spreadsheet shows as text: one starting like a formula (=, +, -, @) is
    quoted with an apostrophe (CSV injection), since identities and details are not ours."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


@extend_schema(summary="The audit log as CSV (the same filters), newest first",
               responses={(200, "text/csv"): OpenApiTypes.STR})
class AuditExport(AuditView):
    pagination_class = None

    def get(self, request, tenant):
        return audit_csv(self.filter_queryset(self.get_queryset()), self.tenant.slug)


def audit_csv(events, slug: str) -> StreamingHttpResponse:
    """`events` (an AuditEvent queryset, already scoped and filtered) as a streamed CSV
    download: times RFC 3339, every text cell `csv_cell`-quoted. The REST API's export
    and the portal's both answer with this."""
    rows = events.values_list("at", "actor", "action", "station__identity", "outcome", "detail")
    writer = csv.writer(Echo())

    def lines():
        yield writer.writerow(CSV_COLUMNS)
        for at, who, action, station, outcome, detail in rows.iterator(chunk_size=2000):
            yield writer.writerow([rfc3339(at), *(csv_cell(v or "") for v in (who, action, station, outcome)),
                                   csv_cell(_json(detail))])
    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{slug}.csv"'
    return response


def _json(value) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False) if value else ""
