"""The eMSP's public PnC endpoints: `POST /pnc/<tenant>/csr` (spec §5.3), the CAs'
CRLs, and the OCSP responder.

Errors are RFC 9457 problem+json. A request is refused as early and as cheaply as
possible: its token (401, 403, 409) and headers (415, 413) before its body is read, the
body read only up to the bound before anything parses it (413), then the CSR (400).
"""
import base64
import binascii
import logging
from contextlib import contextmanager

from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from lib.machine_endpoint import machine_endpoint
from lib.prepared import Prepared
from lib.problem import problem
from oauth import tokens
from oauth.authentication import bearer_challenge
from tenants.models import Tenant

from . import authorities, issuance, ocsp, profile, revocation
from .models import CertificateAuthority

log = logging.getLogger(__name__)

MAX_CSR_BYTES = 16 * 1024  # an RSA-4096 CSR in PEM is under 2 KiB
CSR_TYPE = "application/pkcs10"
LEAF_TYPE = "application/x-x509-user-cert"
CHAIN_TYPE = "application/pem-certificate-chain"


class Refusal(Exception):
    def __init__(self, response: HttpResponse):
        self.response = response


# Every CSR, CRL and OCSP request reads its tenant first: compiled once (lib/prepared.py).
_emsp_at = Prepared(lambda slug: Tenant.objects.filter(slug=slug, is_emsp=True)[:1], slug=str)


def _emsp(slug: str) -> Tenant:
    rows = _emsp_at(slug=slug)
    if not rows:
        raise Refusal(problem(404, "Not found", "there is no eMSP at this address"))
    return rows[0]


def _unauthorized(tenant, detail: str, error: str | None = None) -> Refusal:
    return Refusal(problem(401, "Unauthorized", detail,
                           headers={"WWW-Authenticate": bearer_challenge(tenant.slug, error)}))


def _bearer_token(request, tenant) -> tokens.Verified:
    """RFC 6750 §2.1; the scheme is matched case-insensitively (the reference EV sends
    `bearer`). A missing token gets a bare challenge, a bad one `invalid_token`."""
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer":
        raise _unauthorized(tenant, "send the access token as Authorization: Bearer <token>")
    token = token.strip()
    if not token:
        raise _unauthorized(tenant, "the bearer token is empty", "invalid_token")
    try:
        return tokens.verify_access_token(tenant, token)
    except tokens.InvalidToken as exc:
        raise _unauthorized(tenant, f"the access token is not valid here: {exc}", "invalid_token") from None


@contextmanager
def _problems(tenant):
    """The issuance's refusals as problem responses."""
    try:
        yield
    except profile.RefusedCsr as exc:
        raise Refusal(problem(400, "Certificate request refused", str(exc))) from None
    except issuance.NoContract as exc:
        raise Refusal(problem(403, "No contract to certify", str(exc))) from None
    except issuance.AlreadyIssued as exc:
        raise Refusal(problem(409, "Certificate already issued", str(exc))) from None
    except authorities.NoAuthority:
        log.error("pnc %s: a CSR arrived but the tenant has no issuing MO CA (pnc ca init)", tenant.slug)
        raise Refusal(problem(503, "Service unavailable", "this eMSP cannot issue contract certificates yet")) from None


def _check_media_type(request, expected: str) -> None:
    if request.headers.get("Content-Type", "").split(";")[0].strip().lower() != expected:
        detail = (f"send the certificate request as {CSR_TYPE} (PEM, or base64 DER)" if expected == CSR_TYPE
                  else f"send the OCSP request as {expected}")
        raise Refusal(problem(415, "Unsupported media type", detail, headers={"Accept-Post": expected}))


def _read_bounded(request, limit: int) -> bytes:
    """The body, refused with 413 when its declared length is over `limit` (before
    reading anything) or, without a length, as soon as more than `limit` bytes arrive."""
    declared = request.headers.get("Content-Length", "")
    if not (declared.isdigit() and int(declared) > limit):
        body = request.read(limit + 1)
        if len(body) <= limit:
            return body
    raise Refusal(problem(413, "Content too large", f"the body may be at most {limit} bytes"))


def _certificate_response(request, issued: issuance.Issued) -> HttpResponse:
    """The leaf (spec §5.3.4); with `Accept: application/pem-certificate-chain` (RFC
    8555 §9.1) the leaf and its sub-CAs, leaf first."""
    if CHAIN_TYPE in request.headers.get("Accept", "").lower():
        response = HttpResponse("".join([issued.certificate_pem, *issued.chain_pems]), status=201,
                                content_type=CHAIN_TYPE)
    else:
        response = HttpResponse(issued.certificate_pem, status=201, content_type=LEAF_TYPE)
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt
@machine_endpoint(max_body=MAX_CSR_BYTES)  # EVs and OCSP clients: no session, no page (portal/machine_http.py)
def csr(request, tenant):
    """Issue the contract certificate of the access token's approved contract."""
    try:
        t = _emsp(tenant)
        if request.method != "POST":
            return problem(405, "Method not allowed", "POST a certificate request here", headers={"Allow": "POST"})
        verified = _bearer_token(request, t)
        with _problems(t):
            contract = issuance.contract_for_token(t, verified)
        _check_media_type(request, CSR_TYPE)
        body = _read_bounded(request, MAX_CSR_BYTES)
        with _problems(t):
            issued = issuance.issue(t, contract, profile.load_csr(body),
                                    f"client:{verified.record.application.client_id}")
    except Refusal as refusal:
        return refusal.response
    log.info("pnc %s: contract certificate %s issued for %s", t.slug, issued.record.serial_number, contract.emaid)
    return _certificate_response(request, issued)


def _only_get(request) -> None:
    if request.method not in ("GET", "HEAD"):
        raise Refusal(problem(405, "Method not allowed", "GET this address", headers={"Allow": "GET, HEAD"}))


@machine_endpoint(max_body=0)  # a GET: its body is not read
def crl(request, tenant, key_id):
    """The CRL of the tenant's CA with this key identifier, DER (RFC 5280 §4.2.1.13)."""
    try:
        t = _emsp(tenant)
        _only_get(request)
    except Refusal as refusal:
        return refusal.response
    ca = CertificateAuthority.objects.for_tenant(t).filter(key_id=key_id.lower()).first()
    if ca is None:
        return problem(404, "Not found", "this eMSP has no CA with that key identifier")
    try:
        der = revocation.current_crl(ca)
    except authorities.NoAuthority:  # an imported CA whose key stays with its own PKI
        return problem(404, "Not found", "this CA's CRL is published by the PKI that holds its key")
    response = HttpResponse(der, content_type="application/pkix-crl")
    response["Cache-Control"] = "public, max-age=300"  # a revocation shows within minutes
    return response


MAX_OCSP_BYTES = 8 * 1024  # one CertID and a nonce are about 100 bytes
OCSP_REQUEST = "application/ocsp-request"
OCSP_RESPONSE = "application/ocsp-response"


def _ocsp_response(der: bytes, cache: str) -> HttpResponse:
    response = HttpResponse(der, content_type=OCSP_RESPONSE)
    response["Cache-Control"] = cache
    return response


@csrf_exempt
@machine_endpoint(max_body=MAX_OCSP_BYTES)
def ocsp_post(request, tenant):
    """RFC 6960 Appendix A.1, POST: the DER request is the body."""
    try:
        t = _emsp(tenant)
    except Refusal as refusal:
        return refusal.response
    if request.method != "POST":
        return problem(400, "Bad request", "POST an OCSP request here, or GET it base64-encoded under this path")
    try:
        _check_media_type(request, OCSP_REQUEST)
        body = _read_bounded(request, MAX_OCSP_BYTES)
    except Refusal as refusal:
        return refusal.response
    return _ocsp_response(ocsp.answer(t, body), "no-store")


@machine_endpoint(max_body=0)
def ocsp_get(request, tenant, encoded):
    """RFC 6960 Appendix A.1, GET: the base64 DER request (URL-encoded) is the last path
    part; cacheable, as ISO 15118 stations and RFC 5019 clients expect."""
    try:
        t = _emsp(tenant)
        _only_get(request)
    except Refusal as refusal:
        return refusal.response
    if len(encoded) > MAX_OCSP_BYTES * 2:
        return problem(414, "URI too long", "POST a request this large")
    try:
        der = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (ValueError, binascii.Error):
        der = b""
    return _ocsp_response(ocsp.answer(t, der), "public, max-age=300")
