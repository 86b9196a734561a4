"""HTTP for machine clients: the views marked `lib.machine_endpoint` (the authorization
server's back channel: PAR, token, introspection, revocation), served without Django's
per-request machinery.

Why: under Django's ASGI handler every request runs in a thread of its own, so it opens
and closes a database connection, and it crosses ten middleware built for pages
(sessions, CSRF, messages, authentication), several of them with a thread hop each. For
a token request that floor cost more than the token itself (docs/performance.md). Here
a request is read on the event loop, and its view runs on a bounded pool of threads
that keep their connections (`lib.db_threads`).

What stays the same as under Django's handler: the URL resolution, the view (one source
of truth for the answer), `ALLOWED_HOSTS`, the security headers (the same
`SecurityMiddleware` and `XFrameOptionsMiddleware`, run here), and the error handling
(`convert_exception_to_response`: 400 for a bad host or body, a logged 500 otherwise).
The body is already bounded by the server (portal/serve.py: size and deadline).

The pool is bounded and so is its queue: when `WEB_MACHINE_MAX_WAITING` requests already
wait for a thread, the next gets 503 with Retry-After instead of joining a queue that
would hold up every client.
"""
import functools
import io
import logging
import threading

from django.conf import settings
from django.core.handlers.asgi import ASGIRequest, get_script_prefix
from django.core.handlers.exception import convert_exception_to_response
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import Resolver404, resolve, set_script_prefix

from lib.db_threads import DatabaseThreads
from lib.log_summary import Summarised
from lib.machine_endpoint import is_machine_endpoint, max_body

log = logging.getLogger(__name__)

_BUSY_BODY = b'{"error": "temporarily_unavailable", "error_description": "busy; retry shortly"}'
BUSY = (503, [(b"content-type", b"application/json"), (b"retry-after", b"1"), (b"cache-control", b"no-store"),
              (b"content-length", str(len(_BUSY_BODY)).encode())], _BUSY_BODY)


def _view(request):
    request.get_host()  # ALLOWED_HOSTS, as CommonMiddleware checks it (DisallowedHost: 400)
    match = request.resolver_match
    return match.func(request, *match.args, **match.kwargs)


# The response side of the page stack that applies to a JSON answer, each layer turning
# an exception into a response as Django's handler does.
_respond = convert_exception_to_response(SecurityMiddleware(XFrameOptionsMiddleware(
    convert_exception_to_response(_view))))


class MachineEndpoints:
    """ASGI app: machine endpoints here, every other HTTP request to Django's handler."""

    def __init__(self, django_app):
        self.django = django_app
        self.threads = DatabaseThreads("machine-http", lambda: settings.WEB_MACHINE_HTTP["THREADS"])
        self._run = self.threads.sync_to_async(_respond)
        self._admitted = threading.BoundedSemaphore(
            settings.WEB_MACHINE_HTTP["THREADS"] + settings.WEB_MACHINE_HTTP["MAX_WAITING"])
        self._busy = Summarised(log)  # a flood of refusals: one line per interval, not per request

    async def __call__(self, scope, receive, send):
        match = self._machine_match(scope) if scope["type"] == "http" else None
        if match is None:
            return await self.django(scope, receive, send)
        limit = max_body(match.func)
        if limit is None:
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            body = b""  # refused by its declared length (lib.machine_endpoint): none of it is read
        else:
            body = await _read_body(receive, limit)
            if body is None:
                return  # the client went away
            if declared is None:  # chunked: its length, so the view's bound applies (and Django's parsers read it)
                scope = {**scope, "headers": [*scope["headers"], (b"content-length", str(len(body)).encode())]}
        if not self._admitted.acquire(blocking=False):
            self._busy.log("machine endpoint busy: %s refused with 503", scope["path"])
            return await _send(send, *BUSY)
        try:
            request = ASGIRequest(scope, io.BytesIO(body))
            request.resolver_match = match
            response = await self._run(request)
        finally:
            self._admitted.release()
        if not response.has_header("Content-Length"):
            response["Content-Length"] = str(len(response.content))  # as CommonMiddleware sets it
        await _send(send, response.status_code, _headers(response), response.content)

    @staticmethod
    def _machine_match(scope):
        script_name = get_script_prefix(scope)
        set_script_prefix(script_name)  # for reverse() in the view, as Django's handler sets it
        path = scope["path"].removeprefix(script_name) if script_name else scope["path"]
        return _machine_match_of(settings.ROOT_URLCONF, path)


@functools.lru_cache(maxsize=4096)
def _machine_match_of(urlconf: str, path: str):
    """The machine endpoint `path` resolves to, or None. Remembered: resolving walked the
    URL patterns on every request (0.3 ms of a token request's 2). Bounded, so paths
    made up by a scanner only push out others; the URL conf is part of the key, as tests
    switch it."""
    try:
        match = resolve(path, urlconf)
    except Resolver404:
        return None
    return match if is_machine_endpoint(match.func) else None


def _declared_length(scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None  # the server has refused a bad one already
    return None


async def _read_body(receive, limit: int) -> bytes | None:
    """The body, or its first `limit` bytes and a little more: enough for the view to see
    it is too large, without waiting for (and holding) the rest."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False) or size > limit:
            return b"".join(chunks)


def _headers(response) -> list[tuple[bytes, bytes]]:
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in response.items()]
    headers += [(b"set-cookie", cookie.output(header="").strip().encode("latin-1"))
                for cookie in response.cookies.values()]
    return headers


async def _send(send, status: int, headers, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
