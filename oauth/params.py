"""Reading OAuth request parameters strictly (RFC 6749 §3.1, §3.2)."""
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpRequest

from .errors import OAuthError

MAX_PARAM_LENGTH = 16 * 1024
FORM = "application/x-www-form-urlencoded"


def single_values(querydict) -> dict[str, str]:
    """Parameters "MUST NOT be included more than once"; an empty one counts as absent."""
    params = {}
    for name, values in querydict.lists():
        if "\x00" in name or any("\x00" in v for v in values):
            raise OAuthError("invalid_request", "parameters must not contain NUL characters")
        if len(values) > 1:
            raise OAuthError("invalid_request", f"parameter {name} is repeated")
        if len(values[0]) > MAX_PARAM_LENGTH:
            raise OAuthError("invalid_request", f"parameter {name} is too long")
        if values[0] != "":
            params[name] = values[0]
    return params


def form(request: HttpRequest) -> dict[str, str]:
    """The body of a POST to a back-channel endpoint (token, PAR, introspection,
    revocation): form-encoded, with the parameters in the body, never the query."""
    content_type = request.content_type or ""
    if content_type.lower() != FORM:
        raise OAuthError("invalid_request", f"the request body must be {FORM}")
    if request.GET:
        raise OAuthError("invalid_request", "parameters belong in the request body, not the query")
    try:
        return single_values(request.POST)
    except (RequestDataTooBig, TooManyFieldsSent):
        raise OAuthError("invalid_request", "the request body is too large", status=413) from None


def requested_scopes(params: dict[str, str]) -> list[str] | None:
    """The `scope` parameter as a list, or None when the request names none."""
    return params["scope"].split(" ") if "scope" in params else None


def require(params: dict[str, str], *names: str) -> None:
    missing = [n for n in names if n not in params]
    if missing:
        raise OAuthError("invalid_request", f"missing parameter: {', '.join(missing)}")
