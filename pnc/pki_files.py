"""Reading an existing PKI's files for `pnc ca import` and the portal's import form: PEM
(certificates and private keys, any order, several files) or PKCS#12. Nothing read is
printed or logged, and no message quotes a file's content: only its name.

An encrypted PKCS#8 key, or a PKCS#12 file, names its own key derivation and its cost
(PBKDF2's or PKCS#12's iteration count, scrypt's N, r and p), and decrypting it runs that
derivation holding the GIL: a 2 KiB upload asking for 2^31 PBKDF2 iterations froze the
whole process (every tenant's pages, /healthz, every station's connection) for minutes,
and scrypt parameters OpenSSL refuses were a 500. So the parameters are read first
(`pbe_cost`) and a file whose derivations cost more than any tool's default (by far) is
refused before anything is derived; so is an encryption scheme we cannot bound, and
more private keys than a hierarchy has."""
import base64
import binascii
import re
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InternalError, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from . import pbe_cost, pkcs12_load

# The armour lines of a PEM private key (PKCS#8, encrypted or not, and OpenSSL's "EC" and
# "RSA" ones). Found by one linear pass: a lazy `BEGIN.+?END` pattern rescanned the rest of
# the file from every BEGIN, 0.8 s of regex (holding the GIL) for a 64 KiB upload of
# BEGIN lines, minutes for a 1 MiB file.
_KEY_ARMOUR = re.compile(rb"-----(BEGIN|END) ([A-Z ]{0,32})PRIVATE KEY-----")
_PEM_BODY = re.compile(rb"-----BEGIN [A-Z ]+-----(.*?)-----END [A-Z ]+-----", re.S)
MAX_FILE_BYTES = 1024 * 1024
# A CA export is a few KiB; its ASN.1 is decoded in Python (`pbe_cost`), about 10 s for
# a crafted megabyte of empty parts.
MAX_PKCS12_BYTES = 64 * 1024
# A hierarchy has three CAs, so at most three keys; each is decrypted before it is matched.
MAX_PRIVATE_KEYS = 3
class Unreadable(ValueError):
    pass


def _bytes(name: str, limit: int = MAX_FILE_BYTES) -> bytes:
    path = Path(name)
    try:
        if path.stat().st_size > limit:
            raise Unreadable(f"{name}: larger than {limit} bytes, not a PKI file")
        return path.read_bytes()
    except OSError as exc:
        raise Unreadable(f"{name}: {exc.strerror}") from None


def pem(name: str, data: bytes, password: bytes | None) -> tuple[list[x509.Certificate], list]:
    """The certificates and private keys in one PEM file's bytes (`name` for messages)."""
    if len(data) > MAX_FILE_BYTES:
        raise Unreadable(f"{name}: larger than {MAX_FILE_BYTES} bytes, not a PKI file")
    try:
        certificates = x509.load_pem_x509_certificates(data) if b"-----BEGIN CERTIFICATE-----" in data else []
        _ = [c.extensions for c in certificates]  # parsed lazily: a malformed one would raise in the checks
    except (ValueError, InternalError):
        raise Unreadable(f"{name}: a certificate in it does not parse (damaged or not PEM)") from None
    keys = []
    for block in key_blocks(data):
        _check_encryption(name, block)
        try:
            keys.append(serialization.load_pem_private_key(block, password=password))
        except (ValueError, TypeError, UnsupportedAlgorithm, InternalError):
            raise Unreadable(f"{name}: a private key does not load (wrong or missing password?)") from None
    if not certificates and not keys:
        raise Unreadable(f"{name}: no PEM certificate or private key in it")
    return certificates, keys


def read(pem_files: list[str] | None, pkcs12_file: str | None,
         password: bytes | None) -> tuple[list[x509.Certificate], list]:
    """(certificates, private keys) from the files given."""
    if pkcs12_file:
        data = _bytes(pkcs12_file, MAX_PKCS12_BYTES)
        _check_cost(pkcs12_file, "the PKCS#12 file", pbe_cost.pkcs12, data)
        try:
            key, certificates = pkcs12_load.load(data, password)
        except pkcs12_load.NotLoaded:
            raise Unreadable(f"{pkcs12_file}: not a PKCS#12 file, or the password is wrong") from None
        except pkcs12_load.TooCostly:
            raise Unreadable(f"{pkcs12_file}: decrypting it took more than {pkcs12_load.CPU_SECONDS} s of CPU "
                             "(a key protected by more work than its file shows): re-encrypt it with your "
                             "tool's defaults") from None
        return certificates, [key] if key is not None else []
    return pems([(name, _bytes(name)) for name in pem_files or []], password)


def key_blocks(data: bytes) -> list[bytes]:
    """Each PEM private key in `data`, armour included, as `BEGIN (label)PRIVATE KEY.+?END
    (same label)PRIVATE KEY` would find them left to right: from a BEGIN line to the first
    END line of its label after it with something between (a BEGIN without one is passed
    over), the next search starting after that END. Linear: one pass backwards tells each
    line the next END of its label."""
    lines = list(_KEY_ARMOUR.finditer(data))
    following: list[int | None] = [None] * len(lines)  # the next END of the line's label
    nearest: dict[bytes, int] = {}
    for at in range(len(lines) - 1, -1, -1):
        following[at] = nearest.get(lines[at].group(2))
        if lines[at].group(1) == b"END":
            nearest[lines[at].group(2)] = at
    blocks, done_until = [], 0
    for at, line in enumerate(lines):
        if line.group(1) != b"BEGIN" or line.start() < done_until:
            continue
        end = following[at]
        if end is not None and lines[end].start() == line.end():  # nothing between: the next one
            end = following[end]
        if end is not None:
            blocks.append(data[line.start():lines[end].end()])
            done_until = lines[end].end()
    return blocks


def pems(files: list[tuple[str, bytes]], password: bytes | None) -> tuple[list[x509.Certificate], list]:
    """(certificates, private keys) from several PEM files' (name, bytes)."""
    blocks = sum(len(key_blocks(data)) for _, data in files if len(data) <= MAX_FILE_BYTES)
    if blocks > MAX_PRIVATE_KEYS:
        raise Unreadable(f"{blocks} private keys given: a hierarchy has at most {MAX_PRIVATE_KEYS}")
    certificates, keys = [], []
    for name, data in files:
        more_certificates, more_keys = pem(name, data, password)
        certificates += more_certificates
        keys += more_keys
    return certificates, keys


# --- what decrypting a key would cost -----------------------------------------------------

def _check_encryption(name: str, block: bytes) -> None:
    """Refuse an encrypted PKCS#8 key whose key derivation would cost more than
    `pbe_cost`'s bounds, or that we cannot bound; other keys (not encrypted, or OpenSSL's
    traditional encryption: one MD5 run) pass."""
    if not block.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----"):
        return
    try:
        der = base64.b64decode(b"".join(_PEM_BODY.match(block).group(1).split()), validate=True)
    except (AttributeError, binascii.Error):
        raise Unreadable(f"{name}: a private key does not load (damaged?)") from None
    _check_cost(name, "a private key", pbe_cost.encrypted_key, der)


def _check_cost(name: str, what: str, read_cost, der: bytes) -> None:
    try:
        work = read_cost(der)
    except ValueError:
        raise Unreadable(f"{name}: {what} does not load (damaged?)") from None
    if work is None:
        raise Unreadable(f"{name}: {what} is encrypted with a scheme this import does not read "
                         "(use PBES2: PBKDF2 or scrypt)")
    if not work.bounded:
        raise Unreadable(f"{name}: {what}'s password protection asks for more work than this import "
                         f"does (at most {pbe_cost.MAX_PBKDF2_ITERATIONS:,} PBKDF2 iterations; scrypt within "
                         f"{pbe_cost.MAX_SCRYPT_MEMORY // (1024 * 1024)} MiB): re-encrypt it with your tool's "
                         "defaults")
