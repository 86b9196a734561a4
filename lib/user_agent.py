"""A client's User-Agent header as it may be stored and shown: bounded, printable only.

The header is the client's word, as long as it likes and in any bytes (RFC 9110 §10.1.5
allows obs-text); what is kept of it is read in latin-1 (which never fails), control and
non-ASCII characters each become `?`, whitespace runs one space, and it is cut at
`MAX_LENGTH` characters, so a portal page, a CLI table or a log line never carries a
terminal escape or a megabyte. Pure.
"""
import re

MAX_LENGTH = 200

_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")
_SPACES = re.compile(r" {2,}")


def printable(raw: bytes | None) -> str:
    """The header's value, made safe to keep: at most MAX_LENGTH printable ASCII characters."""
    if not raw:
        return ""
    text = raw[:MAX_LENGTH * 4].decode("latin-1").replace("\t", " ")
    text = _SPACES.sub(" ", _UNPRINTABLE.sub("?", text)).strip()
    return text[:MAX_LENGTH]


def of_headers(headers) -> str:
    """The User-Agent of an ASGI scope's headers (the first, if a client sent several)."""
    for name, value in headers:
        if name == b"user-agent":
            return printable(value)
    return ""
