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
