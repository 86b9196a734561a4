"""portal.logging keeps credentials out of every log record."""
import logging

import pytest

from portal.logging import RedactCredentials, redact


@pytest.mark.parametrize("line", [
    "< authorization: Basic QUwxMDAwOgABAgMEBQYH////////////////",
    "Authorization: Bearer eyJhbGciOiJFUzI1NiJ9.e30.sig",
    """{'authorization': 'Digest username="x", response="abc"'}""",
    "cookie: sessionid=abc123",
])
def test_credential_headers_are_redacted(line):
    out = redact(line)
    assert "[redacted]" in out
    for secret in ("QUwxMDAw", "eyJhbGci", "response", "abc123"):
        assert secret not in out


@pytest.mark.parametrize("frame", [
    '''> TEXT '[2,"id","ChangeConfiguration",{"key":"AuthorizationKey","value":"93FB2129B5244D622FD1B2641EB9A97530DAF363"}]' ''',
    '[2,"id","SetVariables",{"setVariableData":[{"attributeValue":"s3cr3tPassw0rdS3cr3tPassw0rd","component":{"name":"SecurityCtrlr"},"variable":{"name":"BasicAuthPassword"}}]}]',
])
def test_frames_carrying_a_station_credential_are_dropped_whole(frame):
    out = redact(frame)
    assert "93FB2129" not in out and "s3cr3t" not in out
    assert "redacted" in out


def test_filter_rewrites_records_with_arguments():
    record = logging.LogRecord("uvicorn.error", logging.DEBUG, __file__, 1, "< %s: %s",
                               ("authorization", "Basic c2VjcmV0"), None)
    RedactCredentials().filter(record)
    assert "c2VjcmV0" not in record.getMessage()


def test_ordinary_lines_pass_unchanged():
    line = "station acme/CP1 connected (ocpp1.6)"
    assert redact(line) == line


def test_websocket_frame_dumps_are_dropped():
    from websockets.frames import Frame, Opcode

    frame = Frame(Opcode.TEXT, b'[2,"x","ChangeConfiguration",{"key":"AuthorizationKey","value":"' + b"AB" * 20 + b'"}]')
    record = logging.LogRecord("uvicorn.error", logging.DEBUG, __file__, 1, "> %s", (frame,), None)
    assert RedactCredentials().filter(record) is False


def test_unknown_scheme_is_never_echoed():
    from csms.auth.keys import StoredKeys
    from csms.auth.station_auth import Subject, authenticate

    subject = Subject(identity="CP1", realm="r", methods=("basic",), keys=StoredKeys(()), accept_hex=True)
    result = authenticate(subject, [b"0001020304050607FFFFFFFFFFFFFFFFFFFFFFFF"])
    assert "0001020304" not in result.reason.lower() and "unknown scheme" in result.reason


def test_basic_challenge_value_keeps_its_scheme_name_when_redacted():
    assert redact("www-authenticate: Basic realm=x") == "www-authenticate: [redacted]"


def test_oauth_credentials_in_a_query_string_are_redacted():
    line = ('127.0.0.1:5 - "GET /oauth/emsp/authorize?client_id=ev&request_uri=urn:ietf:params:oauth:'
            'request_uri:SECRETPART&state=s1 HTTP/1.1" 303 / "GET /cb?code=CODEVALUE&iss=x" / '
            '"GET /x?client_secret=TOPSECRET&error_code=7"')
    out = redact(line)
    for secret in ("SECRETPART", "CODEVALUE", "TOPSECRET"):
        assert secret not in out
    assert "client_id=ev" in out and "state=s1" in out and "error_code=7" in out
    assert "request_uri=[redacted]" in out


def test_a_credential_first_in_a_bare_query_string_is_redacted():
    """uvicorn's trace-level scope dump shows the query string without its "?"."""
    out = redact("{'query_string': b'client_secret=TOPSECRET&grant_type=client_credentials'}")
    assert "TOPSECRET" not in out and "grant_type=client_credentials" in out
    assert redact("error_code=7 mycode=8 x.token=9") == "error_code=7 mycode=8 x.token=9"


def test_uvicorn_access_lines_keep_their_arguments_for_the_formatter():
    """uvicorn's access formatter unpacks record.args: redaction must leave it a tuple."""
    from uvicorn.logging import AccessFormatter
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "GET", "/oauth/t/authorize?client_id=c&request_uri=urn:x:SECRET",
                                "1.1", 303), None)
    assert RedactCredentials().filter(record)
    line = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False).format(record)
    assert "SECRET" not in line and "request_uri=[redacted]" in line and "303" in line


# --- peer text and tracebacks (issue 8, items 9 and 13) ------------------------------------------

def _logged(emit, formatter=None) -> str:
    """What a handler with the filter writes for the records `emit(logger)` makes."""
    import io

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter or logging.Formatter("%(levelname)s %(name)s %(message)s"))
    handler.addFilter(RedactCredentials())
    logger = logging.getLogger("tests.redaction")
    logger.propagate, logger.level = False, logging.DEBUG
    logger.addHandler(handler)
    try:
        emit(logger)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_a_peer_cannot_start_a_log_line_of_its_own():
    forged = "x\nERROR csms.consumers station acme/CP9: key compromised\r\x1b[2J\u2028"
    out = _logged(lambda log: log.info("station %s: answer to unknown call %s ignored", "acme/CP1", forged))
    assert out.count("\n") == 1 and "\r" not in out and "\x1b" not in out and "\u2028" not in out
    assert "call x\\nERROR csms.consumers" in out and "\\r\\x1b[2J\\u2028 ignored" in out


def test_bidi_controls_cannot_disguise_a_logged_value():
    out = _logged(lambda log: log.info("answer to unknown call %s", "\u202eevil\u2066x\u2069\u200f"))
    assert not any(c in out for c in "\u202e\u2066\u2069\u200f")
    assert "\\u202eevil\\u2066x\\u2069\\u200f" in out


def test_a_traceback_is_redacted_and_written_on_the_records_line():
    from django.http import BadHeaderError

    def emit(log):
        try:
            raise BadHeaderError("Header values can't contain newlines (got "
                                 "'http://127.0.0.1:8765\r\n/callback?code=SECRETCODE&state=s1')")
        except BadHeaderError:
            log.exception("Internal Server Error: %s", "/oauth/emsp/authorize/consent")

    out = _logged(emit)
    assert out.count("\n") == 1, out
    assert "SECRETCODE" not in out and "code=[redacted]" in out and "state=s1" in out
    assert "Internal Server Error: /oauth/emsp/authorize/consent\\nTraceback (most recent call last):" in out
    assert "BadHeaderError: Header values" in out


def test_uvicorns_formatter_gets_the_folded_traceback_too():
    from uvicorn.logging import DefaultFormatter

    def emit(log):
        try:
            raise ValueError("bad thing\nwith Authorization: Basic c2VjcmV0")
        except ValueError:
            log.error("Exception in ASGI application", exc_info=True, stack_info=True)

    out = _logged(emit, DefaultFormatter("%(levelprefix)s %(message)s", use_colors=False))
    assert out.count("\n") == 1, out
    assert "c2VjcmV0" not in out and "ValueError: bad thing\\nwith Authorization: [redacted]" in out
    assert "\\nStack (most recent call last):" in out


def test_a_traceback_line_quoting_a_credential_frame_is_dropped_not_the_traceback():
    def emit(log):
        try:
            raise RuntimeError('[2,"1","ChangeConfiguration",{"key":"AuthorizationKey","value":"93FB2129"}]')
        except RuntimeError:
            log.exception("sending failed")

    out = _logged(emit)
    assert "93FB2129" not in out and "Traceback (most recent call last):" in out
    assert "sending failed" in out and "redacted: message carrying a station credential" in out


def test_an_exception_python_cannot_raise_is_logged_on_one_redacted_line(capsys):
    import gc
    import io
    import sys

    from portal import logging as log_safety

    class Finalizer:
        def __del__(self):
            raise RuntimeError("Authorization: Basic QUJD\nsecond line")

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactCredentials())
    logger = logging.getLogger("python.unraisable")
    logger.addHandler(handler)
    previous = sys.unraisablehook
    try:
        sys.unraisablehook = log_safety.log_unraisable
        Finalizer()
        gc.collect()
    finally:
        sys.unraisablehook = previous
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert "QUJD" not in out and out.count("\n") == 1, out
    assert "RuntimeError" in out and "Exception ignored" in out
    assert "Traceback" not in capsys.readouterr().err


def test_a_record_is_cleaned_once_and_every_handler_writes_it_clean():
    """The filter sits on loggers and on each handler: the first pass cleans the record,
    later ones see the mark and pass it as it is, redacted for every handler."""
    import io

    from portal.logging import install

    streams = [io.StringIO(), io.StringIO()]
    logger = logging.getLogger("tests.redaction.twice")
    logger.propagate, logger.level = False, logging.DEBUG
    handlers = [logging.StreamHandler(stream) for stream in streams]
    for handler in handlers:
        logger.addHandler(handler)
    passes = []

    class Counting(RedactCredentials):
        def filter(self, record):
            passes.append(getattr(record, "_chargegate_cleaned", False))
            return super().filter(record)

    everything = [logging.getLogger(), *(lg for lg in logging.root.manager.loggerDict.values()
                                         if isinstance(lg, logging.Logger))]
    everything += [h for lg in everything for h in lg.handlers]
    before = [(filterer, list(filterer.filters)) for filterer in everything]
    try:
        install(Counting())
        install(Counting())  # installed again (a second app registry, a test): not stacked
        assert [len(h.filters) for h in handlers] == [1, 1] and len(logger.filters) == 1
        logger.info("peer said %s; %s", "x\nFORGED", "authorization: Basic QUwxMDAwOgABAgMEBQYH")
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
        logger.filters.clear()
        for filterer, filters in before:  # install() reached every logger: as they were
            filterer.filters[:] = filters
    assert passes == [False, True, True]  # the logger's pass cleaned it; the handlers' saw the mark
    for stream in streams:
        assert "QUwxMDAw" not in stream.getvalue() and "\\nFORGED" in stream.getvalue()


def test_a_station_socket_writes_one_line_not_three():
    """The websockets library's "connection open"/"connection closed" on uvicorn's logger
    are dropped, and uvicorn's "[accepted]" for a station path (the consumer's line says
    it, with the peer); uvicorn's lines for other paths and refusals stay."""
    from portal.logging import install

    install()
    seen = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())
    uvicorn_log = logging.getLogger("uvicorn.error")
    # As it is when uvicorn serves: another test's logging set-up (a dictConfig that
    # disables existing loggers, logging.disable) must not silence it here.
    level, disabled, disabled_below = uvicorn_log.level, uvicorn_log.disabled, logging.root.manager.disable
    uvicorn_log.level, uvicorn_log.disabled = logging.INFO, False
    logging.disable(logging.NOTSET)
    uvicorn_log.addHandler(handler)
    try:
        uvicorn_log.info("connection open")
        uvicorn_log.info('%s - "WebSocket %s" [accepted]', "127.0.0.1:5", "/ocpp/acme/CP1")
        uvicorn_log.info('%s - "WebSocket %s" [accepted]', "127.0.0.1:5", "/elsewhere")
        uvicorn_log.info('%s - "WebSocket %s" %d', "127.0.0.1:5", "/ocpp/acme/CP1", 401)
        uvicorn_log.info("connection closed")
    finally:
        uvicorn_log.removeHandler(handler)
        uvicorn_log.level, uvicorn_log.disabled = level, disabled
        logging.disable(disabled_below)
    assert seen == ['127.0.0.1:5 - "WebSocket /elsewhere" [accepted]', '127.0.0.1:5 - "WebSocket /ocpp/acme/CP1" 401']


def test_a_message_that_is_no_string_still_logs_on_uvicorns_logger():
    from portal.logging import SocketChatter

    record = logging.LogRecord("uvicorn.error", logging.WARNING, __file__, 1, ["not", "a", "string"], None, None)
    assert SocketChatter().filter(record)


def test_a_flood_of_refused_station_handshakes_is_a_few_lines_and_a_count():
    from portal.logging import SocketChatter

    now = [0.0]
    chatter = SocketChatter(clock=lambda: now[0])

    def line(path, status, peer="127.0.0.1:5"):
        record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, '%s - "WebSocket %s" %d',
                                   (peer, path, status), None)
        return record.getMessage() if chatter.filter(record) else None

    flood = [line(f"/ocpp/acme/CP{i}", 429, peer=f"10.0.{i % 20}.1:{i}")
             for i in range(SocketChatter.REFUSED_PER_INTERVAL + 30)]
    kept = [m for m in flood if m]
    assert len(kept) == SocketChatter.REFUSED_PER_INTERVAL and kept[0].endswith("/ocpp/acme/CP0\" 429")
    assert line("/api/v1/x", 401) is not None  # not a station handshake: never counted against
    now[0] += SocketChatter.REFUSED_INTERVAL_SECONDS
    assert line("/ocpp/acme/CP9", 401) == \
        '127.0.0.1:5 - "WebSocket /ocpp/acme/CP9" 401 (30 more since the previous such line)'


def test_one_address_refused_again_and_again_leaves_room_for_the_others():
    from portal.logging import SocketChatter

    chatter = SocketChatter(clock=lambda: 0.0)

    def kept(peer):
        return chatter.filter(logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1,
                                                '%s - "WebSocket %s" %d', (peer, "/ocpp/acme/CP1", 401), None))

    assert [kept(f"10.0.0.66:{port}") for port in range(1000, 1100)].count(True) == SocketChatter.REFUSED_PER_PEER
    assert kept("10.0.0.7:4000")  # another station's refusal is still written


def test_a_handshake_the_websockets_library_refuses_itself_still_leaves_a_line():
    """No Sec-WebSocket-Key, say: uvicorn writes nothing, so the library's own line is the
    only trace; it is budgeted, not dropped (review helper-41)."""
    from portal.logging import SocketChatter

    chatter = SocketChatter(clock=lambda: 0.0)
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, "connection rejected (%d %s)",
                               (400, "Bad Request"), None)
    assert chatter.filter(record) and record.getMessage() == "connection rejected (400 Bad Request)"
    lines = [chatter.filter(logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1,
                                              "HTTP response sent (%d %s)", (400, "Bad Request"), None))
             for _ in range(200)]
    assert lines.count(True) == SocketChatter.REFUSED_PER_INTERVAL - 1
