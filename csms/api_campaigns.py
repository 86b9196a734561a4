"""Rotation campaigns over REST: list, start one over the stations a filter selects (the
station list's own `StationFilter`) or named ones, its progress counted in SQL, its
members with their outcomes, and pause / resume / abort (`csms.campaigns`)."""
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, generics, serializers, status
from rest_framework.response import Response

from lib.api import BoundedCursorPagination, Conflict
from lib.labels import printable_label

from . import campaigns
from .api import validated
from .api_access import OperatorView
from .models import CampaignMember, RotationCampaign, Station

MAX_NAMED = 10_000  # identities in one request body


class CampaignSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    state = serializers.ChoiceField(RotationCampaign.State.choices)
    paused_reason = serializers.CharField(allow_null=True)
    concurrency = serializers.IntegerField()
    canary_size = serializers.IntegerField()
    max_failure_percent = serializers.IntegerField()
    members = serializers.DictField(child=serializers.IntegerField(), help_text="stations by state")
    total = serializers.IntegerField()
    finished = serializers.IntegerField(help_text="succeeded, failed or skipped")
    percent_done = serializers.IntegerField()
    created_by = serializers.CharField()
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)


def shown(campaign: RotationCampaign) -> dict:
    """`campaigns.summary` (its members counted by state in one query), with the progress."""
    summary = campaigns.summary(campaign)
    return {**summary, "created_at": campaign.created_at, "completed_at": campaign.completed_at,
            **campaigns.progress(summary["members"])}


class CampaignRequestSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False, default="", allow_blank=True,
                                 validators=[printable_label])
    stations = serializers.ListField(child=serializers.CharField(max_length=255), required=False,
                                     max_length=MAX_NAMED, allow_empty=False,
                                     help_text="the identities to rotate; or give `filter`")
    filter = serializers.DictField(child=serializers.CharField(max_length=255), required=False,
                                   help_text="the station list's query parameters (q, connected, vendor, "
                                             "key_origin, …): every station they select; {} is all")
    concurrency = serializers.IntegerField(min_value=1, max_value=1000, default=10)
    canary_size = serializers.IntegerField(min_value=0, max_value=1000, default=5)
    max_failure_percent = serializers.IntegerField(min_value=0, max_value=100, default=20)

    def validate(self, data):
        if ("stations" in data) == ("filter" in data):
            raise serializers.ValidationError({"stations": ["give either stations or filter"]})
        return data


class CampaignView(OperatorView):
    serializer_class = CampaignSerializer

    def get_queryset(self):
        return self.scoped(RotationCampaign)

    def campaign(self) -> RotationCampaign:
        found = self.scoped(RotationCampaign).filter(pk=self.kwargs["campaign_id"]).first()
        if found is None:
            raise exceptions.NotFound("this tenant has no campaign with that id")
        return found


class CampaignList(CampaignView):
    @extend_schema(summary="Rotation campaigns, newest first", responses=CampaignSerializer(many=True))
    def get(self, request, tenant):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response([shown(c) for c in page])

    @extend_schema(summary="Start a campaign: a canary first, then `concurrency` at a time; it pauses "
                           "when more than `max_failure_percent` fail. 409 if an open campaign still "
                           "has some of the stations to rotate.",
                   request=CampaignRequestSerializer, responses={201: CampaignSerializer})
    def post(self, request, tenant):
        body = validated(CampaignRequestSerializer, request)
        stations = self.chosen(body)
        try:
            campaign = campaigns.start(self.tenant, stations, actor=self.actor(), name=body["name"],
                                       concurrency=body["concurrency"], canary_size=body["canary_size"],
                                       max_failure_percent=body["max_failure_percent"])
        except campaigns.Overlap as exc:
            raise Conflict(str(exc)) from None
        except ValueError as exc:
            raise exceptions.ValidationError({"stations": [str(exc)]}) from None
        return Response(shown(campaign), status=status.HTTP_201_CREATED)

    def chosen(self, body) -> list[Station]:
        if self.tenant is None:
            return []
        try:
            return campaigns.choose(self.tenant, filter=body.get("filter"), identities=body.get("stations"))
        except campaigns.BadSelection as exc:
            raise exceptions.ValidationError(exc.errors) from None


class CampaignDetail(CampaignView):
    @extend_schema(summary="A campaign and its progress")
    def get(self, request, tenant, campaign_id):
        return Response(shown(self.campaign()))


class CampaignAction(CampaignView):
    action = ""  # pause, resume or abort

    @extend_schema(request=None, responses=CampaignSerializer)
    def post(self, request, tenant, campaign_id):
        campaign = self.campaign()
        try:
            getattr(campaigns, self.action)(campaign, self.actor())
        except ValueError as exc:  # not in a state this applies to
            raise Conflict(str(exc)) from None
        return Response(shown(self.get_queryset().get(pk=campaign.pk)))


@extend_schema_view(post=extend_schema(summary="Pause a running campaign (stations under way finish)"))
class CampaignPause(CampaignAction):
    action = "pause"


@extend_schema_view(post=extend_schema(summary="Resume a paused campaign (with a canary again)"))
class CampaignResume(CampaignAction):
    action = "resume"


@extend_schema_view(post=extend_schema(summary="Abort a campaign: its waiting stations are skipped"))
class CampaignAbort(CampaignAction):
    action = "abort"


class MemberSerializer(serializers.ModelSerializer):
    station = serializers.CharField(source="station.identity")
    change = serializers.IntegerField(source="change_id", allow_null=True)

    class Meta:
        model = CampaignMember
        fields = ["station", "state", "change", "detail", "started_at", "finished_at"]


class MemberFilter(filters.FilterSet):
    state = filters.MultipleChoiceFilter(choices=CampaignMember.State.choices, help_text="repeat for several")

    class Meta:
        model = CampaignMember
        fields: list[str] = []


class MemberPagination(BoundedCursorPagination):
    ordering = ("id",)


@extend_schema_view(get=extend_schema(summary="A campaign's stations with their outcomes (state=failed: "
                                              "the failures)"))
class CampaignMembers(CampaignView, generics.ListAPIView):
    serializer_class = MemberSerializer
    filterset_class = MemberFilter
    pagination_class = MemberPagination

    def get_queryset(self):
        if self.tenant is None:
            return CampaignMember.objects.none()
        return self.campaign().members.select_related("station")
