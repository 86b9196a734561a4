"""Decrypting a PKCS#12 file in a child process with a CPU limit (`pnc ca import --pkcs12`).

Why: `pbe_cost` bounds what a file shows before decryption, but a key bag inside an
encrypted part names its derivation only once that part is decrypted, and OpenSSL runs
it (holding the GIL) whatever it costs: a file with a one-iteration outer layer and a key
of four million iterations took four times the bound, and nothing stops it asking
billions (review helper-40). So `cryptography` loads the file in a forked child limited
to `CPU_SECONDS` of CPU (RLIMIT_CPU: the kernel stops it), which sends back the key as
unencrypted PKCS#8 DER and the certificates as DER over a pipe between the two
processes; nothing is written anywhere else. The CLI is one thread, so forking it is
safe; the child touches no database connection and leaves with `os._exit`, so the
parent's connections are not closed under it.
"""
import multiprocessing
import os
import resource

from cryptography import x509
from cryptography.exceptions import InternalError, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

# One million PBKDF2 iterations (`pbe_cost`'s bound) take ~0.2 s on the benchmark machine;
# a file within it decrypts in well under a second.
CPU_SECONDS = 10
WALL_SECONDS = 30  # a child that neither answers nor dies (a stuck machine) is killed


class TooCostly(Exception):
    pass


class NotLoaded(Exception):
    pass


def load(data: bytes, password: bytes | None) -> tuple[object | None, list[x509.Certificate]]:
    """(key, certificates: the file's own first, then the others) from a PKCS#12 file.
    Raises TooCostly when decrypting it took more than CPU_SECONDS, NotLoaded when it is no
    PKCS#12 file or the password is wrong."""
    context = multiprocessing.get_context("fork")
    receiving, sending = context.Pipe(duplex=False)
    child = context.Process(target=_decrypt, args=(data, password, sending), daemon=True)
    child.start()
    sending.close()
    try:
        if not receiving.poll(WALL_SECONDS):
            raise TooCostly
        outcome = receiving.recv()
    except EOFError:  # the child was stopped (RLIMIT_CPU) before it answered
        raise TooCostly from None
    finally:
        receiving.close()
        if child.is_alive():
            child.kill()
        child.join()
    if outcome is None:
        raise NotLoaded
    key_der, certificates_der = outcome
    key = serialization.load_der_private_key(key_der, password=None) if key_der else None
    return key, [x509.load_der_x509_certificate(der) for der in certificates_der]


def _decrypt(data: bytes, password: bytes | None, sending) -> None:
    try:
        resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))
        try:
            key, certificate, more = pkcs12.load_key_and_certificates(data, password)
        except (ValueError, TypeError, UnsupportedAlgorithm, InternalError):
            sending.send(None)
            return
        key_der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()) if key is not None else b""
        sending.send((key_der, [c.public_bytes(serialization.Encoding.DER)
                                for c in (certificate, *more) if c is not None]))
    finally:
        sending.close()
        os._exit(0)  # no atexit handler, no inherited connection closed
