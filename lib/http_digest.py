"""RFC 7616's algorithms as OCPP allows them (white paper, "HTTP Digest Auth": SHA-256
the default, SHA-512-256, SHA-384, SHA-512; never MD5 or SHA-1) and its H(). Both sides
hash with it: the CSMS verifying (`csms.auth.digest`), the station client answering
(`stationclient.authorization`). Pure.
"""
import hashlib

# RFC 7616 §3.2 names to hashlib's.
ALGORITHMS = {"SHA-256": "sha256", "SHA-512-256": "sha512_256", "SHA-384": "sha384", "SHA-512": "sha512"}


def h(algorithm: str, data: bytes) -> bytes:
    """H(data) of RFC 7616 §3.4: the hash as lower-case hex."""
    return hashlib.new(ALGORITHMS[algorithm], data).hexdigest().encode("ascii")
