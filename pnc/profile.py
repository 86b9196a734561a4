"""The MO PKI's certificate profiles (ISO 15118-2 Annex F), built with `cryptography`:
the CA hierarchy Root → Sub-CA 1 (pathlen 1) → Sub-CA 2 (pathlen 0), contract
certificates, and the checks a CSR must pass first.

Pure logic: no database, no I/O, no Django. Callers pass the names, URLs and times.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from lib import label_rule

MAX_CONTRACT_VALIDITY = timedelta(days=730)  # ISO 15118-2: a contract certificate lives at most 2 years
CA_VALIDITY = {"root": timedelta(days=40 * 365), "sub-ca-1": timedelta(days=4 * 365),
               "sub-ca-2": timedelta(days=2 * 365)}
CA_LABEL = {"root": "MO Root CA", "sub-ca-1": "MO Sub-CA 1", "sub-ca-2": "MO Sub-CA 2"}
PATH_LENGTH = {"root": 2, "sub-ca-1": 1, "sub-ca-2": 0}
MIN_RSA_BITS = 2048
SIGNATURE_HASH = hashes.SHA256()  # our CAs are P-256: ECDSA with SHA-256 (ISO 15118-2)

# RFC 5280 Appendix A: ub-common-name and ub-organization-name are 64 characters;
# `cryptography` refuses a value over 64 UTF-8 bytes, the stricter reading, which we keep.
NAME_LIMIT = 64
_JOINERS = {"\u200d", "\u034f"}  # zero-width joiner, combining grapheme joiner

# Key profiles (Tenant.PncKeyProfile): which contract-certificate keys a CSR may carry.
PROFILES = ("iso15118-2", "iso15118-20", "compatible")


class RefusedCsr(ValueError):
    """The CSR is malformed, its signature does not verify, or its key is not one the
    profile takes. The message is safe to return to the client."""


def _utf8_length(text: str) -> int:
    return len(text.encode())


def _joins_previous(character: str) -> bool:
    """Whether `character` belongs to the one before it (an accent, a variation
    selector, an emoji's skin tone, a joiner): a name is never cut between them."""
    return (unicodedata.category(character).startswith("M") or character in _JOINERS
            or "\U0001f3fb" <= character <= "\U0001f3ff")


def fitted(text: str, limit: int = NAME_LIMIT) -> str:
    """`text` itself if its UTF-8 form fits in `limit` bytes; otherwise its longest start
    that leaves room for "… " and six hex digits of the SHA-256 of the whole text. The
    start ends on a whole character (never between a letter and its accent, nor after a
    joiner); the digest keeps two long names that begin alike apart. The same text
    always gives the same result, so a tenant's CAs keep recognisable, stable names."""
    if _utf8_length(text) <= limit:
        return text
    suffix = "… " + hashlib.sha256(text.encode()).hexdigest()[:6]
    room, end = limit - _utf8_length(suffix), 0
    while end < len(text) and _utf8_length(text[end]) <= room:
        room -= _utf8_length(text[end])
        end += 1
    while 0 < end < len(text) and (_joins_previous(text[end]) or text[end - 1] in _JOINERS):
        end -= 1
    return text[:end].rstrip(" ,;:-/&(") + suffix


@dataclass(frozen=True)
class Names:
    """What goes into the subjects: the eMSP's name and country (may be empty)."""

    organisation: str
    country: str = ""

    def subject(self, common_name: str) -> x509.Name:
        attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
        if self.organisation:
            attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, fitted(self.organisation)))
        if self.country:
            attributes.append(x509.NameAttribute(NameOID.COUNTRY_NAME, self.country))
        attributes.append(x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "MO"))
        return x509.Name(attributes)


def new_ca_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _revocation_pointers(crl_url: str, ocsp_url: str) -> list[tuple[x509.ExtensionType, bool]]:
    return [
        (x509.CRLDistributionPoints([x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(crl_url)], relative_name=None, reasons=None,
            crl_issuer=None)]), False),
        (x509.AuthorityInformationAccess([x509.AccessDescription(
            x509.oid.AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url))]), False),
    ]


def _builder(subject: x509.Name, issuer: x509.Name, public_key, not_before: datetime,
             not_after: datetime) -> x509.CertificateBuilder:
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False))


def ca_certificate(level: str, key: ec.EllipticCurvePrivateKey, names: Names, now: datetime, *,
                   issuer: x509.Certificate | None = None, issuer_key=None,
                   crl_url: str = "", ocsp_url: str = "", generation: int = 1) -> x509.Certificate:
    """A CA certificate of `level` (root, sub-ca-1, sub-ca-2). The root signs itself; a
    sub-CA is signed by `issuer_key`, within its issuer's validity, and points at the
    issuer's CRL and OCSP responder. A later `generation` (a rollover) gets its own
    name (`… MO Sub-CA 2 G2`), so CRLs and chains never confuse two CAs by name. A long
    organisation name is `fitted` so that the label always ends the CommonName."""
    label = CA_LABEL[level] + (f" G{generation}" if generation > 1 else "")
    subject = names.subject(f"{fitted(names.organisation, NAME_LIMIT - len(label) - 1)} {label}".strip())
    not_after = now + CA_VALIDITY[level]
    if issuer is not None:
        not_after = min(not_after, issuer.not_valid_after_utc)
    builder = (_builder(subject, issuer.subject if issuer else subject, key.public_key(), now, not_after)
               .add_extension(x509.BasicConstraints(ca=True, path_length=PATH_LENGTH[level]), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                            key_encipherment=False, data_encipherment=False, key_agreement=False,
                                            key_cert_sign=True, crl_sign=True, encipher_only=False,
                                            decipher_only=False), critical=True))
    if issuer is not None:
        builder = builder.add_extension(_authority_key_id(issuer), critical=False)
        for extension, critical in _revocation_pointers(crl_url, ocsp_url):
            builder = builder.add_extension(extension, critical=critical)
    return builder.sign(issuer_key if issuer is not None else key, SIGNATURE_HASH)


def _authority_key_id(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def contract_validity(now: datetime, contract_start: datetime, contract_end: datetime,
                      issuer: x509.Certificate) -> tuple[datetime, datetime]:
    """(not before, not after): from now (or the contract's start, if later) until the
    contract's end, at most two years, and never beyond the issuing CA. A contract that
    starts after the CA expires cannot be certified yet: ValueError."""
    not_before = max(now, contract_start).replace(microsecond=0)
    not_after = min(contract_end, not_before + MAX_CONTRACT_VALIDITY, issuer.not_valid_after_utc)
    if not_after <= not_before:
        raise ValueError(f"the contract starts on {not_before:%Y-%m-%d}, after the issuing CA's validity ends; "
                         f"request its certificate closer to the start")
    return not_before, not_after


def contract_certificate(public_key, emaid: str, names: Names, issuer: x509.Certificate, issuer_key, *,
                         not_before: datetime, not_after: datetime, crl_url: str,
                         ocsp_url: str) -> x509.Certificate:
    """The contract certificate: X.509 v3, subject CN = EMAID and DC = MO (the eMSP's
    choice, whatever the CSR asked for), not a CA, keyUsage digitalSignature,
    nonRepudiation, keyEncipherment and keyAgreement (the issue's profile, for every key
    type; see docs/pnc.md), SKI/AKI, the issuing CA's CRL and OCSP responder."""
    builder = (_builder(names.subject(emaid), issuer.subject, public_key, not_before, not_after)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True,
                                            key_encipherment=True, data_encipherment=False, key_agreement=True,
                                            key_cert_sign=False, crl_sign=False, encipher_only=False,
                                            decipher_only=False), critical=True)
               .add_extension(_authority_key_id(issuer), critical=False))
    for extension, critical in _revocation_pointers(crl_url, ocsp_url):
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(issuer_key, SIGNATURE_HASH)


# ---------------------------------------------------------------------------------------
# CSRs

def load_csr(body: bytes) -> x509.CertificateSigningRequest:
    """A PKCS#10 request as PEM, or as base64 DER (EST, RFC 7030 §4.2.1), with a valid
    signature."""
    text = body.strip()
    # cryptography reads the first PEM block and ignores whatever follows it.
    if text.startswith(b"-----BEGIN") and (text.count(b"-----BEGIN") != 1 or not text.endswith(b"-----")):
        raise RefusedCsr("send one certificate request: one PEM block, with nothing after it")
    try:
        if text.startswith(b"-----BEGIN"):
            csr = x509.load_pem_x509_csr(text)
        else:
            csr = x509.load_der_x509_csr(base64.b64decode(b"".join(text.split()), validate=True))
    except (ValueError, binascii.Error, UnsupportedAlgorithm):
        raise RefusedCsr("the body is not a PKCS#10 certificate request (PEM, or base64 DER)") from None
    try:
        valid = csr.is_signature_valid
    except (ValueError, UnsupportedAlgorithm):
        valid = False
    if not valid:
        raise RefusedCsr("the certificate request's signature does not verify")
    return csr


def describe_key(public_key) -> str:
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return f"EC {public_key.curve.name}"
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"RSA {public_key.key_size}"
    if isinstance(public_key, ed448.Ed448PublicKey):
        return "Ed448"
    return type(public_key).__name__.removesuffix("PublicKey").lstrip("_")


_ACCEPTS = {
    "iso15118-2": "EC P-256 (secp256r1)",
    "iso15118-20": "EC P-521 (secp521r1) or Ed448",
    "compatible": f"EC P-256 (secp256r1) or RSA of at least {MIN_RSA_BITS} bits",
}


def check_key(public_key, profile: str) -> None:
    """The CSR's key is one the tenant's key profile takes."""
    is_ec = isinstance(public_key, ec.EllipticCurvePublicKey)
    curve = public_key.curve.name if is_ec else ""
    if profile == "iso15118-2":
        ok = curve == "secp256r1"
    elif profile == "iso15118-20":
        ok = curve == "secp521r1" or isinstance(public_key, ed448.Ed448PublicKey)
    elif profile == "compatible":
        ok = curve == "secp256r1" or (isinstance(public_key, rsa.RSAPublicKey)
                                      and public_key.key_size >= MIN_RSA_BITS)
    else:
        raise ValueError(f"unknown key profile {profile!r}")
    if not ok:
        raise RefusedCsr(f"the CSR's {describe_key(public_key)} key is not accepted: this eMSP's key profile "
                         f"({profile}) takes {_ACCEPTS[profile]}")


def pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def key_id(certificate: x509.Certificate) -> str:
    return certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest.hex()


# ---------------------------------------------------------------------------------------
# CRLs

# RFC 5280 §5.3.1 reasons an eMSP gives; "unspecified" is written as no reason code.
REASONS = ("unspecified", "keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation",
           "privilegeWithdrawn")


@dataclass(frozen=True)
class Revoked:
    serial_number: int
    revoked_at: datetime
    reason: str = "unspecified"


def crl(issuer: x509.Certificate, issuer_key, revoked: list[Revoked], *, number: int, this_update: datetime,
        next_update: datetime) -> x509.CertificateRevocationList:
    """The CA's CRL (RFC 5280 §5): v2, with its number and the CA's key identifier, one
    entry per revoked certificate with its reason."""
    builder = (x509.CertificateRevocationListBuilder().issuer_name(issuer.subject)
               .last_update(this_update).next_update(next_update)
               .add_extension(x509.CRLNumber(number), critical=False)
               .add_extension(_authority_key_id(issuer), critical=False))
    for entry in revoked:
        item = x509.RevokedCertificateBuilder().serial_number(entry.serial_number).revocation_date(entry.revoked_at)
        if entry.reason != "unspecified":
            item = item.add_extension(x509.CRLReason(x509.ReasonFlags(entry.reason)), critical=False)
        builder = builder.add_revoked_certificate(item.build())
    return builder.sign(issuer_key, SIGNATURE_HASH)


# ---------------------------------------------------------------------------------------
# OCSP (RFC 6960)

def _key_bits(public_key) -> bytes:
    """The subjectPublicKey BIT STRING's contents, which a CertID's key hash covers."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    if isinstance(public_key, rsa.RSAPublicKey):
        return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def cert_id_hashes(issuer: x509.Certificate, algorithm: hashes.HashAlgorithm) -> tuple[bytes, bytes]:
    """(issuerNameHash, issuerKeyHash) of an OCSP CertID for certificates `issuer` signed."""
    def digest(data: bytes) -> bytes:
        h = hashes.Hash(algorithm)
        h.update(data)
        return h.finalize()
    return digest(issuer.subject.public_bytes()), digest(_key_bits(issuer.public_key()))


@dataclass(frozen=True)
class CertStatus:
    """What the responder knows of a serial number: good, revoked (when, why), or unknown."""

    known: bool
    revoked_at: datetime | None = None
    reason: str = "unspecified"


def ocsp_response(request: ocsp.OCSPRequest, issuer: x509.Certificate, issuer_key, status: CertStatus, *,
                  now: datetime, validity: timedelta) -> ocsp.OCSPResponse:
    """A successful response signed by the issuing CA itself (RFC 6960 §4.2.2.2), for the
    one certificate asked about, echoing the request's nonce."""
    if not status.known:
        cert_status = ocsp.OCSPCertStatus.UNKNOWN
    elif status.revoked_at is not None:
        cert_status = ocsp.OCSPCertStatus.REVOKED
    else:
        cert_status = ocsp.OCSPCertStatus.GOOD
    revoked = cert_status == ocsp.OCSPCertStatus.REVOKED
    builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
        issuer_name_hash=request.issuer_name_hash, issuer_key_hash=request.issuer_key_hash,
        serial_number=request.serial_number, algorithm=request.hash_algorithm, cert_status=cert_status,
        this_update=now, next_update=now + validity, revocation_time=status.revoked_at if revoked else None,
        revocation_reason=(x509.ReasonFlags(status.reason) if revoked and status.reason != "unspecified" else None),
    ).responder_id(ocsp.OCSPResponderEncoding.HASH, issuer)
    for extension in request.extensions:
        if isinstance(extension.value, x509.OCSPNonce):
            builder = builder.add_extension(extension.value, critical=False)
    return builder.sign(issuer_key, SIGNATURE_HASH)


# ---------------------------------------------------------------------------------------
# Importing an existing MO PKI

class RefusedHierarchy(ValueError):
    """The certificates and keys given do not form an MO PKI we can issue from."""


@dataclass(frozen=True)
class Member:
    level: str
    certificate: x509.Certificate
    private_key: object | None


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        return certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    if child.issuer != parent.subject:
        return False
    try:
        child.verify_directly_issued_by(parent)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def _same_key(private_key, certificate: x509.Certificate) -> bool:
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    mine = private_key.public_key().public_bytes(serialization.Encoding.DER, pub)
    return mine == certificate.public_key().public_bytes(serialization.Encoding.DER, pub)


def arrange_hierarchy(certificates: list[x509.Certificate], keys: list, now: datetime) -> list[Member]:
    """Root → Sub-CA 1 → Sub-CA 2 from certificates in any order, each with its private
    key if one was given. Sub-CA 2's key is required (it issues) and must be EC P-256
    (ISO 15118-2); every certificate must be a CA with keyUsage keyCertSign, valid now,
    and signed by the one above; Sub-CA 2 must have pathlen 0."""
    cas = list({c.fingerprint(hashes.SHA256()): c for c in certificates if _is_ca(c)}.values())
    if len(cas) != len(certificates) or len(cas) != 3:
        raise RefusedHierarchy("give exactly three CA certificates: the root, Sub-CA 1 and Sub-CA 2")
    roots = [c for c in cas if _issued_by(c, c)]
    if len(roots) != 1:
        raise RefusedHierarchy("exactly one certificate must be a self-signed root")
    chain = roots
    while len(chain) < 3:
        below = [c for c in cas if c not in chain and _issued_by(c, chain[-1])]
        if len(below) != 1:
            raise RefusedHierarchy(f"no single CA certificate is signed by {chain[-1].subject.rfc4514_string()}")
        chain.append(below[0])
    for level, certificate in zip(("root", "sub-ca-1", "sub-ca-2"), chain, strict=True):
        # Its subject is shown on the CA page, in the audit log and its CSV: a bidi override
        # or a newline in it would make them show a name other than the one signed.
        for attribute in certificate.subject:
            found = label_rule.problem(attribute.value if isinstance(attribute.value, str) else "")
            if found:
                raise RefusedHierarchy(f"the {CA_LABEL[level].removeprefix('MO ')}'s subject: {found}")
        if not certificate.not_valid_before_utc <= now < certificate.not_valid_after_utc:
            raise RefusedHierarchy(f"{certificate.subject.rfc4514_string()} is not valid now")
        try:
            signs_certificates = certificate.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
        except x509.ExtensionNotFound:
            signs_certificates = False
        if not signs_certificates:  # RFC 5280 §4.2.1.3: a CA certificate has keyUsage keyCertSign
            raise RefusedHierarchy(f"{certificate.subject.rfc4514_string()} has no keyUsage keyCertSign")
    if chain[2].extensions.get_extension_for_class(x509.BasicConstraints).value.path_length != 0:
        raise RefusedHierarchy("Sub-CA 2 must have pathlen 0: it issues contract certificates only")
    members = []
    for level, certificate in zip(("root", "sub-ca-1", "sub-ca-2"), chain, strict=True):
        matching = [k for k in keys if _same_key(k, certificate)]
        members.append(Member(level, certificate, matching[0] if matching else None))
    if len([m for m in members if m.private_key is not None]) != len(keys):
        raise RefusedHierarchy("a private key given belongs to none of the certificates")
    sub2 = members[2]
    if sub2.private_key is None:
        raise RefusedHierarchy("Sub-CA 2's private key is needed: it signs the contract certificates")
    key = sub2.private_key
    if not (isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"):
        raise RefusedHierarchy("Sub-CA 2's key must be EC P-256 (ISO 15118-2: ECDSA with SHA-256)")
    return members
