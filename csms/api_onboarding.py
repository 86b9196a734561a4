"""Onboarding over REST: the tenant's anomaly hold (too many first connections with a
series key: `credentials.watch_onboarding_rate`) and its release, and the stations
waiting to be let in, approved or rejected one by one.

A station waits while it is on a series key (it gets its unique key at its next boot,
unless onboarding is held) or while the operator's setting answers it Pending.
Approving sets that to Accepted, rejecting to Rejected (its boots are refused); both are
seen at its next boot.
"""
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.response import Response

from lib.api import BoundedPagePagination, Conflict

from . import onboarding
from .api import StationSerializer, station_for
from .api_access import OperatorView
from .models import RegistrationStatus, Station


class HoldSerializer(serializers.Serializer):
    held = serializers.BooleanField()
    held_since = serializers.DateTimeField(allow_null=True)
    on_series_key = serializers.IntegerField(help_text="stations waiting for their unique key")
    window_minutes = serializers.IntegerField()
    max_in_window = serializers.IntegerField()


hold_of = onboarding.hold_of


class OnboardingHold(OperatorView):
    serializer_class = HoldSerializer

    @extend_schema(summary="Whether onboarding is held, and how many stations wait for their unique key")
    def get(self, request, tenant):
        return Response(hold_of(self.tenant))


class OnboardingRelease(OperatorView):
    serializer_class = HoldSerializer

    @extend_schema(summary="Lift the onboarding hold: waiting stations get their unique keys at their next boot",
                   request=None, responses=HoldSerializer)
    def post(self, request, tenant):
        try:
            onboarding.release(self.tenant, self.actor())
        except onboarding.Refused as exc:
            raise Conflict(str(exc)) from None
        return Response(hold_of(self.tenant))


class Waiting(OperatorView):
    serializer_class = StationSerializer
    pagination_class = BoundedPagePagination

    def get_queryset(self):
        return onboarding.waiting(self.tenant) if self.tenant is not None else self.scoped(Station)

    @extend_schema(summary="Stations waiting to be onboarded, oldest first")
    def get(self, request, tenant):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(StationSerializer(page, many=True).data)


class Decision(OperatorView):
    serializer_class = StationSerializer
    setting = ""

    @extend_schema(request=None, responses=StationSerializer)
    def post(self, request, tenant, identity):
        station = station_for(self.tenant, identity)
        try:
            onboarding.decide(station, self.setting, self.actor())
        except onboarding.Refused as exc:
            raise Conflict(str(exc)) from None
        return Response(StationSerializer(station).data)


@extend_schema_view(post=extend_schema(summary="Approve a waiting station: its boots are answered Accepted (once it holds a unique key)"))
class Approve(Decision):
    setting = RegistrationStatus.ACCEPTED


@extend_schema_view(post=extend_schema(summary="Reject a station: its boots are answered Rejected"))
class Reject(Decision):
    setting = RegistrationStatus.REJECTED
