"""Parsing the Authorization request header (RFC 9110 §11.6.2), as bytes."""


class MalformedAuthorization(ValueError):
    """The header is present but unparseable: the handshake earns a 400, not a 401."""


def split_authorization(value: bytes) -> tuple[str, bytes]:
    """`(scheme in lower case, credentials)`; the scheme is case-insensitive."""
    value = value.strip()
    scheme, _, rest = value.partition(b" ")
    if not scheme or not scheme.isascii() or not scheme.replace(b"-", b"").isalnum():
        raise MalformedAuthorization("Authorization header has no valid auth-scheme")
    return scheme.decode("ascii").lower(), rest.strip()
