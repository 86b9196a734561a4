"""REST API for operators' automation: stations and their key changes.

Tenant-scoped under /api/v1/tenants/<slug>/; every query goes through the tenant the
caller belongs to. Reading needs the viewer role, requesting a key change the operator
role. A caller outside the tenant gets 404, as if the tenant did not exist.
"""
from django.db import transaction
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from lib.api import Conflict
from tenants.models import Membership, Role, Tenant

from . import credentials
from .models import CredentialChange, Station


class CredentialSerializer(serializers.Serializer):
    phase = serializers.CharField()
    valid_keys = serializers.IntegerField()
    current_key_origin = serializers.CharField()
    current_key_since = serializers.DateTimeField(allow_null=True)
    needs_unique_key = serializers.BooleanField()


class StationSerializer(serializers.ModelSerializer):
    credential = serializers.SerializerMethodField()
    # What its boots are answered (Pending while onboarding); the operator's setting too.
    registration_status = serializers.CharField(source="effective_registration", read_only=True)
    registration_setting = serializers.CharField(source="registration_status", read_only=True)

    class Meta:
        model = Station
        fields = ["identity", "connected", "ocpp_version", "registration_status", "registration_setting",
                  "allowed_protocols",
                  "vendor", "model", "serial_number", "firmware_version", "last_boot_at",
                  "connected_at", "disconnected_at", "last_seen_at", "credential"]

    @extend_schema(responses=CredentialSerializer)
    def get_credential(self, station) -> dict | None:
        cred = getattr(station, "credential", None)
        if cred is None:
            return None  # registered without a key (e.g. through the admin): cannot connect
        return {"phase": cred.phase,
                "valid_keys": len(credentials.state_of(cred).valid_hashes),
                "current_key_origin": cred.current_origin, "current_key_since": cred.current_since,
                "needs_unique_key": cred.needs_unique_key}


class ChangeSerializer(serializers.ModelSerializer):
    class Meta:
        model = CredentialChange
        fields = ["id", "trigger", "compromised", "state", "outcome", "attempt", "requested_by",
                  "detail", "created_at", "sent_at", "answered_at", "resolved_at"]


class RotationRequestSerializer(serializers.Serializer):
    compromised = serializers.BooleanField(
        default=False, help_text="the current key may have leaked: retire it on Accepted and "
                                 "never trust it as evidence")


def tenant_for(request, slug: str, role: str) -> Tenant:
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        raise Http404
    if request.user.is_superuser:
        return tenant
    membership = Membership.objects.filter(user=request.user, tenant=tenant).first()
    if membership is None:
        raise Http404  # do not reveal other tenants
    if not membership.allows(role):
        raise PermissionDenied(f"this needs the {role} role in {slug}")
    return tenant


def station_for(tenant: Tenant, identity: str) -> Station:
    station = (Station.objects.for_tenant(tenant).select_related("tenant", "credential")
               .filter(identity=identity).first())
    if station is None:
        raise Http404
    return station


class StationList(APIView):
    @extend_schema(responses=StationSerializer(many=True))
    def get(self, request, tenant):
        t = tenant_for(request, tenant, Role.VIEWER)
        stations = Station.objects.for_tenant(t).select_related("credential").order_by("identity")
        return Response(StationSerializer(stations, many=True).data)


class StationDetail(APIView):
    @extend_schema(responses=StationSerializer)
    def get(self, request, tenant, identity):
        return Response(StationSerializer(station_for(tenant_for(request, tenant, Role.VIEWER),
                                                      identity)).data)


class StationRotations(APIView):
    @extend_schema(responses=ChangeSerializer(many=True))
    def get(self, request, tenant, identity):
        station = station_for(tenant_for(request, tenant, Role.VIEWER), identity)
        changes = CredentialChange.objects.filter(station=station)[:100]
        return Response(ChangeSerializer(changes, many=True).data)

    @extend_schema(request=RotationRequestSerializer, responses={202: ChangeSerializer})
    def post(self, request, tenant, identity):
        """Request a fresh key for the station: sent now, or when it next connects."""
        station = station_for(tenant_for(request, tenant, Role.OPERATOR), identity)
        body = RotationRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            with transaction.atomic():
                change = credentials.request_change(
                    station, CredentialChange.Trigger.DEMAND, request.user.get_username(),
                    compromised=body.validated_data["compromised"])
        except credentials.ChangeRefused as exc:
            raise Conflict(str(exc)) from None
        return Response(ChangeSerializer(change).data, status=status.HTTP_202_ACCEPTED)
