"""Station authentication policy over REST (docs/station-auth.md): station groups (rank,
patterns, networks, methods), the tenant's default methods, a station's other Basic
logins and its TOTP secret (shown once, when issued).

Groups and the default are policy: the admin role. Logins and TOTP secrets are a
station's credentials, like its tokens (csms/api.py): the operator role. Every change
refuses to strand stations (409, naming them) unless forced, as the CLI does.
"""
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response

from lib.api import Conflict
from tenants.models import Role

from . import station_methods
from .api import MethodsRequestSerializer, station_for, validated
from .api_access import OperatorView
from .auth import policy, totp
from .models import StationGroup, StationLogin, StationTotp

MAX_NETWORKS = 100


def lockout(exc: station_methods.LockOut) -> Conflict:
    return Conflict(str(exc).replace("or force it", "or send force: true"), stranded=exc.stranded)


class PatternsSerializer(serializers.Serializer):
    identity = serializers.CharField(max_length=255, allow_blank=True, required=False)
    vendor = serializers.CharField(max_length=100, allow_blank=True, required=False)
    model = serializers.CharField(max_length=100, allow_blank=True, required=False)
    firmware = serializers.CharField(max_length=100, allow_blank=True, required=False)


class GroupSerializer(serializers.Serializer):
    name = serializers.RegexField(rf"\A(?:{station_methods.GROUP_NAME.pattern})\Z", max_length=64,
                                  error_messages={"invalid": station_methods.GROUP_NAME_RULE})
    rank = serializers.IntegerField(required=False, min_value=-1_000_000, max_value=1_000_000,
                                    help_text="tried lowest first; default: after the last group")
    patterns = PatternsSerializer(required=False, help_text="shell-style (*, ?, [..]), without case; "
                                                             "empty or left out: any value")
    methods = serializers.ListField(
        child=serializers.CharField(max_length=16), allow_null=True, required=False, max_length=policy.MAX_METHODS,
        help_text="most preferred first; null: the tenant's default")
    networks = serializers.ListField(child=serializers.CharField(max_length=64), required=False,
                                     max_length=MAX_NETWORKS, help_text="CIDR networks its stations may connect "
                                                                        "from; empty: any")
    force = serializers.BooleanField(default=False, write_only=True,
                                     help_text="apply even if stations are left with no method they hold a "
                                               "credential for")

    def validate_methods(self, value):
        return MethodsRequestSerializer().validate_methods(value)

    def validate_networks(self, value):
        try:
            return [str(n) for n in policy.parse_networks(",".join(value))]
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None


class GroupChangeSerializer(GroupSerializer):
    name = None  # a group is named by its address


def apply(row: StationGroup, body: dict) -> None:
    for name, value in body.get("patterns", {}).items():
        setattr(row, station_methods.PATTERNS[name], value)
    for field in ("rank", "methods", "networks"):
        if field in body:
            setattr(row, field, body[field])


class GroupView(OperatorView):
    serializer_class = GroupSerializer
    write_role = Role.ADMIN
    model = StationGroup

    def save(self, row: StationGroup, force: bool) -> None:
        try:
            station_methods.save_group(self.tenant, row, force=force)
        except station_methods.LockOut as exc:
            raise lockout(exc) from None
        except station_methods.GroupTaken as exc:
            raise Conflict(str(exc)) from None


class Groups(GroupView):
    @extend_schema(summary="Station groups, first match first", responses=GroupSerializer(many=True))
    def get(self, request, tenant):
        rows = StationGroup.objects.for_tenant(self.tenant).order_by("rank")
        return Response([station_methods.group_summary(g) for g in rows])

    @extend_schema(summary="Create a group (admin)", request=GroupSerializer, responses={201: GroupSerializer})
    def post(self, request, tenant):
        body = validated(GroupSerializer, request)
        row = StationGroup(tenant=self.tenant, name=body["name"], rank=body.get("rank"), methods=None, networks=[])
        apply(row, body)
        if row.rank is None:
            row.rank = station_methods.next_rank(self.tenant)
        self.save(row, body["force"])
        return Response(station_methods.group_summary(row), status=status.HTTP_201_CREATED)


class Group(GroupView):
    def group(self) -> StationGroup:
        row = StationGroup.objects.for_tenant(self.tenant).filter(name=self.kwargs["name"]).first()
        if row is None:
            raise exceptions.NotFound("this tenant has no group of that name")
        return row

    @extend_schema(summary="A group")
    def get(self, request, tenant, name):
        return Response(station_methods.group_summary(self.group()))

    @extend_schema(summary="Change a group (admin)", request=GroupChangeSerializer, responses=GroupSerializer)
    def patch(self, request, tenant, name):
        row = self.group()
        body = validated(GroupChangeSerializer, request)
        apply(row, body)
        self.save(row, body["force"])
        return Response(station_methods.group_summary(row))

    @extend_schema(summary="Delete a group (admin): its stations fall to the next match (?force=true: even "
                           "if that strands some)", request=None, responses={204: None})
    def delete(self, request, tenant, name):
        force = request.query_params.get("force", "").lower() in ("1", "true")
        try:
            station_methods.remove_group(self.tenant, self.group(), force=force)
        except station_methods.LockOut as exc:
            raise lockout(exc) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class DefaultSerializer(serializers.Serializer):
    methods = serializers.ListField(child=serializers.CharField(), help_text="what stations of no group "
                                                                             "(and groups without a list) use")
    inherited = serializers.BooleanField(help_text="no list set: the built-in default (Basic)")


def default_of(tenant) -> dict:
    chosen = station_methods.current_rules(tenant).default
    return {"methods": list(chosen or policy.DEFAULT_METHODS), "inherited": chosen is None}


class DefaultMethods(OperatorView):
    serializer_class = DefaultSerializer
    write_role = Role.ADMIN

    @extend_schema(summary="The tenant's default methods")
    def get(self, request, tenant):
        return Response(default_of(self.tenant))

    @extend_schema(summary="Set the tenant's default methods (admin); null: the built-in default",
                   request=MethodsRequestSerializer, responses=DefaultSerializer)
    def put(self, request, tenant):
        body = validated(MethodsRequestSerializer, request)
        try:
            station_methods.set_default_methods(self.tenant, body["methods"], force=body["force"])
        except station_methods.LockOut as exc:
            raise lockout(exc) from None
        return Response(default_of(self.tenant))


# --- a station's logins and TOTP secret ---------------------------------------------------

class LoginSerializer(serializers.Serializer):
    login = serializers.CharField(max_length=255, trim_whitespace=False)
    created_at = serializers.DateTimeField(read_only=True)


class Logins(OperatorView):
    serializer_class = LoginSerializer
    model = StationLogin

    @extend_schema(summary="A station's other Basic logins", responses=LoginSerializer(many=True))
    def get(self, request, tenant, identity):
        station = station_for(self.tenant, identity)
        return Response(LoginSerializer(StationLogin.objects.filter(station=station), many=True).data)

    @extend_schema(summary="Add a Basic login for the station (unique in the tenant)", request=LoginSerializer,
                   responses={201: LoginSerializer})
    def post(self, request, tenant, identity):
        station = station_for(self.tenant, identity)
        login = validated(LoginSerializer, request)["login"]
        try:
            row = station_methods.add_login(station, login, actor=self.actor())
        except station_methods.LoginTaken as exc:
            raise Conflict(str(exc)) from None
        except ValueError as exc:
            raise exceptions.ValidationError({"login": [str(exc)]}) from None
        return Response(LoginSerializer(row).data, status=status.HTTP_201_CREATED)


class Login(OperatorView):
    serializer_class = LoginSerializer
    model = StationLogin

    @extend_schema(summary="Remove one of the station's logins", request=None, responses={204: None})
    def delete(self, request, tenant, identity, login):
        station = station_for(self.tenant, identity)
        if not station_methods.remove_login(station, login, actor=self.actor()):
            raise exceptions.NotFound("the station has no such login")
        return Response(status=status.HTTP_204_NO_CONTENT)


class TotpSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="the public id; the secret is shown once, when issued")
    validity = serializers.IntegerField()
    length = serializers.IntegerField()
    hash_algorithm = serializers.CharField()
    alphabet = serializers.CharField()
    active = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class IssuedTotpSerializer(TotpSerializer):
    secret = serializers.CharField(help_text="shown this once: configure it on the station")


class TotpRequestSerializer(serializers.Serializer):
    validity = serializers.IntegerField(default=30, min_value=1, max_value=3600, help_text="seconds per token")
    length = serializers.IntegerField(default=12, min_value=totp.MIN_ISSUED_LENGTH, max_value=totp.MAX_ISSUED_LENGTH)
    hash_algorithm = serializers.ChoiceField(sorted(totp.HASHES), default="sha256")


class Totp(OperatorView):
    serializer_class = TotpSerializer
    model = StationTotp

    @extend_schema(summary="The station's active TOTP secret (never the secret itself); 404 if none")
    def get(self, request, tenant, identity):
        station = station_for(self.tenant, identity)
        row = StationTotp.objects.filter(station=station, revoked_at__isnull=True).first()
        if row is None:
            raise exceptions.NotFound("the station has no active TOTP secret")
        return Response(station_methods.totp_summary(row))

    @extend_schema(summary="Issue a TOTP secret: the response is the only time it is shown; 409 if one is "
                           "active", request=TotpRequestSerializer, responses={201: IssuedTotpSerializer})
    def post(self, request, tenant, identity):
        station = station_for(self.tenant, identity)
        body = validated(TotpRequestSerializer, request)
        try:
            row, secret = station_methods.issue_totp(station, actor=self.actor(), **body)
        except station_methods.TotpExists as exc:
            raise Conflict(str(exc)) from None
        except ValueError as exc:  # totp.InvalidConfig too
            raise exceptions.ValidationError({"detail": [str(exc)]}) from None
        return Response(dict(station_methods.totp_summary(row), secret=secret), status=status.HTTP_201_CREATED)

    @extend_schema(summary="Revoke the TOTP secret; a TOTP connection is closed", request=None,
                   responses=TotpSerializer)
    def delete(self, request, tenant, identity):
        row = station_methods.revoke_totp(station_for(self.tenant, identity), actor=self.actor())
        if row is None:
            raise exceptions.NotFound("the station has no active TOTP secret")
        return Response(station_methods.totp_summary(row))
