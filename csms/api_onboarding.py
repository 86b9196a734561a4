"""Onboarding over REST: the tenant's anomaly hold (too many first connections with a
series key: `credentials.watch_onboarding_rate`) and its release, and the stations
waiting to be let in, approved or rejected one by one.

A station waits while it is on a series key (it gets its unique key at its next boot,
unless onboarding is held) or while the operator's setting answers it Pending.
Approving sets that to Accepted, rejecting to Rejected (its boots are refused); both are
seen at its next boot.
"""
from django.db.models import Q
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.response import Response

from lib.api import BoundedPagePagination, Conflict

from . import announce, credentials
from .api import StationSerializer, station_for
from .api_access import OperatorView
from .models import RegistrationStatus, Station, StationCredential


class HoldSerializer(serializers.Serializer):
    held = serializers.BooleanField()
    held_since = serializers.DateTimeField(allow_null=True)
    on_series_key = serializers.IntegerField(help_text="stations waiting for their unique key")
    window_minutes = serializers.IntegerField()
    max_in_window = serializers.IntegerField()


def hold_of(tenant) -> dict:
    tenant.refresh_from_db(fields=["onboarding_held_since"])
    return {"held": tenant.onboarding_held_since is not None, "held_since": tenant.onboarding_held_since,
            "on_series_key": StationCredential.objects.for_tenant(tenant).filter(needs_unique_key=True).count(),
            "window_minutes": tenant.onboarding_window_minutes, "max_in_window": tenant.onboarding_max_in_window}


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
        if hold_of(self.tenant)["held"] is False:
            raise Conflict(f"onboarding is not held for {tenant}")
        credentials.release_onboarding(self.tenant, self.actor())
        return Response(hold_of(self.tenant))


class Waiting(OperatorView):
    serializer_class = StationSerializer
    pagination_class = BoundedPagePagination

    def get_queryset(self):
        waiting = Q(credential__needs_unique_key=True) | Q(registration_status=RegistrationStatus.PENDING)
        return self.scoped(Station).select_related("credential").filter(waiting).order_by("created_at", "pk")

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
        if station.registration_status == self.setting:
            waits = self.setting == RegistrationStatus.ACCEPTED and station.effective_registration != self.setting
            raise Conflict(f"the station's setting is {self.setting} already"
                           + ("; it waits for its unique key at its next boot (while onboarding is held: "
                              "release it)" if waits else ""))
        station.registration_status = self.setting
        station.save(update_fields=["registration_status"])
        credentials.audit(station, self.actor(), f"onboarding.{self.setting.lower()}", self.setting)
        announce.station_changed(station)
        return Response(StationSerializer(station).data)


@extend_schema_view(post=extend_schema(summary="Approve a waiting station: its boots are answered Accepted (once it holds a unique key)"))
class Approve(Decision):
    setting = RegistrationStatus.ACCEPTED


@extend_schema_view(post=extend_schema(summary="Reject a station: its boots are answered Rejected"))
class Reject(Decision):
    setting = RegistrationStatus.REJECTED
