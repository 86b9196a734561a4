"""REST API for operators' automation: stations, their key changes, their methods and
tokens (docs/station-auth.md).

Tenant-scoped under /api/v1/tenants/<slug>/; every query goes through the tenant the
caller belongs to. Reading needs the viewer role, requesting a key change the operator
role. A caller outside the tenant gets 404, as if the tenant did not exist.
"""
from django.db import IntegrityError, transaction
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from lib.api import BoundedPagePagination, Conflict
from lib.labels import printable_label
from tenants.models import Role, Tenant

from . import announce, credentials, services, station_methods
from .api_access import OperatorView, actor, tenant_for
from .auth import keys, policy
from .auth.station_auth import SCHEMES
from .models import CredentialChange, KeyOrigin, RegistrationStatus, Station, StationToken
from .protocol.versions import SUPPORTED
from .station_filters import StationFilter


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
                  "connected_at", "disconnected_at", "last_seen_at", "last_auth_method", "last_user_agent",
                  "credential"]

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


class ProtocolsField(serializers.ListField):
    child = serializers.ChoiceField(choices=list(SUPPORTED))

    def __init__(self, **kwargs):
        super().__init__(min_length=1, max_length=len(SUPPORTED), **kwargs)


class RegistrationSerializer(serializers.Serializer):
    identity = serializers.CharField(max_length=255, trim_whitespace=False)
    key = serializers.CharField(required=False, max_length=40, write_only=True,
                                help_text="the station's 16- to 20-byte key in hex (32 to 40 digits)")
    generate_key = serializers.BooleanField(default=False, help_text="generate a key: the response shows it once")
    master_key = serializers.CharField(required=False, max_length=40, write_only=True,
                                       help_text="a series/master key in hex: the station is onboarded (Pending) "
                                                 "and given a unique key at its first BootNotification")
    registration_setting = serializers.ChoiceField(RegistrationStatus.choices, default=RegistrationStatus.ACCEPTED)
    allowed_protocols = ProtocolsField(default=list(SUPPORTED))

    def validate(self, data):
        # The model's identity rule, per protocol (OCPP 2.0.1: identifierString of 48).
        wrong = Station.identity_problems(data["identity"], data["allowed_protocols"])
        if wrong:
            raise serializers.ValidationError({"identity": wrong})
        given = [name for name in ("key", "generate_key", "master_key") if data.get(name)]
        if len(given) != 1:
            raise serializers.ValidationError({"key": ["give exactly one of key, generate_key or master_key"]})
        for name in ("key", "master_key"):
            if name in data:
                try:
                    data[name] = keys.parse_hex_key(data[name])
                except ValueError as exc:  # says what is wrong, never the value
                    raise serializers.ValidationError({name: [str(exc)]}) from None
        return data


class RegisteredSerializer(StationSerializer):
    key = serializers.CharField(required=False, help_text="the generated key (hex), shown this once")

    class Meta(StationSerializer.Meta):
        fields = [*StationSerializer.Meta.fields, "key"]


class StationChangeSerializer(serializers.Serializer):
    registration_setting = serializers.ChoiceField(RegistrationStatus.choices, required=False,
                                                   help_text="what its BootNotification is answered")
    allowed_protocols = ProtocolsField(required=False)


def register(tenant: Tenant, body: dict, by: str) -> dict:
    """`station add`'s registration: the station with its first key; a generated key is
    in the result, the only time it is shown."""
    if body["generate_key"]:
        raw, origin = keys.generate_key(), KeyOrigin.GENERATED
    elif "master_key" in body:
        raw, origin = body["master_key"], KeyOrigin.MASTER
    else:
        raw, origin = body["key"], KeyOrigin.INSTALLED
    try:
        with transaction.atomic():
            station = credentials.register_station(
                tenant, body["identity"], raw, origin, needs_unique_key=origin == KeyOrigin.MASTER, actor=by,
                registration_status=body["registration_setting"], allowed_protocols=body["allowed_protocols"])
    except IntegrityError:
        raise Conflict(f"a station {body['identity']!r} exists already in {tenant.slug}") from None
    shown = dict(StationSerializer(station_for(tenant, station.identity)).data)
    if origin == KeyOrigin.GENERATED:
        shown["key"] = raw.hex()  # only its hash is kept
    return shown


class StationList(OperatorView):
    """The tenant's stations, a page at a time, found with the portal's own filters
    (`csms.station_filters.StationFilter`: search `q`, state filters, `ordering`)."""

    serializer_class = StationSerializer
    filterset_class = StationFilter
    pagination_class = BoundedPagePagination

    def get_queryset(self):
        return self.scoped(Station).select_related("credential")

    @extend_schema(summary="List stations (paginated, searchable, filterable)", operation_id="stations_list")
    def get(self, request, tenant):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(StationSerializer(page, many=True).data)

    @extend_schema(summary="Register a station with its first key", request=RegistrationSerializer,
                   responses={201: RegisteredSerializer})
    def post(self, request, tenant):
        body = validated(RegistrationSerializer, request)
        return Response(register(self.tenant, body, self.actor()), status=status.HTTP_201_CREATED)


class StationDetail(OperatorView):
    serializer_class = StationSerializer

    @extend_schema(summary="A station")
    def get(self, request, tenant, identity):
        return Response(StationSerializer(station_for(self.tenant, identity)).data)

    @extend_schema(summary="Change a station's registration setting or allowed protocols",
                   request=StationChangeSerializer, responses=StationSerializer)
    def patch(self, request, tenant, identity):
        station = station_for(self.tenant, identity)
        body = validated(StationChangeSerializer, request)
        fields = {"registration_setting": "registration_status", "allowed_protocols": "allowed_protocols"}
        changed = [fields[name] for name in body]
        if "allowed_protocols" in body:  # an identity that 2.0.1 does not allow may not switch to it
            wrong = Station.identity_problems(station.identity, body["allowed_protocols"])
            if wrong:
                raise serializers.ValidationError({"allowed_protocols": wrong})
        for name, value in body.items():
            setattr(station, fields[name], value)
        if changed:
            station.save(update_fields=changed)
            credentials.audit(station, self.actor(), "station.changed", ", ".join(changed),
                              **{name: value for name, value in body.items()})
            # Seen at its next boot (registration) or connection (protocols).
            announce.station_changed(station)
        return Response(StationSerializer(station).data)

    @extend_schema(summary="Remove a station (its connection is closed)", request=None, responses={204: None})
    def delete(self, request, tenant, identity):
        services.remove_station(station_for(self.tenant, identity), actor=self.actor())
        return Response(status=status.HTTP_204_NO_CONTENT)


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
                    station, CredentialChange.Trigger.DEMAND, actor(request),
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
    label = serializers.CharField(max_length=100, required=False, default="", allow_blank=True,
                                  validators=[printable_label])


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
            raise Conflict(str(exc).replace("or force it", "or send force: true"), stranded=exc.stranded) from None
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
            row, value = station_methods.issue_token(station, label, actor=actor(request))
        except station_methods.TooManyTokens as exc:
            raise Conflict(str(exc)) from None
        return Response(dict(station_methods.token_summary(row), token=value), status=status.HTTP_201_CREATED)


class StationTokenRevocation(APIView):
    @extend_schema(request=None, responses=TokenSerializer)
    def delete(self, request, tenant, identity, token_id):
        """Revoke the token; a connection opened with a token is closed."""
        station = station_for(tenant_for(request, tenant, Role.OPERATOR), identity)
        row = station_methods.revoke_token(station, token_id, actor=actor(request))
        if row is None:
            raise Http404
        return Response(station_methods.token_summary(row))


class AuthStatus(APIView):
    @extend_schema(responses=GroupStatusSerializer(many=True))
    def get(self, request, tenant):
        """Per station group: the methods its stations last used, and who is still on Basic."""
        return Response(station_methods.status(tenant_for(request, tenant, Role.VIEWER)))
