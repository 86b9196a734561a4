"""REST for a station's public keys (Bearer; docs/station-auth.md): list, register,
retire, under /api/v1/tenants/<t>/stations/<identity>/keys/. Viewer to read, operator to
change, like the station's tokens (csms/api.py). Public keys only, so nothing here is
secret; a private key sent by mistake is refused, never stored.
"""
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from lib.labels import printable_label
from tenants.models import Role

from . import station_bearer
from .api import station_for, tenant_for, validated


class StationKeySerializer(serializers.Serializer):
    kid = serializers.CharField()
    kty = serializers.CharField()
    crv = serializers.CharField(allow_null=True)
    algorithms = serializers.ListField(child=serializers.CharField())
    thumbprint = serializers.CharField(help_text="the key's RFC 7638 SHA-256 thumbprint (its fingerprint)")
    active = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    retired_at = serializers.DateTimeField(allow_null=True)


class RetiredKeySerializer(StationKeySerializer):
    tokens_revoked = serializers.IntegerField(help_text="the station's access tokens revoked with the key")


class StationKeyRequestSerializer(serializers.Serializer):
    public_key = serializers.CharField(max_length=16384, help_text="PEM or JWK (JSON): EC P-256, Ed25519 or "
                                                                   "RSA of 2048 bits or more; public only")
    kid = serializers.CharField(max_length=256, required=False, default="", allow_blank=True,
                                validators=[printable_label],
                                help_text="default: the JWK's kid, else its RFC 7638 thumbprint")


def _unavailable(exc) -> Response:
    return Response({"detail": str(exc)}, status=status.HTTP_503_SERVICE_UNAVAILABLE)


class StationKeys(APIView):
    @extend_schema(responses=StationKeySerializer(many=True))
    def get(self, request, tenant, identity):
        station = station_for(tenant_for(request, tenant, Role.VIEWER), identity)
        try:
            return Response(station_bearer.keys_of(station))
        except station_bearer.NoAuthorizationServer as exc:
            return _unavailable(exc)

    @extend_schema(request=StationKeyRequestSerializer, responses={201: StationKeySerializer})
    def post(self, request, tenant, identity):
        """Register a public key the station signs its jwt-bearer assertions with."""
        station = station_for(tenant_for(request, tenant, Role.OPERATOR), identity)
        body = validated(StationKeyRequestSerializer, request)
        try:
            row = station_bearer.add_key(station, body["public_key"], body["kid"],
                                         actor=request.user.get_username())
        except station_bearer.StationKeyRefused as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        except station_bearer.NoAuthorizationServer as exc:
            return _unavailable(exc)
        return Response(row, status=status.HTTP_201_CREATED)


class StationKeyRetirement(APIView):
    @extend_schema(request=None, responses=RetiredKeySerializer)
    def delete(self, request, tenant, identity, kid):
        """Retire the key at once: the station's access tokens are revoked, a Bearer
        connection is closed."""
        station = station_for(tenant_for(request, tenant, Role.OPERATOR), identity)
        try:
            row = station_bearer.retire_key(station, kid, actor=request.user.get_username())
        except station_bearer.NoAuthorizationServer as exc:
            return _unavailable(exc)
        if row is None:
            raise Http404
        return Response(row)
