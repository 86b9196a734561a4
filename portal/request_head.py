"""Bounds on an HTTP request head (request line + header fields) and body, and the
check of the head.

uvicorn reads a head without a deadline or a size limit of its own: a client that
never finishes its headers holds a socket forever, and an oversized WebSocket
handshake is refused by the `websockets` library without the client ever receiving
the 414/431 it logs. `HeadGuard` follows the raw bytes of one head so the server
(portal/serve.py) can answer 414/431 itself, early and for HTTP and WebSocket alike.
Pure: no I/O, no Django.
"""
from http import HTTPStatus

# A request line or header field line, without its CRLF. `websockets` refuses lines
# over 8,192 bytes including CRLF (and uvicorn re-serialises the handshake for it with
# a space after each colon), so staying below that means we answer first. Real heads
# are well under 1 KiB; nginx's default buffers are 8 KiB per line as well.
MAX_LINE_BYTES = 8000
# Header fields per request (`websockets` stops at 128).
MAX_HEADERS = 100
# The whole head, CRLFs included (nginx: 4 x 8 KiB).
MAX_HEAD_BYTES = 32 * 1024
# From the first byte of a connection (or the end of the previous response on a
# kept-alive one) to the end of the head. A deadline for the whole head, not per read,
# so trickling one byte at a time buys nothing. Stations send their handshake in one
# packet; 10 s covers a slow cellular link many times over.
HEADER_TIMEOUT_SECONDS = 10.0
# From the end of the head to the end of the body, for requests that have one. uvicorn
# waits for a body as long as the client likes, and Django reads it whole before any
# view runs, so a trickled body held a socket and a task forever. The largest bodies we
# take (a fleet import, a CSR) are well under a megabyte: 30 s is 35 KiB/s for one.
BODY_TIMEOUT_SECONDS = 30.0
# Declared (Content-Length) or received (chunked) body bytes; more gets 413 before it
# is buffered (Django would spool it to disk without a limit).
MAX_BODY_BYTES = 16 * 1024 * 1024
# Open sockets (HTTP and WebSocket) per server process before new ones are refused
# with 503: each costs a file descriptor and some memory. Set it above the number of
# stations a process may carry, with room for their reconnects.
MAX_CONNECTIONS = 4096


class HeadGuard:
    """Follows the bytes of one request head and says when it breaks a bound.

    `feed` returns the status to answer (414 or 431) or None; `done` turns true at the
    blank line that ends the head, after which bytes are the body's and are ignored
    until `reset` (the next request on a kept-alive connection).
    """

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.done = False
        self.lines = 0  # complete lines so far: the request line, then header fields
        self.line_bytes = 0  # of the line in progress, CR included
        self.line_blank = True
        self.total = 0

    def feed(self, data: bytes) -> HTTPStatus | None:
        pos = 0
        while not self.done and pos < len(data):
            newline = data.find(b"\n", pos)
            end = len(data) if newline < 0 else newline
            chunk = data[pos:end]
            self.line_bytes += len(chunk)
            self.total += len(chunk) + (newline >= 0)
            if self.line_blank and chunk.strip(b"\r"):
                self.line_blank = False
            refusal = self._refusal()
            if refusal is not None:
                return refusal
            if newline < 0:
                return None
            refusal = self._end_line()
            if refusal is not None:
                return refusal
            pos = newline + 1
        return None

    def _refusal(self) -> HTTPStatus | None:
        if self.line_bytes > MAX_LINE_BYTES + 1:  # + the CR before the LF
            return (HTTPStatus.REQUEST_URI_TOO_LONG if self.lines == 0
                    else HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
        if self.total > MAX_HEAD_BYTES:
            return HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
        return None

    def _end_line(self) -> HTTPStatus | None:
        blank, self.line_bytes, self.line_blank = self.line_blank, 0, True
        if blank:
            # The blank line after the fields ends the head; blank lines before the
            # request line are skipped (RFC 9112 §2.2).
            self.done = self.lines > 0
            return None
        self.lines += 1
        if self.lines > 1 + MAX_HEADERS:
            return HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
        return None


def refusal_response(status: HTTPStatus, retry_after: int | None = None) -> bytes:
    """A complete HTTP/1.1 response that refuses the request and closes the connection."""
    body = f"{status.value} {status.phrase}\n".encode("ascii")
    head = [f"HTTP/1.1 {status.value} {status.phrase}",
            "content-type: text/plain; charset=utf-8",
            f"content-length: {len(body)}",
            "connection: close"]
    if retry_after is not None:
        head.append(f"retry-after: {retry_after}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + body
