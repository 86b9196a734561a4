"""The tenant's OCSP responder (RFC 6960): good, revoked or unknown for certificates its
CAs issued, signed by the issuing CA. Requests about another issuer are answered
`unauthorized`; malformed ones `malformedRequest` (RFC 6960 §2.3)."""
from datetime import timedelta

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp
from django.utils import timezone

from . import authorities, profile
from .models import CertificateAuthority, IssuedCertificate

RESPONSE_VALIDITY = timedelta(hours=12)
# RFC 9654 §2.1: a nonce is 1 to 128 octets; a request with another is malformedRequest
# (we echo it, so an unbounded one would also be echoed unbounded).
MAX_NONCE_OCTETS = 128


def _unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(serialization.Encoding.DER)


def _issuer(tenant, request: ocsp.OCSPRequest) -> CertificateAuthority | None:
    wanted = (request.issuer_name_hash, request.issuer_key_hash)
    for ca in authorities.hierarchy(tenant):
        certificate = x509.load_pem_x509_certificate(ca.certificate_pem.encode())
        if profile.cert_id_hashes(certificate, request.hash_algorithm) == wanted:
            return ca
    return None


def _status(ca: CertificateAuthority, serial_number: int) -> profile.CertStatus:
    serial = format(serial_number, "x")
    issued = IssuedCertificate.objects.filter(issuer=ca, serial_number=serial).first()
    if issued is not None:
        return profile.CertStatus(True, issued.revoked_at, issued.revocation_reason or "unspecified")
    if ca.children.filter(serial_number=serial).exists():  # a sub-CA it signed (none is revoked yet)
        return profile.CertStatus(True)
    return profile.CertStatus(False)


def _nonce_fits(request: ocsp.OCSPRequest) -> bool:
    for extension in request.extensions:
        if isinstance(extension.value, x509.OCSPNonce):
            return 1 <= len(extension.value.nonce) <= MAX_NONCE_OCTETS
    return True


def answer(tenant, der: bytes) -> bytes:
    """The DER OCSPResponse to a DER OCSPRequest."""
    try:
        request = ocsp.load_der_ocsp_request(der)
        request.hash_algorithm  # noqa: B018  (raises for an algorithm we do not know)
        fits = _nonce_fits(request)  # also raises for an extension that does not parse
    except (ValueError, UnsupportedAlgorithm, NotImplementedError):
        # NotImplementedError: a requestList of more than one Request, which cryptography
        # does not read. RFC 5019 §2.1.1 clients send one; one per request is our answer.
        return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
    if not fits:
        return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
    ca = _issuer(tenant, request)
    if ca is None:
        return _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
    try:
        opened = authorities.open_authority(ca)
    except authorities.NoAuthority:
        return _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
    response = profile.ocsp_response(request, opened.certificate, opened.private_key,
                                     _status(ca, request.serial_number),
                                     now=timezone.now().replace(microsecond=0), validity=RESPONSE_VALIDITY)
    return response.public_bytes(serialization.Encoding.DER)
