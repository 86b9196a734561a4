"""Keep credentials and forged lines out of logs, whatever logs them.

Our code never formats credentials, but servers and libraries may: uvicorn's websockets
layer, at DEBUG, writes every handshake header, Authorization included; an exception
message may quote a URL with an authorization code in it. And much of what is logged
comes from a peer (a station's message id, a request path): a newline in it would start
a line of the attacker's choosing. A filter on every handler therefore redacts the value
of any Authorization-like header and credential-bearing query parameter, and escapes
control characters, in the record's message *and* its traceback, which it folds into
the message: one record is one line, whichever formatter writes it.
"""
import logging
import re
import sys
import time

from lib.log_summary import Summarised, with_count

_CREDENTIAL_HEADER = re.compile(
    r"(?i)\b((?:proxy-)?authorization|authentication-info|www-authenticate|cookie|set-cookie)"
    # to the end of the line: values (Digest, cookies) contain quotes and commas, and
    # over-redacting a dict repr costs nothing
    r"(['\"]?\s*[:=,]\s*(?:b(?=['\"]))?['\"]?)[^\r\n]*"
)


# An OCPP frame that sets a station credential (a frame dump at DEBUG, say) is dropped
# whole: its key may sit anywhere in the JSON.
_CREDENTIAL_FRAME = re.compile(r"AuthorizationKey|BasicAuthPassword")


# OAuth credentials that can ride in a URL's query (an access-log line): request URIs,
# codes and, from clients that misuse GET, secrets, assertions and tokens. Wherever the
# name starts a word: after "?" or "&", but also first in a bare query string (uvicorn's
# trace-level scope dump: b'client_secret=...', review F14).
_OAUTH_QUERY_CREDENTIAL = re.compile(
    r"(?<![\w.-])(request_uri|code|code_verifier|client_secret|assertion|client_assertion|refresh_token"
    r"|access_token|token)=[^&\s\"']*")


def redact(text: str) -> str:
    if _CREDENTIAL_FRAME.search(text):
        return "[redacted: message carrying a station credential]"
    text = _OAUTH_QUERY_CREDENTIAL.sub(r"\1=[redacted]", text)
    return _CREDENTIAL_HEADER.sub(r"\1\2[redacted]", text)


def _is_frame_dump(record: logging.LogRecord) -> bool:
    """websockets logs every frame at DEBUG (shortened to its start and end, so a key's
    tail survives while the variable's name is cut). Frames are OCPP payloads: never
    log them."""
    if record.msg not in ("> %s", "< %s") or not record.args:
        return False
    frame = record.args[0] if isinstance(record.args, tuple) else record.args
    return type(frame).__name__ == "Frame"


# C0 and C1 controls, DEL, the Unicode line and paragraph separators, and the bidi
# marks, embeddings, overrides and isolates: anything a terminal or a log viewer may
# take as a line break or an escape sequence, or use to show text other than it is.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED_CONTROL = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_one(match: re.Match) -> str:
    char = match.group()
    code = ord(char)
    return _NAMED_CONTROL.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def escape_controls(text: str) -> str:
    """`text` with every control character written as a visible escape (\\n, \\x1b)."""
    return _CONTROL.sub(_escape_one, text)


def clean(text: str) -> str:
    return escape_controls(redact(text))


_TRACEBACK_FORMATTER = logging.Formatter()


def _traceback_of(record: logging.LogRecord) -> str:
    """The text a formatter would append to the message: traceback and stack."""
    parts = []
    if record.exc_info and record.exc_info[0] is not None:
        parts.append(record.exc_text or _TRACEBACK_FORMATTER.formatException(record.exc_info))
    elif record.exc_text:
        parts.append(record.exc_text)
    if record.stack_info:
        parts.append(record.stack_info)
    return "\n".join(parts)


# Set on a record once it is clean: a record meets this filter on its logger and again
# on each handler, and cleaning it again (four patterns over the message) found nothing
# new but cost as much as writing the line (bench: 3 passes per record, 46 of its 64 µs).
_CLEANED = "_chargegate_cleaned"


class RedactCredentials(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _CLEANED, False):
            return True
        if _is_frame_dump(record):
            return False
        setattr(record, _CLEANED, True)
        try:
            message = record.getMessage()
        except Exception:  # a broken record is not ours to fix
            return True
        trace = _traceback_of(record)
        if trace:
            # Line by line, so that the credential-frame rule drops a line, not the
            # whole traceback; joined by a visible \n, so the record stays one line.
            lines = [clean(message)] + [clean(line) for line in trace.splitlines()]
            record.msg, record.args = "\\n".join(lines), None
            record.exc_info = record.exc_text = record.stack_info = None
            return True
        if clean(message) == message:
            return True
        # Clean inside the arguments where that suffices: some formatters (uvicorn's
        # access log) read record.args themselves and break if they are replaced.
        if isinstance(record.args, tuple):
            record.args = tuple(clean(a) if isinstance(a, str) else a for a in record.args)
            try:
                message = record.getMessage()
            except Exception:
                return True
            if clean(message) == message:
                return True
        record.msg, record.args = clean(message), None
        return True


# Where Django reports a request it refused: django.request (403 PermissionDenied, 400
# BadRequest, CSRF's own logger) and one django.security.<Exception> logger per kind of
# SuspiciousOperation (TooManyFieldsSent, RequestDataTooBig: a body too large or with
# too many fields, DisallowedHost, …). A logger's filters do not reach its children, so
# settings.LOGGING names each.
REFUSAL_LOGGERS = ("django.request", "django.security.csrf", *(f"django.security.{name}" for name in (
    "RequestDataTooBig", "TooManyFieldsSent", "TooManyFilesSent", "DisallowedHost", "DisallowedRedirect",
    "SuspiciousOperation", "SuspiciousMultipartForm", "SuspiciousFileOperation", "SuspiciousSession")))


class RefusalsInOneLine(logging.Filter):
    """A request refused with a 4xx (a CSRF failure, a permission denied, a body with too
    many fields or too large) is a client's mistake or a probe, not a fault of ours: one
    WARNING line, with the path, and no traceback. Django logs the suspicious ones as
    ERROR with their traceback, which buries real errors, and a traceback's frames may
    quote the request's body. The client still gets its 400 or 403; 5xx keep theirs."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if not isinstance(status, int) or not 400 <= status < 500:
            return True
        record.exc_info = record.exc_text = record.stack_info = None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        request = getattr(record, "request", None)
        path = getattr(request, "path", None)
        if record.name.startswith("django.security.") and path and record.name != "django.security.csrf":
            record.msg, record.args = f"{record.getMessage()} ({status}): %s", (path,)
        return True


class SocketChatter(logging.Filter):
    """One line per station socket, not three. The `websockets` library writes
    "connection open" and "connection closed" at INFO on uvicorn's logger for every
    socket, naming neither the station nor the peer, and uvicorn adds
    `<peer> - "WebSocket /ocpp/…" [accepted]`, which csms.consumers' `station … connected
    (…) from <peer>` says too. In a reconnect storm these lines were two thirds of the
    logging and its CPU. uvicorn's lines for other paths stay; its lines for refused station
    handshakes (`<peer> - "WebSocket /ocpp/…" 401`) are kept at most `REFUSED_PER_INTERVAL`
    per `REFUSED_INTERVAL_SECONDS` (`REFUSED_PER_PEER` for one address), the rest counted
    (lib/log_summary.py): a Digest fleet's every reconnect starts with a 401, and a flood
    of bad credentials is a 429 each. The websockets library's own line for a refused
    handshake (`connection rejected (401 Unauthorized)`, naming neither path nor peer) is
    kept under a budget of its own: it is the only line for a handshake the library itself
    refuses (no Sec-WebSocket-Key, say), which uvicorn does not log (review helper-41)."""

    CHATTER = frozenset({"connection open", "connection closed"})
    # The websockets library's line for a refused handshake, naming neither path nor peer.
    REFUSED_CHATTER = frozenset({"connection rejected (%d %s)", "HTTP response sent (%d %s)"})
    ACCEPTED = '%s - "WebSocket %s" [accepted]'  # uvicorn's websockets_sansio_impl
    REFUSED = '%s - "WebSocket %s" %d'  # the same, for a handshake answered with a status
    REFUSED_PER_INTERVAL, REFUSED_PER_PEER, REFUSED_INTERVAL_SECONDS = 50, 5, 10.0

    def __init__(self, clock=time.monotonic):
        super().__init__()
        logger = logging.getLogger("uvicorn.error")
        self.refused = Summarised(logger, self.REFUSED_INTERVAL_SECONDS, logging.INFO, clock=clock,
                                  burst=self.REFUSED_PER_INTERVAL, per_key=self.REFUSED_PER_PEER)
        self.rejected = Summarised(logger, self.REFUSED_INTERVAL_SECONDS, logging.INFO, clock=clock,
                                   burst=self.REFUSED_PER_INTERVAL)

    def filter(self, record: logging.LogRecord) -> bool:
        if not isinstance(record.msg, str):  # a list or dict logged as such: not ours to drop
            return True
        if record.msg in self.CHATTER and not record.args:
            return False
        if record.msg in self.REFUSED_CHATTER:
            return self._budgeted(record, self.rejected, None)
        args = record.args
        if not (isinstance(args, tuple) and len(args) >= 2 and isinstance(args[1], str)
                and args[1].startswith("/ocpp/")):
            return True
        if record.msg == self.ACCEPTED:
            return False
        if record.msg == self.REFUSED:
            peer = args[0].rsplit(":", 1)[0] if isinstance(args[0], str) else None  # "host:port"
            return self._budgeted(record, self.refused, peer)
        return True

    @staticmethod
    def _budgeted(record: logging.LogRecord, summary: Summarised, key) -> bool:
        suppressed = summary.admit(key)
        if suppressed is None:
            return False
        if suppressed:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.msg, record.args = with_count(record.msg, args, suppressed)
        return True


def install(filter_=None) -> None:
    """Attach the filter to every handler that exists now (ours, uvicorn's, Celery's)
    and to the loggers that libraries write headers to."""
    filter_ = filter_ or RedactCredentials()
    sys.unraisablehook = log_unraisable
    _add_once(logging.getLogger("uvicorn.error"), SocketChatter())  # before the redaction: nothing to clean
    loggers = [logging.getLogger()] + [
        lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "websockets", "websockets.server"):
        loggers.append(logging.getLogger(name))
    for logger in loggers:
        _add_once(logger, filter_)
        for handler in logger.handlers:
            _add_once(handler, filter_)


def _add_once(filterer: logging.Filterer, filter_: logging.Filter) -> None:
    """By kind, not identity: settings.LOGGING's handler already has one of its own."""
    if not any(type(existing) is type(filter_) for existing in filterer.filters):
        filterer.addFilter(filter_)


_unraisable = logging.getLogger("python.unraisable")


def log_unraisable(unraisable) -> None:
    """`sys.unraisablehook`: Python writes an exception it cannot raise (in a finalizer,
    a garbage-collected coroutine) straight to stderr, many lines and unredacted. Through
    logging it gets the same redaction and one line like every record (review F9)."""
    exc = unraisable.exc_value
    _unraisable.error("%s: %s", unraisable.err_msg or "Exception ignored in",
                      getattr(unraisable.object, "__qualname__", None) or type(unraisable.object).__name__,
                      exc_info=(unraisable.exc_type, exc, unraisable.exc_traceback) if exc else None)
