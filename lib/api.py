"""The REST APIs' shared floor (Django REST framework): RFC 9457 problem details for
every error, bounded cursor pagination, and one timestamp format (`lib.timestamps`).
Apps build their API views on these; the authentication (the tenant's own access tokens) is `oauth.authentication`'s."""
from datetime import UTC, datetime
from http import HTTPStatus

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.pagination import CursorPagination, PageNumberPagination
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder
from rest_framework.views import exception_handler

from .challenges import ChallengedAuthenticationFailed
from .problem import CONTENT_TYPE, problem
from .timestamps import rfc3339


class TimestampEncoder(JSONEncoder):
    """DRF's encoder, with instants a view returns as values (not through a serializer
    field, which DATETIME_FORMAT covers) in the one format too."""

    def default(self, obj):
        if isinstance(obj, datetime):
            return rfc3339(obj)
        return super().default(obj)


class TimestampJSONRenderer(JSONRenderer):
    encoder_class = TimestampEncoder


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_body(status: int, data) -> dict:
    """DRF's error data as a problem object: a `detail` string, and for invalid input
    the field errors in `errors` ({field: [message, …]} or [message, …])."""
    body = {"type": "about:blank", "title": _title(status), "status": status}
    if isinstance(data, dict) and set(data) == {"detail"}:
        body["detail"] = str(data["detail"])
    elif data:
        body["detail"] = "the request is not valid; see errors"
        body["errors"] = data
    return body


class InsufficientScope(exceptions.PermissionDenied):
    """403 for an access token that lacks a scope the request needs. The problem
    response carries the `Bearer error="insufficient_scope"` challenge (RFC 6750 §3.1) of
    the authentication class that accepted the token (its `scope_challenge`): only it
    knows the realm, and the app that raises this may not import it."""

    def __init__(self, scopes: list[str], detail: str | None = None):
        super().__init__(detail or f"insufficient_scope: needs {' '.join(scopes)}")
        self.scopes = scopes


def _authentication_challenges(exc: exceptions.APIException, context) -> str | None:
    """The WWW-Authenticate value of a 401: the failed scheme's own challenge, or, when
    no credentials came, every challenge the view's authentication classes offer, as one
    comma-separated list (RFC 9110 §11.6.1), so a token client learns where to get one."""
    if isinstance(exc, ChallengedAuthenticationFailed):
        return exc.challenge
    view, request = context.get("view"), context.get("request")
    if not isinstance(exc, exceptions.NotAuthenticated) or view is None or request is None:
        return None
    offered = [c for a in view.get_authenticators() if (c := a.authenticate_header(request))]
    return ", ".join(offered) or None


def _scope_challenge(exc: InsufficientScope, context) -> str | None:
    request = context.get("request")
    authenticator = getattr(request, "successful_authenticator", None)
    scope_challenge = getattr(authenticator, "scope_challenge", None)
    return scope_challenge(request, exc.scopes) if scope_challenge else None


def problem_exception_handler(exc, context):
    """REST_FRAMEWORK["EXCEPTION_HANDLER"]: DRF's own handling (status, WWW-Authenticate,
    Retry-After), rendered as `application/problem+json`. Any other exception goes on up
    (None) to the middleware that answers it (the credential throttle's 429 and the
    hashing gate's 503, portal.middleware) or to Django's 500 page."""
    if isinstance(exc, RequestDataTooBig):  # a body over DATA_UPLOAD_MAX_MEMORY_SIZE; Django's answer is its 400 page
        exc = exceptions.APIException("the body is larger than this API reads")
        exc.status_code = 413
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, InsufficientScope) and (scope_challenge := _scope_challenge(exc, context)):
        response["WWW-Authenticate"] = scope_challenge
    elif response.status_code == 401 and (challenges := _authentication_challenges(exc, context)):
        response["WWW-Authenticate"] = challenges
    data = response.data
    headers = {name: value for name, value in response.items() if name.lower() != "content-type"}
    body = {**problem_body(response.status_code, data), **getattr(exc, "members", {})}
    answer = Response(body, status=response.status_code, headers=headers, content_type=CONTENT_TYPE)
    answer["Cache-Control"] = "no-store"
    return answer


class JSONBodyParser(JSONParser):
    """DRF's JSON parser; a document nested deeper than Python's recursion limit is a
    parse error (400) like any other, not a RecursionError (500)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply") from None


def bounded_page_size(request, param: str, default: int, maximum: int) -> int:
    """The `page_size` asked for, 1 to `maximum` (400 otherwise), or `default`."""
    raw = request.query_params.get(param)
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise exceptions.ValidationError({param: [f"a whole number from 1 to {maximum}"]})
    return int(raw)


class BoundedCursorPagination(CursorPagination):
    """Newest first, `page_size` up to MAX (default 50): every page costs the same, and a
    page followed by `next` neither skips nor repeats rows when new ones arrive."""

    page_size = 50
    max_page_size = 200
    page_size_query_param = "page_size"
    ordering = ("-created_at", "-id")

    def get_page_size(self, request):
        return bounded_page_size(request, self.page_size_query_param, self.page_size, self.max_page_size)

    def paginate_queryset(self, queryset, request, view=None):
        """DRF checks a cursor's offset but puts its position into the query unread: a
        forged one (`p=x`, or an instant outside UTC's years) fails in the database
        layer. That is the cursor's fault, so it gets DRF's own 404 "Invalid cursor"."""
        self._model = queryset.model
        try:
            return super().paginate_queryset(queryset, request, view)
        except (DjangoValidationError, OverflowError, ValueError, TypeError):
            if request.query_params.get(self.cursor_query_param) is None:
                raise
            raise exceptions.NotFound(self.invalid_cursor_message) from None

    def decode_cursor(self, request):
        """The position read as the ordering's field reads it, an instant turned into UTC:
        PostgreSQL refuses offsets beyond ±15:59 that Python takes (a DataError, a 500),
        and an instant past year 9999 in UTC fails on either database."""
        cursor = super().decode_cursor(request)
        if cursor is None or cursor.position is None:
            return cursor
        field = self._model._meta.get_field(self.ordering[0].lstrip("-"))
        position = field.to_python(cursor.position)
        if isinstance(position, datetime):
            if position.tzinfo is None:
                raise ValueError("a cursor's instant carries its offset")
            position = position.astimezone(UTC).isoformat()
        return cursor._replace(position=str(position))


class BoundedPagePagination(PageNumberPagination):
    """Numbered pages with the total `count`, for lists a person pages through in their
    own order (the station list, sorted by any column): `page` from 1, `page_size` 1 to
    MAX (default 50); a page past the end is 404."""

    page_size = 50
    max_page_size = 200
    page_size_query_param = "page_size"

    def get_page_size(self, request):
        return bounded_page_size(request, self.page_size_query_param, self.page_size, self.max_page_size)


class Conflict(exceptions.APIException):
    """409: the resource's state does not allow the request (already revoked, queued…)."""

    status_code = 409
    default_detail = "the resource's state does not allow this"
    default_code = "conflict"

    def __init__(self, detail=None, **members):
        super().__init__(detail)
        self.members = members  # further problem members (RFC 9457 §3.2), e.g. the stations concerned


def not_found(request, *args, **kwargs):
    """An address under /api/ that names no endpoint."""
    return problem(404, "Not Found", "no API endpoint at this address")
