"""The eMSP REST API: `/api/v1/tenants/<tenant>/pnc/…` — contracts (list, filter, look
up by EMAID, revoke), contract certificates (PEM and chain), the MO CA certificates and
their CRLs.

For eMSP backends: a client's own access token from the tenant's authorization server
(client_credentials, e.g. with private_key_jwt), `emsp:read` to read, `emsp:write` to
revoke. A token is checked against the tenant in the URL (its keys, issuer and audience),
and every query is scoped to that tenant: another tenant's contract is 404 here, exactly
like one that does not exist. Errors are RFC 9457 problem+json (lib.api).
"""
from django.urls import reverse
from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, generics, serializers
from rest_framework.parsers import BaseParser
from rest_framework.permissions import SAFE_METHODS
from rest_framework.renderers import BaseRenderer
from rest_framework.response import Response

from lib.api import BoundedCursorPagination, Conflict, JSONBodyParser, TimestampJSONRenderer
from lib.filters import InstantFilter, StrictBooleanFilter
from lib.problem import CONTENT_TYPE as PROBLEM_TYPE
from oauth.authentication import BearerProtectedView, ClientToken, HasScope
from tenants.models import Tenant

from . import authorities, contracts, emaid, issuance, profile, revocation
from .models import CertificateAuthority, Contract, IssuedCertificate

READ_SCOPE = "emsp:read"
WRITE_SCOPE = "emsp:write"
CHAIN_TYPE = "application/pem-certificate-chain"
CRL_TYPE = "application/pkix-crl"
CSR_TYPE = "application/pkcs10"
MAX_CSR_BYTES = 16 * 1024  # as on /csr (pnc.views)


# --- serializers ------------------------------------------------------------------------

class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details."""

    type = serializers.CharField(default="about:blank")
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField(required=False)
    errors = serializers.JSONField(required=False, help_text="invalid input: the messages per field")


def problems(*statuses: int) -> dict:
    return {(status, PROBLEM_TYPE): OpenApiResponse(ProblemSerializer) for status in statuses}


def certificate_state(cert: IssuedCertificate) -> str:
    if cert.revoked_at is not None:
        return "revoked"
    return "expired" if cert.not_after <= timezone.now() else "valid"


class CertificateSummarySerializer(serializers.ModelSerializer):
    issuer_key_id = serializers.CharField(source="issuer.key_id")
    state = serializers.SerializerMethodField()

    class Meta:
        model = IssuedCertificate
        fields = ["serial_number", "issuer_key_id", "state", "not_before", "not_after", "revoked_at",
                  "revocation_reason", "created_at"]

    def get_state(self, cert) -> str:
        """valid, revoked or expired"""
        return certificate_state(cert)


class CertificateSerializer(CertificateSummarySerializer):
    emaid = serializers.CharField(source="contract.emaid")
    certificate_pem = serializers.CharField()
    chain_pems = serializers.SerializerMethodField()

    class Meta(CertificateSummarySerializer.Meta):
        fields = [*CertificateSummarySerializer.Meta.fields, "emaid", "certificate_pem", "chain_pems"]

    def get_chain_pems(self, cert) -> list[str]:
        """The issuing Sub-CA 2 and its Sub-CA 1, in that order (the root is the trust anchor)."""
        return authorities.chain_above(cert.issuer)


class ContractSerializer(serializers.ModelSerializer):
    emaid_display = serializers.SerializerMethodField()
    driver = serializers.CharField(source="user.get_username")
    client_id = serializers.CharField(source="client_id_text")
    certificates = CertificateSummarySerializer(many=True)

    class Meta:
        model = Contract
        fields = ["emaid", "emaid_display", "state", "driver", "client_id", "starts_at", "ends_at", "currency",
                  "maximum_amount", "maximum_transaction_amount", "created_at", "state_changed_at", "certificates"]

    def get_emaid_display(self, contract) -> str:
        """The EMAID with hyphens, for people (DE-8AA-1A2B3C4D5-V)"""
        return emaid.hyphenated(contract.emaid)


class RevokeSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=profile.REASONS, default="unspecified",
                                     help_text="the RFC 5280 CRLReason put in the CRL and OCSP answers")


class RenewalSerializer(serializers.Serializer):
    csr = serializers.CharField(max_length=MAX_CSR_BYTES, trim_whitespace=False,
                                help_text="the EV's PKCS#10 request for its new key: PEM, or base64 DER")


class RenewedSerializer(CertificateSerializer):
    replaces = serializers.SerializerMethodField()

    class Meta(CertificateSerializer.Meta):
        fields = [*CertificateSerializer.Meta.fields, "replaces"]

    def get_replaces(self, cert) -> dict:
        """The certificate it replaced, now revoked as `superseded`"""
        return CertificateSummarySerializer(self.context["replaces"]).data


class AuthoritySerializer(serializers.ModelSerializer):
    parent_key_id = serializers.CharField(source="parent.key_id", allow_null=True, default=None)
    crl_url = serializers.SerializerMethodField()

    class Meta:
        model = CertificateAuthority
        fields = ["key_id", "level", "subject", "serial_number", "not_before", "not_after", "issuing",
                  "parent_key_id", "certificate_pem", "crl_url", "crl_number", "crl_next_update", "retired_at"]

    def get_crl_url(self, ca) -> str | None:
        """The public CRL URL (only for CAs whose key is held here, or that left a final CRL when retired)"""
        return authorities.crl_url(ca.tenant, ca.key_id) if ca.crl_served_here else None


# --- filters ----------------------------------------------------------------------------

def _emaid_filter(queryset, field: str, value: str):
    try:
        return queryset.filter(**{field: emaid.normalise(value)})
    except emaid.InvalidEmaid as exc:
        raise exceptions.ValidationError({"emaid": [str(exc)]}) from None


class ContractFilter(filters.FilterSet):
    state = filters.MultipleChoiceFilter(choices=Contract.State.choices, help_text="repeat for several")
    emaid = filters.CharFilter(method="by_emaid", help_text="with or without hyphens")
    client = filters.CharFilter(field_name="client_id_text", help_text="the client_id the driver approved")
    created_after = InstantFilter(field_name="created_at", lookup_expr="gte")
    created_before = InstantFilter(field_name="created_at", lookup_expr="lt")
    ends_after = InstantFilter(field_name="ends_at", lookup_expr="gte")
    ends_before = InstantFilter(field_name="ends_at", lookup_expr="lt")

    class Meta:
        model = Contract
        fields = ["state", "emaid", "client"]

    def by_emaid(self, queryset, name, value):
        return _emaid_filter(queryset, "emaid", value)


class CertificateFilter(filters.FilterSet):
    emaid = filters.CharFilter(method="by_emaid", help_text="the contract's EMAID, with or without hyphens")
    issuer = filters.CharFilter(field_name="issuer__key_id", help_text="the issuing CA's key id (hex)")
    revoked = StrictBooleanFilter(field_name="revoked_at", lookup_expr="isnull", exclude=True)
    expires_after = InstantFilter(field_name="not_after", lookup_expr="gte")
    expires_before = InstantFilter(field_name="not_after", lookup_expr="lt")

    class Meta:
        model = IssuedCertificate
        fields = ["emaid", "issuer", "revoked"]

    def by_emaid(self, queryset, name, value):
        return _emaid_filter(queryset, "contract__emaid", value)


# --- views ------------------------------------------------------------------------------

class PassThroughRenderer(BaseRenderer):
    """Bytes or text as they are (a DER CRL, a PEM chain); anything else — a problem —
    as JSON, under the content type its Response names."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, bytes | str):
            return data
        return TimestampJSONRenderer().render(data)


class CrlRenderer(PassThroughRenderer):
    media_type = CRL_TYPE
    format = "crl"


class ChainRenderer(PassThroughRenderer):
    media_type = CHAIN_TYPE
    format = "pem"
    charset = "utf-8"


def emsp_tenant(slug: str) -> Tenant:
    tenant = Tenant.objects.filter(slug=slug, is_emsp=True).first()
    if tenant is None:
        raise exceptions.NotFound("there is no eMSP at this address")
    return tenant


class EmspView(BearerProtectedView, generics.GenericAPIView):
    """The tenant (an eMSP, else 404) comes from the URL before anything else; the token
    must be a client's own, from that tenant, with the method's scope."""

    tenant: Tenant | None = None  # set by initial(); None while the schema is generated
    parser_classes = [JSONBodyParser]
    pagination_class = BoundedCursorPagination
    filter_backends = [filters.DjangoFilterBackend]

    @property
    def required_scopes(self) -> list[str]:
        return [READ_SCOPE] if self.request.method in SAFE_METHODS else [WRITE_SCOPE]

    def initial(self, request, *args, **kwargs):
        self.tenant = emsp_tenant(kwargs["tenant"])
        super().initial(request, *args, **kwargs)

    def get_permissions(self):
        return [HasScope(), ClientToken()]

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response.setdefault("Cache-Control", "no-store")  # drivers' contracts: personal data
        return response

    def actor(self) -> str:
        return f"client:{self.request.auth.claims['client_id']}"


class ContractView(EmspView):
    serializer_class = ContractSerializer

    def get_queryset(self):
        return (Contract.objects.for_tenant(self.tenant).select_related("user")
                .prefetch_related("certificates__issuer"))

    def get_object(self) -> Contract:
        try:
            wanted = emaid.normalise(self.kwargs["emaid"])
        except emaid.InvalidEmaid as exc:
            raise exceptions.NotFound(f"not an EMAID: {exc}") from None
        contract = self.get_queryset().filter(emaid=wanted).first()
        if contract is None:
            raise exceptions.NotFound("this eMSP has no contract with that EMAID")
        return contract


READ = "Scope `emsp:read`."


@extend_schema_view(get=extend_schema(summary="List contracts, newest first", description=READ,
                                      responses={200: ContractSerializer(many=True), **problems(400, 401, 403, 404)}))
class ContractList(ContractView, generics.ListAPIView):
    filterset_class = ContractFilter


@extend_schema_view(get=extend_schema(summary="A contract by its EMAID (with or without hyphens)", description=READ,
                                      responses={200: ContractSerializer, **problems(401, 403, 404)}))
class ContractDetail(ContractView, generics.RetrieveAPIView):
    pass


class ContractRevoke(ContractView):
    serializer_class = RevokeSerializer

    @extend_schema(summary="Revoke a contract", request=RevokeSerializer,
                   description="Scope `emsp:write`. Revokes the contract, its certificate (the CRL is "
                               "republished and OCSP answers `revoked` at once) and the tokens of its "
                               "authorization. A contract already revoked or expired is 409.",
                   responses={200: ContractSerializer, **problems(400, 401, 403, 404, 409, 415)})
    def post(self, request, tenant, emaid):
        contract = self.get_object()
        body = RevokeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            contract = revocation.revoke_contract(contract, self.actor(), body.validated_data["reason"])
        except contracts.TransitionRefused as exc:
            raise Conflict(str(exc)) from None
        return Response(ContractSerializer(self.get_queryset().get(pk=contract.pk)).data)


class ContentTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = f"the body may be at most {MAX_CSR_BYTES} bytes"
    default_code = "content_too_large"


class Pkcs10Parser(BaseParser):
    """The CSR as the EV made it (`application/pkcs10`, PEM or base64 DER), read only
    up to the bound."""

    media_type = CSR_TYPE

    def parse(self, stream, media_type=None, parser_context=None):
        body = stream.read(MAX_CSR_BYTES + 1) if stream is not None else b""
        if len(body) > MAX_CSR_BYTES:
            raise ContentTooLarge()
        return {"csr": body.decode("ascii", "replace")}


class ServiceUnavailable(exceptions.APIException):
    status_code = 503
    default_detail = "this eMSP cannot issue contract certificates yet"
    default_code = "unavailable"


class ContractCertificates(ContractView):
    serializer_class = RenewalSerializer
    parser_classes = [JSONBodyParser, Pkcs10Parser]

    @extend_schema(
        summary="Renew a contract's certificate (ISO 15118 certificate update)", request={
            "application/json": RenewalSerializer, CSR_TYPE: OpenApiTypes.STR},
        description="Scope `emsp:write`. A new certificate for the same contract and EMAID and the CSR's new key, "
                    "without a new consent. Allowed while the contract stands and its certificate in force was "
                    "issued by a CA that no longer issues (a rollover), or ends within 60 days and before the "
                    "contract does. The old certificate stays valid until the new one is issued, then it is "
                    "revoked with reason `superseded` (CRL republished, OCSP answers `revoked`). The caller "
                    "verifies the EV's request first (in ISO 15118 it is signed with the old contract key). "
                    "400: a CSR that does not verify, a key the profile refuses, or the old key again; "
                    "409: nothing to renew now (the detail says why, and from when).",
        responses={201: RenewedSerializer, **problems(400, 401, 403, 404, 409, 413, 415, 503)})
    def post(self, request, tenant, emaid):
        contract = self.get_object()
        body = RenewalSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            renewed = issuance.renew(self.tenant, contract, profile.load_csr(body.validated_data["csr"].encode()),
                                     self.actor())
        except profile.RefusedCsr as exc:
            raise exceptions.ValidationError({"csr": [str(exc)]}) from None
        except issuance.NotRenewable as exc:
            raise Conflict(str(exc)) from None
        except authorities.NoAuthority:
            raise ServiceUnavailable() from None
        record = self.get_queryset_certificates().get(pk=renewed.record.pk)
        data = RenewedSerializer(record, context={"replaces": renewed.replaces}).data
        where = reverse("api-pnc-certificate", kwargs={"tenant": self.tenant.slug, "serial": record.serial_number})
        return Response(data, status=201, headers={"Location": request.build_absolute_uri(where)})

    def get_queryset_certificates(self):
        return IssuedCertificate.objects.for_tenant(self.tenant).select_related("contract", "issuer__parent")


class CertificateView(EmspView):
    serializer_class = CertificateSerializer

    def get_queryset(self):
        return IssuedCertificate.objects.for_tenant(self.tenant).select_related("contract", "issuer__parent")

    def get_object(self) -> IssuedCertificate:
        serial = self.kwargs["serial"].lower()
        cert = self.get_queryset().filter(serial_number=serial).first()  # 159 random bits: one at most
        if cert is None:
            raise exceptions.NotFound("this eMSP issued no certificate with that serial number (hex)")
        return cert


@extend_schema_view(get=extend_schema(summary="List contract certificates, newest first", description=READ,
                                      responses={200: CertificateSummarySerializer(many=True),
                                                 **problems(400, 401, 403, 404)}))
class CertificateList(CertificateView, generics.ListAPIView):
    serializer_class = CertificateSummarySerializer
    filterset_class = CertificateFilter

    def get_queryset(self):
        return super().get_queryset().select_related("issuer")


@extend_schema_view(get=extend_schema(summary="A contract certificate by serial number (hex), with its chain",
                                      description=READ,
                                      responses={200: CertificateSerializer, **problems(401, 403, 404)}))
class CertificateDetail(CertificateView, generics.RetrieveAPIView):
    pass


class CertificateChain(CertificateView):
    renderer_classes = [ChainRenderer, TimestampJSONRenderer]

    @extend_schema(summary="A contract certificate as a PEM chain: leaf, Sub-CA 2, Sub-CA 1", description=READ,
                   responses={(200, CHAIN_TYPE): OpenApiTypes.STR, **problems(401, 403, 404)})
    def get(self, request, tenant, serial):
        cert = self.get_object()
        return Response("".join([cert.certificate_pem, *authorities.chain_above(cert.issuer)]),
                        content_type=CHAIN_TYPE)


class AuthorityView(EmspView):
    serializer_class = AuthoritySerializer
    pagination_class = None  # three CAs, and one more per rollover

    def get_queryset(self):
        return CertificateAuthority.objects.for_tenant(self.tenant).select_related("tenant", "parent")

    def get_object(self) -> CertificateAuthority:
        ca = self.get_queryset().filter(key_id=self.kwargs["key_id"].lower()).first()
        if ca is None:
            raise exceptions.NotFound("this eMSP has no CA with that key identifier")
        return ca


@extend_schema_view(get=extend_schema(summary="The MO CA certificates: root, Sub-CA 1, Sub-CA 2 (and rolled-over "
                                              "ones)", description=READ,
                                      responses={200: AuthoritySerializer(many=True), **problems(401, 403, 404)}))
class AuthorityList(AuthorityView, generics.ListAPIView):
    pass


@extend_schema_view(get=extend_schema(summary="One MO CA by its key identifier (hex)", description=READ,
                                      responses={200: AuthoritySerializer, **problems(401, 403, 404)}))
class AuthorityDetail(AuthorityView, generics.RetrieveAPIView):
    pass


class AuthorityCrl(AuthorityView):
    renderer_classes = [CrlRenderer, TimestampJSONRenderer]

    @extend_schema(summary="The CA's current CRL (DER), as published at its public URL", description=READ,
                   responses={(200, CRL_TYPE): OpenApiTypes.BINARY, **problems(401, 403, 404)})
    def get(self, request, tenant, key_id):
        ca = self.get_object()
        try:
            der = revocation.current_crl(ca)
        except authorities.NoAuthority:
            raise exceptions.NotFound("this CA's CRL is published by the PKI that holds its key") from None
        return Response(der, content_type=CRL_TYPE, headers={"Cache-Control": "no-store"})
