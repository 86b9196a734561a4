"""lib/jose.py, the strict JOSE layer shared by the assertion validator and the Bearer
scheme: explicit algorithm lists and types are the caller's, none/HS* never pass.
(tests/oauth/test_assertions.py drives every rule through the validator.)"""
import pytest

from lib import jose


@pytest.mark.parametrize("alg", ["none", "NONE", "nOnE", "HS256", "hs512"])
def test_none_and_hmac_are_refused_whatever_the_callers_list(alg):
    with pytest.raises(jose.Refused) as info:
        jose.check_header({"alg": alg, "typ": "at+jwt", "kid": "k"}, types=jose.ACCESS_TOKEN_TYPES,
                          algorithms=[alg, "ES256"])
    assert info.value.reason == jose.Reason.ALG_FORBIDDEN


def test_the_callers_algorithms_and_types_are_explicit():
    header = {"alg": "RS256", "typ": "at+jwt", "kid": "k"}
    with pytest.raises(jose.Refused, match="alg_unsupported"):
        jose.check_header(header, types=jose.ACCESS_TOKEN_TYPES, algorithms=["ES256", "PS256"])
    with pytest.raises(jose.Refused, match="typ_wrong"):
        jose.check_header(header, types=jose.JWT_TYPES, algorithms=["RS256"])
    assert jose.check_header({**header, "typ": "Application/AT+JWT"}, types=jose.ACCESS_TOKEN_TYPES,
                             algorithms=["RS256"]) == ("k", "RS256")


@pytest.mark.parametrize("token, reason", [
    ("a.b", jose.Reason.NOT_COMPACT_JWS), ("a.b.c.d.e", jose.Reason.ENCRYPTED),
    ("eyJ9=.eyJ9.", jose.Reason.SEGMENT_NOT_BASE64URL), ("é.b.c", jose.Reason.NOT_COMPACT_JWS),
    ("a" * 20, jose.Reason.NOT_COMPACT_JWS),
])
def test_shape(token, reason):
    with pytest.raises(jose.Refused) as info:
        jose.split_compact_jws(token, 4096)
    assert info.value.reason == reason


def test_duplicate_members_and_non_json_constants_are_refused():
    with pytest.raises(jose.Refused, match="header_duplicate_member"):
        jose.decode_header(jose.base64.urlsafe_b64encode(b'{"alg":"ES256","alg":"none"}').rstrip(b"=").decode())
    with pytest.raises(jose.Refused, match="payload_malformed"):
        jose.parse_claims(b'{"exp": NaN}')
