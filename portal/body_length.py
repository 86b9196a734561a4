"""A request body sent chunked, without `Content-Length`, as its length.

uvicorn hands Django such a body whole (the ASGI handler spools it; `portal.serve` bounds
it), but Django and DRF take a missing `Content-Length` for "no body": DRF parsed a
chunked `{"reason": "keyCompromise"}` as `{}`, and the eMSP API revoked the contract as
`unspecified`. This middleware reads the body once and records its length, so every
parser sees it, and refuses one over DATA_UPLOAD_MAX_MEMORY_SIZE with 413, as Django
does when the length is declared. Machine endpoints (portal.machine_http) read their
bodies themselves, bounded, and do not pass here."""
import io

from django.conf import settings

from lib.problem import problem


def _unframed(request) -> bool:
    return (not request.META.get("CONTENT_LENGTH")
            and "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower())


class ChunkedBodyLengthMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _unframed(request):
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            body = request.read() if limit is None else request.read(limit + 1)  # never more than the bound
            if limit is not None and len(body) > limit:
                return problem(413, "Content too large", f"the body may be at most {limit} bytes")
            # What `HttpRequest.body` would have cached had the length been declared.
            request._body, request._stream = body, io.BytesIO(body)
            request.META["CONTENT_LENGTH"] = str(len(body))
        return self.get_response(request)
