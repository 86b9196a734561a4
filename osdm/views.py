"""The OSDM provider's functional endpoints, behind the login service's tokens.

Minimal on purpose: one endpoint that proves the whole consumer journey (assertion →
token → functional call) and tells the consumer who the provider takes it to be.
Real OSDM resources (offers, bookings) will sit beside it with the same protection.
"""
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from oauth.authentication import BearerProtectedView
from oauth.issuer import authorization_server

OSDM_SCOPE = "uic_osdm"


class ConsumerIdentity(BearerProtectedView):
    """`GET /api/v1/tenants/<tenant>/osdm/identity`: the calling consumer, as its
    token identifies it (scope `uic_osdm`)."""

    required_scopes = [OSDM_SCOPE]

    @extend_schema(summary="The calling OSDM consumer", responses=inline_serializer("OsdmConsumer", {
        "consumer": serializers.CharField(), "client_id": serializers.CharField(),
        "scope": serializers.CharField(), "token_expires_at": serializers.IntegerField()}))
    def get(self, request, tenant):
        t = authorization_server(tenant)
        if not t.is_osdm_provider:
            raise NotFound("this tenant is not an OSDM provider")
        claims = request.auth.claims
        return Response({"consumer": claims["sub"], "client_id": claims["client_id"],
                         "scope": claims["scope"], "token_expires_at": claims["exp"]})
