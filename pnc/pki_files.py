"""Reading an existing PKI's files for `pnc ca import`: PEM (certificates and private
keys, any order, several files) or PKCS#12. Nothing read is printed or logged."""
import re
from pathlib import Path

from cryptography import x509
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


def _pem(name: str, password: bytes | None) -> tuple[list[x509.Certificate], list]:
    data = _bytes(name)
    certificates = x509.load_pem_x509_certificates(data) if b"-----BEGIN CERTIFICATE-----" in data else []
    keys = []
    for block in _KEY_BLOCK.finditer(data):
        try:
            keys.append(serialization.load_pem_private_key(block.group(0), password=password))
        except (ValueError, TypeError):
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
    certificates, keys = [], []
    for name in pem_files or []:
        more_certificates, more_keys = _pem(name, password)
        certificates += more_certificates
        keys += more_keys
    return certificates, keys
