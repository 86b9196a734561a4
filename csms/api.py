"""REST API for operators' automation: stations, their key changes, their methods and
tokens (docs/station-auth.md).

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

from . import credentials, station_methods
from .auth import policy
from .auth.station_auth import SCHEMES
from .models import CredentialChange, Station, StationToken


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
                  "connected_at", "disconnected_at", "last_seen_at", "last_auth_method", "credential"]

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


def validated(serializer_class, request) -> dict:
    """The request body, checked (400 with the serializer's errors otherwise)."""
    body = serializer_class(data=request.data)
    body.is_valid(raise_exception=True)
    return body.validated_data


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
        body = validated(RotationRequestSerializer, request)
        try:
            with transaction.atomic():
                change = credentials.request_change(
                    station, CredentialChange.Trigger.DEMAND, request.user.get_username(),
                    compromised=body["compromised"])
        except credentials.ChangeRefused as exc:
            raise Conflict(str(exc)) from None
        return Response(ChangeSerializer(change).data, status=status.HTTP_202_ACCEPTED)


# --- methods and tokens ------------------------------------------------------------------------

class MethodsSerializer(serializers.Serializer):
    identity = serializers.CharField()
    methods = serializers.ListField(child=serializers.CharField(), help_text="most preferred first")
    source = serializers.ChoiceField(["station", "group", "tenant", "built-in"])
    group = serializers.CharField(allow_null=True)
    own_methods = serializers.ListField(child=serializers.CharField(), allow_null=True)
    usable = serializers.ListField(child=serializers.CharField(),
                                   help_text="the methods it holds a credential for")
    last_method = serializers.CharField(allow_null=True)
    active_tokens = serializers.IntegerField()


class MethodsRequestSerializer(serializers.Serializer):
    methods = serializers.ListField(child=serializers.CharField(), allow_null=True,
                                    help_text="the station's own list, most preferred first; null: inherit")
    force = serializers.BooleanField(default=False, help_text="apply even if it leaves stations unable "
                                                              "to connect")

    def validate_methods(self, value):
        if value is None:
            return None
        try:
            return list(policy.parse_methods(",".join(value), [n.lower() for n in SCHEMES.names()]))
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None


class TokenSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="the public id; the token itself is shown once, when issued")
    label = serializers.CharField()
    active = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    revoked_at = serializers.DateTimeField(allow_null=True)


class IssuedTokenSerializer(TokenSerializer):
    token = serializers.CharField(help_text="shown this once: store it on the station")


class TokenRequestSerializer(serializers.Serializer):
    label = serializers.CharField(max_length=100, required=False, default="", allow_blank=True)


class GroupStatusSerializer(serializers.Serializer):
    group = serializers.CharField(allow_null=True)
    stations = serializers.IntegerField()
    last_method = serializers.DictField(child=serializers.IntegerField())
    still_on_basic = serializers.ListField(child=serializers.CharField())
    basic_allowed = serializers.IntegerField()


class StationMethods(APIView):
    @extend_schema(responses=MethodsSerializer)
    def get(self, request, tenant, identity):
        station = station_for(tenant_for(request, tenant, Role.VIEWER), identity)
        return Response(station_methods.describe(station))

    @extend_schema(request=MethodsRequestSerializer, responses={200: MethodsSerializer})
    def put(self, request, tenant, identity):
        """Set the station's own methods (downgrade protection: the others are refused),
        or inherit them; 409 if that would leave stations with no method they hold a
        credential for."""
        station = station_for(tenant_for(request, tenant, Role.OPERATOR), identity)
        body = validated(MethodsRequestSerializer, request)
        try:
            station_methods.set_station_methods(station, body["methods"], force=body["force"])
        except station_methods.LockOut as exc:
            return Response({"detail": str(exc), "stranded": exc.stranded}, status=status.HTTP_409_CONFLICT)
        return Response(station_methods.describe(station))


class StationTokens(APIView):
    @extend_schema(responses=TokenSerializer(many=True))
    def get(self, request, tenant, identity):
        station = station_for(tenant_for(request, tenant, Role.VIEWER), identity)
        return Response([station_methods.token_summary(t) for t in StationToken.objects.filter(station=station)])

    @extend_schema(request=TokenRequestSerializer, responses={201: IssuedTokenSerializer})
    def post(self, request, tenant, identity):
        """Issue a token: the response is the only time it is shown."""
        station = station_for(tenant_for(request, tenant, Role.OPERATOR), identity)
        label = validated(TokenRequestSerializer, request)["label"]
        try:
            row, value = station_methods.issue_token(station, label, actor=request.user.get_username())
        except station_methods.TooManyTokens as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(dict(station_methods.token_summary(row), token=value), status=status.HTTP_201_CREATED)


class StationTokenRevocation(APIView):
    @extend_schema(request=None, responses=TokenSerializer)
    def delete(self, request, tenant, identity, token_id):
        """Revoke the token; a connection opened with a token is closed."""
        station = station_for(tenant_for(request, tenant, Role.OPERATOR), identity)
        row = station_methods.revoke_token(station, token_id, actor=request.user.get_username())
        if row is None:
            raise Http404
        return Response(station_methods.token_summary(row))


class AuthStatus(APIView):
    @extend_schema(responses=GroupStatusSerializer(many=True))
    def get(self, request, tenant):
        """Per station group: the methods its stations last used, and who is still on Basic."""
        return Response(station_methods.status(tenant_for(request, tenant, Role.VIEWER)))
