"""Reading an existing PKI's files for `pnc ca import` and the portal's import form: PEM
(certificates and private keys, any order, several files) or PKCS#12. Nothing read is
printed or logged, and no message quotes a file's content: only its name."""
import re
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

_KEY_BLOCK = re.compile(rb"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.+?-----END \1PRIVATE KEY-----", re.S)
MAX_FILE_BYTES = 1024 * 1024


class Unreadable(ValueError):
    pass


def _bytes(name: str) -> bytes:
    path = Path(name)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise Unreadable(f"{name}: larger than {MAX_FILE_BYTES} bytes, not a PKI file")
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
    except ValueError:
        raise Unreadable(f"{name}: a certificate in it does not parse (damaged or not PEM)") from None
    keys = []
    for block in _KEY_BLOCK.finditer(data):
        try:
            keys.append(serialization.load_pem_private_key(block.group(0), password=password))
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise Unreadable(f"{name}: a private key does not load (wrong or missing password?)") from None
    if not certificates and not keys:
        raise Unreadable(f"{name}: no PEM certificate or private key in it")
    return certificates, keys


def read(pem_files: list[str] | None, pkcs12_file: str | None,
         password: bytes | None) -> tuple[list[x509.Certificate], list]:
    """(certificates, private keys) from the files given."""
    if pkcs12_file:
        try:
            key, certificate, more = pkcs12.load_key_and_certificates(_bytes(pkcs12_file), password)
        except (ValueError, TypeError):
            raise Unreadable(f"{pkcs12_file}: not a PKCS#12 file, or the password is wrong") from None
        return [c for c in (certificate, *more) if c is not None], [key] if key is not None else []
    return pems([(name, _bytes(name)) for name in pem_files or []], password)


def pems(files: list[tuple[str, bytes]], password: bytes | None) -> tuple[list[x509.Certificate], list]:
    """(certificates, private keys) from several PEM files' (name, bytes)."""
    certificates, keys = [], []
    for name, data in files:
        more_certificates, more_keys = pem(name, data, password)
        certificates += more_certificates
        keys += more_keys
    return certificates, keys
