"""RFC 9110 §11: the Authorization header split by its grammar, and challenges written and
read by it (a station client reads WWW-Authenticate lists with the same grammar)."""
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lib.http_auth import (
    MAX_AUTH_PARAMS,
    MAX_AUTHORIZATION_BYTES,
    Credentials,
    MalformedAuthorization,
    challenge,
    parse_authorization,
    parse_challenges,
    quoted_string,
    read_authorization,
)


@pytest.mark.parametrize("value, expected", [
    (b"Basic QUwx", Credentials("basic", token68=b"QUwx")),
    (b"BASIC QUwx", Credentials("basic", token68=b"QUwx")),       # CSMS-7: any casing
    (b"bAsIc QUwx", Credentials("basic", token68=b"QUwx")),
    (b"  Basic    QUwx==  ", Credentials("basic", token68=b"QUwx==")),  # CSMS-8: extra spaces
    (b"\tBasic QUwx\t", Credentials("basic", token68=b"QUwx")),
    (b"Token abc-._~+/def", Credentials("token", token68=b"abc-._~+/def")),
    (b"Foo", Credentials("foo")),
    (b"Token abc=", Credentials("token", token68=b"abc=")),  # '=' only at the end: token68
])
def test_token68(value, expected):
    assert parse_authorization(value) == expected


@pytest.mark.parametrize("value, params", [
    (b'Digest username="cs1", realm="Chargegate acme", nonce=abc, qop=auth',
     {"username": b"cs1", "realm": b"Chargegate acme", "nonce": b"abc", "qop": b"auth"}),
    # parameter names are case-insensitive; BWS around '='; optional whitespace around commas
    (b'TOTP LOGIN = "Y3Mx" ,totp="MTIzNDU2"', {"login": b"Y3Mx", "totp": b"MTIzNDU2"}),
    # quoted-pairs unescaped, commas and '=' inside quotes are data
    (rb'X a="say \"hi\", \\ ok", b="x=y,z"', {"a": b'say "hi", \\ ok', "b": b"x=y,z"}),
    (b'X a=""', {"a": b""}),
    # empty list elements are ignored (RFC 9110 §5.6.1)
    (b"X , a=1,, b=2 ,", {"a": b"1", "b": b"2"}),
    # obs-text in a quoted-string is kept as bytes, not decoded
    (b'X a="\xe4\xff"', {"a": b"\xe4\xff"}),
    # CSMS-10's "trailing data" is grammatical: one auth-param named by the base64
    (b"Basic Y3MxOnRvdGFsLXMzY3VyMyE= randomdata", {"y3mxonrvdgfslxmzy3vymye": b"randomdata"}),
])
def test_auth_params(value, params):
    credentials = parse_authorization(value)
    assert credentials.token68 is None
    assert dict(credentials.params) == params
    for name, param in params.items():
        assert credentials.param(name) == param


@pytest.mark.parametrize("value", [
    b"", b"   ", b"=QUwx", b'"Basic" QUwx', b"B\xc3\xa4sic abc", b"Ba:sic abc",
    b"Basic\tQUwx",                     # 1*SP after the scheme, not a tab
    b"Basic a b c",                     # neither token68 nor auth-params
    b"Basic QUwx QUwx",
    b"Basic abc, Token def",           # two credentials in one header
    b"X a=1 b=2",                       # no comma between params
    b"X =b", b"X ,", b'X a="unterminated', b'X a="x"y',
    b'X a="ctl\x01"', b'X a="nl\nx"', b"Basic QU\x00wx", b"X a=1, a=2", b"X A=1, a=2",
    b"Basic ====",
])
def test_malformed(value):
    with pytest.raises(MalformedAuthorization):
        parse_authorization(value)


def test_repeated_or_oversized_headers_are_malformed():
    assert read_authorization([]) is None
    with pytest.raises(MalformedAuthorization, match="more than one"):
        read_authorization([b"Basic QUwx", b"Basic QUwx"])
    with pytest.raises(MalformedAuthorization, match="too long"):
        read_authorization([b"Basic " + b"A" * MAX_AUTHORIZATION_BYTES])
    assert read_authorization([b"Basic " + b"A" * (MAX_AUTHORIZATION_BYTES - 6)]).scheme == "basic"


def test_params_are_bounded():
    many = b"X " + b", ".join(b"p%d=1" % i for i in range(MAX_AUTH_PARAMS))
    assert len(parse_authorization(many).params) == MAX_AUTH_PARAMS
    with pytest.raises(MalformedAuthorization, match="too many"):
        parse_authorization(many + b", extra=1")


def test_errors_and_repr_never_show_what_was_sent():
    secret = b"s3cr3t-value"
    with pytest.raises(MalformedAuthorization) as info:
        parse_authorization(b"Basic " + secret + b" " + secret)
    assert "s3cr3t" not in str(info.value)
    assert "s3cr3t" not in repr(parse_authorization(b"Token " + secret))
    assert "s3cr3t" not in repr(parse_authorization(b'Digest response="' + secret + b'"'))


# --- challenges ---------------------------------------------------------------------------

def test_challenge_quotes_every_param():
    assert challenge("Basic", [("realm", "Chargegate acme")]) == 'Basic realm="Chargegate acme"'
    assert challenge("Digest", [("realm", "r"), ("qop", "auth")]) == 'Digest realm="r", qop="auth"'
    assert challenge("Negotiate") == "Negotiate"
    assert challenge("EAP", token68="AQ==") == "EAP AQ=="
    assert quoted_string('a"b\\c') == '"a\\"b\\\\c"'


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\x00b", "\x7f", "\u20ac"])
def test_challenge_refuses_what_a_header_cannot_carry(bad):
    with pytest.raises(ValueError):
        quoted_string(bad)


@pytest.mark.parametrize("scheme, name", [("Ba sic", "realm"), ("Basic", "re alm"), ("", "realm")])
def test_challenge_refuses_names_that_are_not_tokens(scheme, name):
    with pytest.raises(ValueError):
        challenge(scheme, [(name, "x")])


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
               max_size=60))
def test_a_challenge_reads_back_as_what_was_written(value):
    """What `challenge` writes, the credentials grammar reads back (the two share their
    auth-param syntax), whatever the realm holds."""
    written = challenge("Digest", [("realm", value), ("qop", "auth")]).encode("latin-1")
    assert dict(parse_authorization(written).params) == {"realm": value.encode("latin-1"), "qop": b"auth"}


# --- any value at all -----------------------------------------------------------------------

_GRAMMAR_BYTES = st.sampled_from([b" ", b"\t", b",", b"=", b'"', b"\\", b"Basic", b"a", b"Z", b"9",
                                  b"+", b"/", b"-", b"\x00", b"\xff", b"\r", b"\n", b"==", b"QUwx"])


@settings(max_examples=1500, deadline=None)
@given(st.one_of(st.binary(max_size=300), st.lists(_GRAMMAR_BYTES, max_size=60).map(b"".join)))
@example(b'X a="' + b"\\" * 500)
@example(b"X " + b",=" * 2000)
@example(b"Basic " + b"=" * 5000)
def test_any_value_parses_or_is_malformed(value):
    """Never another exception, whatever arrives; and what parses is well-formed."""
    try:
        credentials = read_authorization([value])
    except MalformedAuthorization:
        return
    assert credentials.scheme and credentials.scheme == credentials.scheme.lower()
    assert credentials.token68 is None or not credentials.params
    assert len({name for name, _ in credentials.params}) == len(credentials.params)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=4))
def test_any_list_of_headers_parses_or_is_malformed(values):
    try:
        read_authorization(values)
    except MalformedAuthorization:
        assert values


# --- WWW-Authenticate, as a station client reads it --------------------------------------

@pytest.mark.parametrize("value, expected", [
    # The white paper's own example has two spaces after the scheme (CS-5).
    (b'Basic  realm="example"', [Credentials("basic", params=(("realm", b"example"),))]),
    (b'  BASIC   realm = "x"  ,  ', [Credentials("basic", params=(("realm", b"x"),))]),
    (b'Digest realm="a", qop="auth", algorithm=SHA-256, Token realm="b",Basic realm="c"', [
        Credentials("digest", params=(("realm", b"a"), ("qop", b"auth"), ("algorithm", b"SHA-256"))),
        Credentials("token", params=(("realm", b"b"),)),
        Credentials("basic", params=(("realm", b"c"),))]),
    (b'Bearer realm="r", error="invalid_token", error_description="a \\"quoted\\" word"', [
        Credentials("bearer", params=(("realm", b"r"), ("error", b"invalid_token"),
                                      ("error_description", b'a "quoted" word')))]),
    (b"Negotiate abc==, Foo", [Credentials("negotiate", token68=b"abc=="), Credentials("foo")]),
    (b"Foo, Bar", [Credentials("foo"), Credentials("bar")]),
])
def test_challenges(value, expected):
    assert parse_challenges(value) == expected


@pytest.mark.parametrize("value", [b'Basic realm="a" x', b'"x"', b'Basic realm="a", realm="b"', b"Basic ,=x"])
def test_malformed_challenges(value):
    with pytest.raises(MalformedAuthorization):
        parse_challenges(value)


@given(st.binary(max_size=200))
@settings(max_examples=300, deadline=None)
def test_challenges_never_raise_anything_else(value):
    try:
        parse_challenges(value)
    except MalformedAuthorization:
        pass


def test_challenges_written_here_read_back():
    written = challenge("Digest", [("realm", 'Chargegate "acme"'), ("algorithm", "SHA-256")], tokens=("algorithm",))
    assert parse_challenges(written.encode()) == [
        Credentials("digest", params=(("realm", b'Chargegate "acme"'), ("algorithm", b"SHA-256")))]
