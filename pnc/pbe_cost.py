"""How much work a password-protected file asks for before its password is known to be
right or wrong, read from its ASN.1 before anything is derived.

Why: a PKCS#8 encrypted key or a PKCS#12 file names its own key-derivation cost
(PBKDF2 or PKCS#12 iterations, scrypt's N, r, p), and `cryptography` pays whatever it
names while holding the GIL: 20 million PBKDF2 iterations froze every tenant's pages
for seconds (review adv13), and a PKCS#12 MAC with as many iterations did the same to
`pnc ca import --pkcs12`. The file's total is bounded here, in PBKDF2 iterations
(PKCS#12's own derivation costs about the same per iteration) and in scrypt's memory
and work, and a file whose cost cannot be read (an unknown scheme) is refused.

Pure: bytes in, a `Work` (or None: a scheme we cannot bound) out. The DER is decoded
with pyasn1 and the RFCs' modules (PKCS#5 v2.1 RFC 8018, scrypt RFC 7914, PKCS#8
RFC 5208, PKCS#12 RFC 7292, CMS RFC 5652); malformed DER raises ValueError.

What a PKCS#12 file hides inside its encrypted parts (a key bag in an encrypted
SafeContents) is found only by decrypting them, so this bound covers what is visible:
the MAC (RFC 7292's or PBMAC1's), each encrypted part's own derivation, and the key bags
in plain parts; `pki_files` decrypts the file in a child process with a CPU limit for
the rest.
"""
from dataclasses import dataclass

from pyasn1.codec.der import decoder
from pyasn1.error import PyAsn1Error
from pyasn1.type import univ
from pyasn1_modules import rfc5208, rfc5652, rfc7292, rfc7914, rfc8018

# OpenSSL writes 2,048 PBKDF2 iterations by default, OWASP asks 600,000 for SHA-256; one
# million take ~0.2 s here. scrypt: OpenSSL's default is N=16384, r=8, p=1 (16 MiB).
MAX_PBKDF2_ITERATIONS = 1_000_000
MAX_SCRYPT_MEMORY = 64 * 1024 * 1024  # 128 * N * r bytes
MAX_SCRYPT_WORK = 1 << 20  # N * r * p

# PKCS#5 v1.5 (PBES1) schemes, whose parameters are (salt, iterations).
_PBES1 = {f"1.2.840.113549.1.5.{n}" for n in (1, 3, 4, 6, 10, 11)}
# PKCS#12's own password-based schemes (RFC 7292 appendix C): (salt, iterations) too.
_PKCS12_PBE = {f"1.2.840.113549.1.12.1.{n}" for n in range(1, 7)}
_MAX_NESTING = 4  # SafeContents bags inside SafeContents bags
# A CA export holds a few certificates and a key: far fewer parts and bags than this.
MAX_PARTS = 16
MAX_BAGS = 64
# The MAC digests of RFC 7292 (the key derived with the PKCS#12 KDF, `iterations` times):
# SHA-1 and the SHA-2 family. PBMAC1 (RFC 9579) names a PBKDF2 of its own.
_MAC_DIGESTS = {"1.3.14.3.2.26", *(f"2.16.840.1.101.3.4.2.{n}" for n in range(1, 7))}


@dataclass(frozen=True)
class Work:
    iterations: int = 0  # PBKDF2 or PKCS#12 KDF iterations, all derivations together
    scrypt_work: int = 0  # N * r * p, all scrypt derivations together
    scrypt_memory: int = 0  # the largest one's 128 * N * r bytes

    def __add__(self, other: "Work") -> "Work":
        return Work(self.iterations + other.iterations, self.scrypt_work + other.scrypt_work,
                    max(self.scrypt_memory, other.scrypt_memory))

    @property
    def bounded(self) -> bool:
        return (self.iterations <= MAX_PBKDF2_ITERATIONS and self.scrypt_work <= MAX_SCRYPT_WORK
                and self.scrypt_memory <= MAX_SCRYPT_MEMORY)


def encrypted_key(der: bytes) -> Work | None:
    """The derivation an EncryptedPrivateKeyInfo (PKCS#8) asks for; None: unknown scheme."""
    info = _decode(der, rfc5208.EncryptedPrivateKeyInfo())
    return _scheme(info["encryptionAlgorithm"])


def pkcs12(der: bytes) -> Work | None:
    """What a PFX's MAC, encrypted parts and visible key bags ask for, together; None:
    a part protected by a scheme we cannot bound (or a public-key protected file)."""
    pfx = _decode(der, rfc7292.PFX())
    total = Work()
    if pfx["macData"].isValue:
        mac = _mac(pfx["macData"])
        if mac is None:
            return None
        total += mac
    auth_safe = pfx["authSafe"]
    if auth_safe["contentType"] != rfc5652.id_data:
        return None  # signed (public-key integrity mode): not what a CA export is
    parts = _decode(bytes(_decode(bytes(auth_safe["content"]), univ.OctetString())), rfc7292.AuthenticatedSafe())
    if len(parts) > MAX_PARTS:
        raise ValueError(f"more than {MAX_PARTS} parts")
    for part in parts:
        kind = part["contentType"]
        if kind == rfc5652.id_data:
            found = _bags(_decode(bytes(_decode(bytes(part["content"]), univ.OctetString())), rfc7292.SafeContents()))
        elif kind == rfc5652.id_encryptedData:
            encrypted = _decode(bytes(part["content"]), rfc5652.EncryptedData())
            found = _scheme(encrypted["encryptedContentInfo"]["contentEncryptionAlgorithm"])
        else:  # enveloped data: encrypted to a public key
            return None
        if found is None:
            return None
        total += found
    return total


def _bags(bags, depth: int = 0) -> Work | None:
    if len(bags) > MAX_BAGS:
        raise ValueError(f"more than {MAX_BAGS} bags")
    total = Work()
    for bag in bags:
        if bag["bagId"] == rfc7292.id_pkcs8ShroudedKeyBag:
            found = encrypted_key(bytes(bag["bagValue"]))
        elif bag["bagId"] == rfc7292.id_safeContentsBag:
            if depth >= _MAX_NESTING:
                raise ValueError("SafeContents nested too deeply")
            found = _bags(_decode(bytes(bag["bagValue"]), rfc7292.SafeContents()), depth + 1)
        else:  # certificates, CRLs, plain keys, secrets: nothing to derive
            continue
        if found is None:
            return None
        total += found
    return total


def _mac(mac_data) -> Work | None:
    algorithm = mac_data["mac"]["digestAlgorithm"]
    oid = str(algorithm["algorithm"])
    if oid in _MAC_DIGESTS:  # RFC 7292: the PKCS#12 KDF, `iterations` times (default 1)
        return Work(iterations=_count(mac_data["iterations"]))
    if oid == str(rfc8018.id_PBMAC1):  # RFC 9579: its own PBKDF2, whatever `iterations` says
        kdf = _decode(bytes(algorithm["parameters"]), rfc8018.PBMAC1_params())["keyDerivationFunc"]
        if kdf["algorithm"] != rfc8018.id_PBKDF2:
            return None
        return Work(iterations=_count(_decode(bytes(kdf["parameters"]), rfc8018.PBKDF2_params())["iterationCount"]))
    return None


def _scheme(algorithm) -> Work | None:
    oid, parameters = str(algorithm["algorithm"]), algorithm["parameters"]
    if oid == str(rfc8018.id_PBES2):
        kdf = _decode(bytes(parameters), rfc8018.PBES2_params())["keyDerivationFunc"]
        kdf_oid, kdf_parameters = kdf["algorithm"], bytes(kdf["parameters"])
        if kdf_oid == rfc8018.id_PBKDF2:
            return Work(iterations=_count(_decode(kdf_parameters, rfc8018.PBKDF2_params())["iterationCount"]))
        if kdf_oid == rfc7914.id_scrypt:
            found = _decode(kdf_parameters, rfc7914.Scrypt_params())
            n, r, p = (_count(found[name]) for name in ("costParameter", "blockSize", "parallelizationParameter"))
            return Work(scrypt_work=n * r * p, scrypt_memory=128 * n * r)
        return None
    if oid in _PBES1:
        return Work(iterations=_count(_decode(bytes(parameters), rfc8018.PBEParameter())["iterationCount"]))
    if oid in _PKCS12_PBE:
        return Work(iterations=_count(_decode(bytes(parameters), rfc7292.Pkcs_12PbeParams())["iterations"]))
    return None


def _count(value) -> int:
    """A cost parameter: a negative one would lower the file's total (and no tool writes one)."""
    if int(value) < 1:
        raise ValueError("a cost parameter below 1")
    return int(value)


def _decode(der: bytes, spec):
    try:
        value, rest = decoder.decode(der, asn1Spec=spec)
    except PyAsn1Error as exc:
        raise ValueError(f"not DER of a {type(spec).__name__}") from exc
    if rest:
        raise ValueError(f"data after a {type(spec).__name__}")
    return value
