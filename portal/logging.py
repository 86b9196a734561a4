"""Keep credentials out of logs, whatever logs them.

Our code never formats credentials, but servers and libraries may: uvicorn's websockets
layer, at DEBUG, writes every handshake header, Authorization included. A filter on
every handler redacts the value of any Authorization-like header in a record.
"""
import logging
import re

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
# codes and, from clients that misuse GET, secrets, assertions and tokens.
_OAUTH_QUERY_CREDENTIAL = re.compile(
    r"(?<=[?&])(request_uri|code|code_verifier|client_secret|assertion|client_assertion|refresh_token"
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


class RedactCredentials(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _is_frame_dump(record):
            return False
        try:
            message = record.getMessage()
        except Exception:  # a broken record is not ours to fix
            return True
        if redact(message) == message:
            return True
        # Redact inside the arguments where that suffices: some formatters (uvicorn's
        # access log) read record.args themselves and break if they are replaced.
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
            try:
                message = record.getMessage()
            except Exception:
                return True
            if redact(message) == message:
                return True
        record.msg, record.args = redact(message), None
        return True


def install(filter_=None) -> None:
    """Attach the filter to every handler that exists now (ours, uvicorn's, Celery's)
    and to the loggers that libraries write headers to."""
    filter_ = filter_ or RedactCredentials()
    loggers = [logging.getLogger()] + [
        lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "websockets", "websockets.server"):
        loggers.append(logging.getLogger(name))
    for logger in loggers:
        if filter_ not in logger.filters:
            logger.addFilter(filter_)
        for handler in logger.handlers:
            if filter_ not in handler.filters:
                handler.addFilter(filter_)
