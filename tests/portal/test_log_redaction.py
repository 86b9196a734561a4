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
    from csms.auth.station_auth import authenticate

    result = authenticate(identity="CP1", key_hashes=[], accept_hex=True, realm="r",
                          authorization=[b"0001020304050607FFFFFFFFFFFFFFFFFFFFFFFF"])
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


def test_uvicorn_access_lines_keep_their_arguments_for_the_formatter():
    """uvicorn's access formatter unpacks record.args: redaction must leave it a tuple."""
    from uvicorn.logging import AccessFormatter
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "GET", "/oauth/t/authorize?client_id=c&request_uri=urn:x:SECRET",
                                "1.1", 303), None)
    assert RedactCredentials().filter(record)
    line = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False).format(record)
    assert "SECRET" not in line and "request_uri=[redacted]" in line and "303" in line
