"""RFC 9457 problem details: `application/problem+json` error responses."""
import json

from django.http import HttpResponse

CONTENT_TYPE = "application/problem+json"


def problem(status: int, title: str, detail: str = "", *, type_uri: str = "about:blank",
            headers: dict[str, str] | None = None, **members) -> HttpResponse:
    """A problem+json response. `title` is the same for every occurrence of the problem
    type, `detail` explains this one; both must be safe to show (no secrets)."""
    body = {"type": type_uri, "title": title, "status": status, **({"detail": detail} if detail else {}), **members}
    response = HttpResponse(json.dumps(body), status=status, content_type=CONTENT_TYPE)
    response["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response[name] = value
    return response
