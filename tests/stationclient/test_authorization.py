"""How the reference client writes each method's credentials (normative spelling, CS-4),
checked against the CSMS's own parsers and verifiers where they exist, and how records
hide them."""
import base64
from datetime import UTC, datetime

import pytest

from csms.auth import digest as server_digest
from csms.auth import totp as server_totp
from lib.http_auth import Credentials, parse_authorization, parse_challenges
from lib.timestamps import rfc3339_ms
from lib.totp_token import config
from stationclient.authorization import Secrets, check_rspauth, stale, usable, write
from stationclient.record import Exchange, Record, Response, masked, request

SECRET = "0123456789abcdefghijABCDEFGHIJ"
KEY_TEXT = b"0001020304050607FFFFFFFFFFFFFFFFFFFFFFFF"
TARGET = "/ocpp/acme/CP1"


def secrets(**kwargs):
    return Secrets("CP1", **kwargs)


def written(method, s, challenges=(), now=1_700_000_000):
    return write(method, s, list(challenges), target=TARGET, now=now, random=bytes(range(16)))


def test_each_method_uses_its_normative_spelling():
    s = secrets(password=b"pw-of-the-station", token="t" * 30, bearer="a.b.c", totp=config(SECRET))
    firsts = {m: written(m, s).headers[0][1].split(" ")[0] for m in ("basic", "token", "bearer", "totp")}
    assert firsts == {"basic": "Basic", "token": "Token", "bearer": "Bearer", "totp": "TOTP"}
    challenge = parse_challenges(b'Digest realm="r", qop="auth", algorithm=SHA-256, nonce="n"')
    assert written("digest", s, challenge).headers[0][1].startswith("Digest username=")


def test_basic_sends_the_password_bytes_as_given():
    value = written("basic", secrets(password=bytes.fromhex("00ff10"))).headers[0][1]
    assert base64.b64decode(value.split(" ")[1]) == b"CP1:\x00\xff\x10"


def test_digest_takes_the_stations_first_algorithm_on_offer_and_the_server_verifies_it():
    offered = parse_challenges(b'Digest realm="Chargegate acme", qop="auth", algorithm=SHA-512, nonce="abc", '
                               b'opaque="op", Digest realm="Chargegate acme", qop="auth", algorithm=SHA-256, '
                               b'nonce="abc", opaque="op"')
    s = secrets(password=KEY_TEXT)
    w = written("digest", s, offered)
    assert w.detail == "Digest SHA-256"
    creds = server_digest.Digest().parse(parse_authorization(w.headers[0][1].encode()))
    assert creds.uri == TARGET.encode() and creds.opaque == b"op"
    ha1 = server_digest.verifier("SHA-256", "CP1", "Chargegate acme", KEY_TEXT)
    assert server_digest.response("SHA-256", ha1, creds, b"GET") == creds.response
    rspauth = server_digest.response("SHA-256", ha1, creds, b"").decode()
    info = f'qop=auth, rspauth="{rspauth}", cnonce="{creds.cnonce.decode()}", nc={creds.nc.decode()}'
    assert check_rspauth(w.digest, info)
    assert not check_rspauth(w.digest, info.replace(rspauth[:4], "0000" if rspauth[:4] != "0000" else "1111"))
    assert not check_rspauth(w.digest, None)
    pref = secrets(password=KEY_TEXT, digest_algorithms=("SHA-512", "SHA-256"))
    assert written("digest", pref, offered).detail == "Digest SHA-512"


@pytest.mark.parametrize("challenge", [
    b'Digest realm="r", qop="auth", algorithm=MD5, nonce="n"',
    b'Digest realm="r", qop="auth", nonce="n"',  # no algorithm: MD5
    b'Digest realm="r", qop="auth", algorithm=SHA-1, nonce="n"',
    b'Digest realm="r", qop="auth-int", algorithm=SHA-256, nonce="n"',
    b'Digest realm="r", qop="auth", algorithm=SHA-256-sess, nonce="n"',
])
def test_digest_never_answers_md5_sha1_or_what_it_cannot_do(challenge):
    assert not usable("digest", parse_challenges(challenge), secrets(password=b"pw"))


def test_a_stale_nonce_is_recognised():
    assert stale(parse_challenges(b'Digest realm="r", nonce="n", stale=true'))
    assert not stale(parse_challenges(b'Digest realm="r", nonce="n"'))


@pytest.mark.parametrize("binding", ["scheme", "basic", "header"])
def test_totp_bindings_carry_the_token_of_the_stations_clock(binding):
    c = config(SECRET, validity=30)
    now = 1_700_000_000
    w = written("totp", secrets(totp=c, totp_binding=binding), now=now)
    name, value = w.headers[0]
    expected = server_totp.token(c, now // 30)
    if binding == "header":
        assert (name, value) == ("TOTP", "0 " + expected)
        return
    parsed = parse_authorization(value.encode())
    if binding == "basic":
        assert base64.b64decode(parsed.token68) == b"CP1:" + expected.encode()
    else:
        got = server_totp.parse_scheme(parsed)
        assert (got.login, got.token, got.bound) == (b"CP1", expected.encode(), False)


def test_a_method_without_its_secret_is_not_usable_and_secrets_stay_out_of_repr():
    s = secrets(password=b"hunter2-of-the-station")
    assert usable("basic", [], s) and not usable("token", [], s) and not usable("bearer", [], s)
    assert "hunter2" not in repr(s)
    with pytest.raises(ValueError):
        secrets(totp_binding="query")
    with pytest.raises(ValueError):
        secrets(digest_algorithms=("MD5",))


def test_a_bearer_token_may_be_fetched_when_needed():
    calls = []
    s = secrets(bearer=lambda: calls.append(1) or "fresh.jwt.value")
    assert written("bearer", s).headers == (("Authorization", "Bearer fresh.jwt.value"),)
    assert calls == [1]


def test_records_show_the_scheme_and_length_of_credentials_never_the_credentials():
    assert masked("Authorization", "Basic QUwxOnNlY3JldA==") == "Basic <hidden: 16 characters>"
    assert masked("authorization", "Token cgt_0123") == "Token <hidden: 8 characters>"
    assert masked("TOTP", "0 abcdefghijkl") == "0 <hidden: 12 characters>"
    assert masked("Cookie", "session=abc") == "<hidden: 11 characters>"
    assert masked("User-Agent", "chargegate-probe/1") == "chargegate-probe/1"
    at = datetime(2026, 12, 2, 20, 0, 0, 123456, tzinfo=UTC)
    r = Record([Exchange(request(at, TARGET, [("Authorization", "Basic QUwxOnNlY3JldA==")]),
                         Response(at, 401, "Unauthorized", [("WWW-Authenticate", 'Basic realm="x"')], b"no\n"))])
    text = "\n".join(r.as_text())
    assert "QUwx" not in text and "Basic <hidden: 16 characters>" in text
    shape = r.as_json()[0]
    assert shape["request"]["sent_at"] == "2026-12-02T20:00:00.123Z" == rfc3339_ms(at)
    assert shape["response"] == {"received_at": "2026-12-02T20:00:00.123Z", "status": 401, "reason": "Unauthorized",
                                 "headers": [["WWW-Authenticate", 'Basic realm="x"']], "body": "no\n"}


def test_credentials_read_back_as_written():
    value = written("token", secrets(token="z" * 40)).headers[0][1]
    assert parse_authorization(value.encode()) == Credentials("token", token68=b"z" * 40)
