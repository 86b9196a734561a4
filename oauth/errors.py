"""OAuth error responses (RFC 6749 §5.2, RFC 9126 §2.3, RFC 9396 §5, RFC 7009 §2.2.1)."""
import functools
import json
import re

from django.http import HttpResponse

# RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E; anything else
# (quotes, backslashes, non-ASCII — perhaps echoed from the request) is replaced.
_NOT_ALLOWED = re.compile(r'[^\x20\x21\x23-\x5b\x5d-\x7e]')


def safe_description(text: str) -> str:
    return _NOT_ALLOWED.sub("?", text)[:300]


class OAuthError(Exception):
    """An error answered to the client as `{"error", "error_description"}`.

    `invalid_client` is 401 with a `WWW-Authenticate` challenge (RFC 6749 §5.2): the
    client learns which scheme to use, never which part of its credentials was wrong.
    """

    def __init__(self, error: str, description: str = "", status: int = 400):
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = safe_description(description)
        self.status = 401 if error == "invalid_client" else status

    def response(self, realm: str) -> HttpResponse:
        body = {"error": self.error}
        if self.description:
            body["error_description"] = self.description
        response = json_response(body, self.status)
        if self.status == 401:
            response["WWW-Authenticate"] = f'Basic realm="{realm}", charset="UTF-8"'
        return response


def json_response(body: dict, status: int = 200) -> HttpResponse:
    """A JSON response that no cache keeps: every token-bearing answer is one."""
    response = HttpResponse(json.dumps(body), status=status, content_type="application/json")
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


def json_errors(view):
    """An unknown tenant answers like any OAuth error, in JSON (RFC 6749 §5.2 style), on
    every endpoint of the AS: a client parsing JSON never meets an HTML page."""
    from .issuer import NoAuthorizationServer

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except NoAuthorizationServer:
            return json_response({"error": "invalid_request",
                                  "error_description": "there is no authorization server at this address"}, 404)
    return wrapped
