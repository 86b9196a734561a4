"""The JWT assertion validator (oauth.assertions): RFC 7523 §2.1 grants and §2.2 client
authentication, OSDM's validation rules, RFC 8725's attack catalogue. Pure: no database."""
import functools
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oauth.assertions import (
    DESCRIPTIONS,
    AssertionRejected,
    Reason,
    Record,
    TrustRecord,
    Verified,
    validate,
)
from tests.oauth import assertion_attacks as aa

# "EdDSA" still works; joserfc reminds us that RFC 9864 prefers "Ed25519".
pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated:joserfc.errors.SecurityWarning")

NOW = 1_709_040_412  # the OSDM example's iat
AT_NOW = datetime.fromtimestamp(NOW, UTC)
AUDIENCE = aa.OSDM_AUDIENCE
CLIENT_ID = "osdm-consumer-1080-4"
PURPOSES = ["grant", "client_auth"]
ERROR = {"grant": "invalid_grant", "client_auth": "invalid_client"}


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@functools.cache
def cast_for(purpose: str, alg: str = "RS256") -> aa.Cast:
    """OSDM-shaped parties for the grant; iss = sub = client_id for client authentication."""
    if purpose == "client_auth":
        return aa.make_cast(alg=alg, issuer=CLIENT_ID, subject=CLIENT_ID, now=NOW)
    return aa.make_cast(alg=alg, now=NOW)


def records_of(signers_or_fields) -> list[TrustRecord]:
    """Trust records for signers, or from record_fields() dictionaries."""
    return [Record(**item) if isinstance(item, dict) else Record(**item.record_fields())
            for item in signers_or_fields]


def trusting(records):
    records = list(records)
    return lambda kid: [record for record in records if record.kid == kid]


def check(token: str, records, *, purpose="grant", now=AT_NOW, **options) -> Verified:
    options.setdefault("audiences", {AUDIENCE})
    if purpose == "client_auth":
        options.setdefault("client_id", CLIENT_ID)
    return validate(token, purpose=purpose, find_records=trusting(records), now=now, **options)


def refusal(token: str, records, **kwargs) -> AssertionRejected:
    with pytest.raises(AssertionRejected) as info:
        check(token, records, **kwargs)
    return info.value


def assert_refused(token: str, records, reason: Reason, **kwargs) -> AssertionRejected:
    rejected = refusal(token, records, **kwargs)
    assert rejected.reason == reason, rejected.description
    assert rejected.description == DESCRIPTIONS[reason]
    return rejected


@pytest.fixture
def osdm() -> aa.Signer:
    return cast_for("grant").good


@pytest.fixture
def client() -> aa.Signer:
    return cast_for("client_auth").good


# --- accepted assertions -------------------------------------------------------------------

@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"])
def test_an_osdm_shaped_grant_assertion_is_accepted(alg):
    signer = cast_for("grant", alg).good
    record = Record(**signer.record_fields())
    token = signer()

    verified = check(token, [record], purpose="grant")

    assert verified.record is record
    assert verified.claims["iss"] == aa.OSDM_ISSUER and verified.claims["sub"] == aa.OSDM_SUBJECT
    assert verified.jti == verified.claims["jti"]
    assert verified.scopes == ("uic_osdm",)


@pytest.mark.parametrize("alg", ["RS256", "ES256", "PS256"])
def test_a_private_key_jwt_client_assertion_is_accepted(alg):
    signer = cast_for("client_auth", alg).good
    verified = check(signer(), records_of([signer]), purpose="client_auth", client_id=CLIENT_ID)
    assert verified.claims["iss"] == verified.claims["sub"] == CLIENT_ID


def test_jti_is_kept_until_the_assertion_could_no_longer_be_accepted(osdm):
    """exp plus the leeway: storing it only until exp would let a replay through in the
    leeway after it."""
    verified = check(osdm(), records_of([osdm]), leeway_seconds=45)
    assert verified.expires_at == at(NOW + 300 + 45)
    assert verified.expires_at.tzinfo is not None


def test_the_record_is_the_key_source_even_when_a_record_lists_forbidden_algorithms(osdm):
    """Forbidden algorithms listed in a record count for nothing, the rest still works."""
    record = Record(**osdm.record_fields(algorithms=["none", "HS256", "RS256"]))
    assert check(osdm(), [record]).record is record
    hmac_token = osdm(key=osdm.key.as_pem(private=False), header_overrides={"alg": "HS256"})
    assert_refused(hmac_token, [record], Reason.ALG_FORBIDDEN)
    assert_refused(osdm(header_overrides={"alg": "none"}), [record], Reason.ALG_FORBIDDEN)


# --- the attack catalogue, for both purposes ---------------------------------------------------

EXPECTED = {
    "alg-none": Reason.ALG_FORBIDDEN,
    "alg-None": Reason.ALG_FORBIDDEN,
    "alg-NONE": Reason.ALG_FORBIDDEN,
    "alg-none-with-real-signature": Reason.ALG_FORBIDDEN,
    "hs256-keyed-with-public-pem": Reason.ALG_FORBIDDEN,
    "hs256-keyed-with-public-jwk-json": Reason.ALG_FORBIDDEN,
    "hs512-keyed-with-public-pem": Reason.ALG_FORBIDDEN,
    "alg-unsupported": Reason.ALG_UNSUPPORTED,
    "alg-not-in-record-allowlist": Reason.ALG_NOT_ALLOWED,
    "foreign-kid": Reason.KID_UNKNOWN,
    "trusted-kid-attacker-signature": Reason.SIGNATURE_INVALID,
    "embedded-jwk-attacker-key": Reason.SIGNATURE_INVALID,
    "embedded-jwk-without-kid": Reason.KID_MISSING,
    "jku-attacker-url": Reason.SIGNATURE_INVALID,
    "x5u-attacker-url": Reason.SIGNATURE_INVALID,
    "signature-stripped": Reason.SIGNATURE_MISSING,
    "signature-transplanted": Reason.SIGNATURE_INVALID,
    "wrong-iss": Reason.ISS_MISMATCH,
    "wrong-sub": Reason.SUB_MISMATCH,
    "missing-iss": Reason.ISS_MISSING,
    "missing-sub": Reason.SUB_MISSING,
    "wrong-aud": Reason.AUD_MISMATCH,
    "aud-array-without-us": Reason.AUD_MISMATCH,
    "aud-empty-array": Reason.AUD_INVALID,
    "missing-aud": Reason.AUD_MISSING,
    "expired": Reason.EXPIRED,
    "future-nbf": Reason.NOT_YET_VALID,
    "iat-in-future": Reason.IAT_IN_FUTURE,
    "lifetime-too-long": Reason.LIFETIME_TOO_LONG,
    "lifetime-too-long-without-iat": Reason.LIFETIME_TOO_LONG,
    "missing-exp": Reason.EXP_MISSING,
    "string-exp": Reason.EXP_NOT_NUMBER,
    "string-nbf": Reason.NBF_NOT_NUMBER,
    "string-iat": Reason.IAT_NOT_NUMBER,
    "boolean-exp": Reason.EXP_NOT_NUMBER,
    "nan-exp": Reason.PAYLOAD_MALFORMED,
    "infinite-exp": Reason.EXP_NOT_NUMBER,
    "missing-jti": Reason.JTI_MISSING,
    "iti-instead-of-jti": Reason.JTI_SPELLED_ITI,
    "empty-jti": Reason.JTI_INVALID,
    "numeric-jti": Reason.JTI_INVALID,
    "overlong-jti": Reason.JTI_INVALID,
    "missing-kid": Reason.KID_MISSING,
    "numeric-kid": Reason.KID_INVALID,
    "missing-typ": Reason.TYP_MISSING,
    "wrong-typ-access-token": Reason.TYP_WRONG,
    "missing-alg": Reason.ALG_MISSING,
    "crit-header": Reason.CRIT_UNSUPPORTED,
    "b64-false-header": Reason.B64_UNSUPPORTED,
    "oversized": Reason.OVERSIZED,
    "jwe-five-parts": Reason.ENCRYPTED,
    "two-parts": Reason.NOT_COMPACT_JWS,
    "four-parts": Reason.NOT_COMPACT_JWS,
    "garbage-base64": Reason.SEGMENT_NOT_BASE64URL,
    "padded-base64": Reason.SEGMENT_NOT_BASE64URL,
    "non-ascii": Reason.NOT_COMPACT_JWS,
    "empty-header-segment": Reason.NOT_COMPACT_JWS,
    "payload-not-base64url-signed": Reason.SEGMENT_NOT_BASE64URL,
    "header-not-object": Reason.HEADER_NOT_OBJECT,
    "payload-not-object": Reason.PAYLOAD_NOT_OBJECT,
    "payload-not-json": Reason.PAYLOAD_MALFORMED,
    "duplicate-header-member": Reason.HEADER_DUPLICATE_MEMBER,
    "duplicate-payload-member": Reason.PAYLOAD_DUPLICATE_MEMBER,
    "es256-header-on-rsa-record": Reason.KEY_ALG_MISMATCH,
    "rsa-1024-record-key": Reason.KEY_TOO_WEAK,
}
CATALOGUE_ALGS = ["RS256", "ES256"]


@functools.cache
def catalogue(purpose: str, alg: str) -> dict[str, str]:
    return dict(cast_for(purpose, alg).attacks())


@pytest.mark.parametrize("alg", CATALOGUE_ALGS)
@pytest.mark.parametrize("purpose", PURPOSES)
def test_every_attack_has_an_expected_refusal_and_the_genuine_assertion_passes(purpose, alg):
    cast = cast_for(purpose, alg)
    assert set(catalogue(purpose, alg)) == set(EXPECTED)
    assert check(cast.good(), records_of(cast.records()), purpose=purpose)


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("alg", CATALOGUE_ALGS)
@pytest.mark.parametrize("purpose", PURPOSES)
def test_attack_is_refused(purpose, alg, name):
    token = catalogue(purpose, alg)[name]
    rejected = assert_refused(token, records_of(cast_for(purpose, alg).records()), EXPECTED[name],
                              purpose=purpose)
    assert rejected.error == ERROR[purpose]
    assert token[:40] not in rejected.description


# --- header rules ----------------------------------------------------------------------------

@pytest.mark.parametrize("typ", ["JWT", "jwt", "Jwt", "application/jwt", "application/JWT"])
def test_typ_is_compared_case_insensitively_as_a_media_type(osdm, typ):
    assert check(osdm(header_overrides={"typ": typ}), records_of([osdm]))


@pytest.mark.parametrize("typ", ["JWS", "at+jwt", "JWT ", "text/jwt", "", 1, None])
def test_other_types_are_refused(osdm, typ):
    assert_refused(osdm(header_overrides={"typ": typ}), records_of([osdm]), Reason.TYP_WRONG)


@pytest.mark.parametrize("kid", ["", None, ["1234567890"], "k" * 257])
def test_kid_must_be_a_short_non_empty_string(osdm, kid):
    assert_refused(osdm(header_overrides={"kid": kid}), records_of([osdm]), Reason.KID_INVALID)


def test_a_kid_of_256_characters_is_fine(osdm):
    signer = replace(osdm, kid="k" * 256)
    assert check(signer(), records_of([signer]))


@pytest.mark.parametrize("alg", ["none", "nOnE", "HS256", "HS384", "HS512", "hs256", "Hs256"])
def test_unsigned_and_symmetric_algorithms_are_always_forbidden(osdm, alg):
    assert_refused(osdm(header_overrides={"alg": alg}, sign_as="RS256"), records_of([osdm]), Reason.ALG_FORBIDDEN)


@pytest.mark.parametrize("alg", ["rs256", "ES256K", "RSA-OAEP", "PS1", 256, ""])
def test_unknown_algorithms_are_refused(osdm, alg):
    expected = Reason.ALG_MISSING if alg in ("", 256) else Reason.ALG_UNSUPPORTED
    assert_refused(osdm(header_overrides={"alg": alg}, sign_as="RS256"), records_of([osdm]), expected)


def test_key_hints_and_unregistered_parameters_are_ignored(osdm):
    attacker = aa.public_jwk(aa.rsa_key(2048, 3))
    token = osdm(header_overrides={"jwk": attacker, "jku": "not even a URL", "x5c": "junk", "x5t": 7,
                                   "x-vendor": {"anything": True}})
    assert check(token, records_of([osdm]))


def test_registered_parameters_must_have_their_registered_type(osdm):
    assert_refused(osdm(header_overrides={"cty": 42}), records_of([osdm]), Reason.HEADER_INVALID)


def test_the_osdm_example_token_is_refused_for_its_errata():
    """Its JSON uses '=' for ':' (and string timestamps, and iti)."""
    example = ("eyJhbGciPSJSUzI1NiIsInR5cCI9IkpXVCIsImtpZCI9IjEyMzQ1Njc4OTAifQ."
               "eyJpc3MiPSJodHRwczovL3d3dy5iYWhuLmRlIiwic3ViIj0iVUlDX09TRE1fMTA4MF80IiwiYXVkIj0iaHR0cHM6Ly9vc2Rt"
               "LXByb3ZpZGVyLmV1L2xvZ29uLXNlcnZlci9wdWJsaWMvdG9rZW4iLCJleHAiPSIxNzA5MDQxMzEyIiwic2NvcGUiPSJ1aWNf"
               "b3NkbSIsIm5iZiI9IjE3MDkwNDAyOTIiLCJpYXQiPSIxNzA5MDQwNDEyIiwiaXRpIj0iZTU3YjA5MDEtMTljZi00NzFlLTgx"
               "ZmUtNjFiNmE3ZWUxOWI3In0.c2lnbmF0dXJl")
    assert_refused(example, records_of([cast_for("grant").good]), Reason.HEADER_MALFORMED)


def test_a_corrected_osdm_example_with_string_timestamps_is_still_refused(osdm):
    claims = {"exp": str(NOW + 900), "nbf": str(NOW - 120), "iat": str(NOW)}
    assert_refused(osdm(claims_overrides=claims), records_of([osdm]), Reason.EXP_NOT_NUMBER)


# --- size and shape ---------------------------------------------------------------------------

def test_size_limit_is_inclusive(osdm):
    token = osdm()
    assert check(token, records_of([osdm]), max_bytes=len(token))
    assert_refused(token, records_of([osdm]), Reason.OVERSIZED, max_bytes=len(token) - 1)


def test_an_oversized_token_is_refused_before_anything_looks_at_it(osdm):
    def must_not_be_called(kid):
        raise AssertionError("records were looked up for an oversized token")

    with pytest.raises(AssertionRejected) as info:
        validate("a" * 9000, purpose="grant", find_records=must_not_be_called, audiences={AUDIENCE}, now=AT_NOW)
    assert info.value.reason == Reason.OVERSIZED


def test_non_canonical_base64url_is_refused_even_when_validly_signed(osdm):
    """Unused trailing bits set: decodes to the same bytes, but is another spelling."""
    header = aa.json_text(osdm.header())
    header += " " * ((1 - len(header)) % 3)  # one byte left over: the last character has 4 unused bits
    segment = aa.b64url(header)
    assert segment[-1] in "AQgw"
    sloppy = segment[:-1] + chr(ord(segment[-1]) + 1)
    payload = aa.b64url(aa.json_text(osdm.claims()))
    assert check(aa.sign_segments(segment, payload, osdm.key, osdm.alg), records_of([osdm]))
    assert_refused(aa.sign_segments(sloppy, payload, osdm.key, osdm.alg), records_of([osdm]),
                   Reason.SEGMENT_NOT_BASE64URL)


def test_padding_is_refused(osdm):
    assert_refused(osdm() + "=", records_of([osdm]), Reason.SEGMENT_NOT_BASE64URL)


# --- trust records -----------------------------------------------------------------------------

def test_retired_key_is_refused_from_the_moment_of_retirement(osdm):
    retiring = Record(**osdm.record_fields(retired_at=AT_NOW))
    assert_refused(osdm(), [retiring], Reason.KEY_RETIRED)
    assert check(osdm(), [replace(retiring, retired_at=AT_NOW + timedelta(seconds=1))])


def test_validity_window_is_inclusive_at_both_ends(osdm):
    record = Record(**osdm.record_fields(valid_from=AT_NOW, valid_until=AT_NOW))
    assert check(osdm(), [record])
    assert_refused(osdm(), [replace(record, valid_from=AT_NOW + timedelta(seconds=1))], Reason.KEY_NOT_YET_VALID)
    assert_refused(osdm(), [replace(record, valid_until=AT_NOW - timedelta(seconds=1))], Reason.KEY_EXPIRED)


def test_rollover_both_keys_work_until_the_old_one_ends_then_only_the_new_one():
    """OSDM key rollover: the consumer registers a new kid and key; the old record stays
    valid until T, the new one from before T."""
    old = replace(cast_for("grant").good, kid="2023", key=aa.rsa_key(2048, 11), lifetime=60)
    new = replace(old, kid="2024", key=aa.rsa_key(2048, 12))
    end_of_old = NOW + 3600
    records = [Record(**old.record_fields(valid_until=at(end_of_old))),
               Record(**new.record_fields(valid_from=at(NOW - 60)))]

    for moment in (NOW, end_of_old - 1, end_of_old):
        assert check(replace(old, now=moment)(), records, now=at(moment)).record.kid == "2023"
        assert check(replace(new, now=moment)(), records, now=at(moment)).record.kid == "2024"
    after = end_of_old + 1
    assert_refused(replace(old, now=after)(), records, Reason.KEY_EXPIRED, now=at(after))
    assert check(replace(new, now=after)(), records, now=at(after)).record.kid == "2024"


def test_records_with_another_kid_are_not_candidates(osdm):
    other = Record(**osdm.record_fields(kid="someone-else"))
    with pytest.raises(AssertionRejected) as info:
        validate(osdm(), purpose="grant", find_records=lambda kid: [other], audiences={AUDIENCE}, now=AT_NOW)
    assert info.value.reason == Reason.KID_UNKNOWN


def test_two_consumers_sharing_a_kid_each_get_their_own_record_and_cannot_swap(osdm):
    """OSDM: the kid is chosen by the consumer, so two may pick the same one. Each token
    is checked against its own (sub, kid, key); signing another's claims fails."""
    other = replace(osdm, issuer="https://other-consumer.eu/", subject="UIC_OSDM_1185_1",
                    key=aa.rsa_key(2048, 21))
    records = records_of([osdm, other])

    assert check(osdm(), records).record.subject == osdm.subject
    assert check(other(), records).record.subject == other.subject
    impersonation = other(claims_overrides={"iss": osdm.issuer, "sub": osdm.subject})
    assert_refused(impersonation, records, Reason.ISS_MISMATCH)

    # When no record verifies, the refusal is about the record the token claims to be for.
    retired = [replace(records[0], retired_at=AT_NOW), records[1]]
    assert_refused(osdm(), list(reversed(retired)), Reason.KEY_RETIRED)


def test_one_key_registered_for_two_subjects_serves_both(osdm):
    """Same kid, same key, two usernames: the claimed (iss, sub) picks the record; the
    signature alone could not tell them apart."""
    second = replace(osdm, subject="UIC_OSDM_1080_5")
    records = records_of([osdm, second])
    assert check(osdm(), records).record.subject == osdm.subject
    assert check(second(), records).record.subject == second.subject
    assert check(second(), list(reversed(records))).record.subject == second.subject


@pytest.mark.parametrize(("change", "reason"), [
    ({"d": "AQAB"}, Reason.KEY_UNUSABLE),
    ({"use": "enc"}, Reason.KEY_UNUSABLE),
    ({"key_ops": ["encrypt"]}, Reason.KEY_UNUSABLE),
    ({"key_ops": "verify"}, Reason.KEY_UNUSABLE),
    ({"alg": "PS256"}, Reason.KEY_ALG_MISMATCH),
    ({"n": "not base64!"}, Reason.KEY_UNUSABLE),
    ({"e": 65537}, Reason.KEY_UNUSABLE),
    ({"kty": "oct"}, Reason.KEY_ALG_MISMATCH),
    ({"kty": None}, Reason.KEY_UNUSABLE),
])
def test_a_record_key_that_does_not_fit_is_refused_explicitly(osdm, change, reason):
    record = Record(**osdm.record_fields())
    broken = replace(record, public_jwk={**record.public_jwk, **change})
    assert_refused(osdm(), [broken], reason)


def test_a_record_key_with_its_own_matching_restrictions_is_fine(osdm):
    record = Record(**osdm.record_fields())
    restricted = replace(record, public_jwk={**record.public_jwk, "use": "sig", "alg": "RS256",
                                             "key_ops": ["verify"], "kid": osdm.kid})
    assert check(osdm(), [restricted])


def test_a_record_that_is_not_a_jwk_is_unusable(osdm):
    assert_refused(osdm(), [replace(Record(**osdm.record_fields()), public_jwk="-----BEGIN")], Reason.KEY_UNUSABLE)


@pytest.mark.parametrize(("alg", "registered"), [
    ("ES256", lambda: aa.ec_key("P-384")),
    ("ES384", lambda: aa.ec_key("P-256")),
    ("ES512", lambda: aa.ec_key("P-256")),
    ("ES256", lambda: aa.okp_key("Ed25519")),
    ("EdDSA", lambda: aa.okp_key("X25519")),
    ("Ed25519", lambda: aa.okp_key("Ed448")),
    ("RS256", lambda: aa.ec_key("P-256")),
    ("PS256", lambda: aa.okp_key("Ed25519")),
])
def test_key_type_and_curve_must_fit_the_algorithm(osdm, alg, registered):
    signer = replace(osdm, alg=alg, key=aa.key_for(alg))
    record = Record(**signer.record_fields(public_jwk=aa.public_jwk(registered())))
    assert_refused(signer(), [record], Reason.KEY_ALG_MISMATCH)


def test_an_ec_point_off_the_curve_is_unusable():
    signer = cast_for("grant", "ES256").good
    jwk = signer.public_jwk()
    off_curve = {**jwk, "y": jwk["x"]}
    assert_refused(signer(), [Record(**signer.record_fields(public_jwk=off_curve))], Reason.KEY_UNUSABLE)


def test_rsa_keys_of_2048_bits_are_the_floor(osdm):
    assert check(osdm(), records_of([osdm]))  # the catalogue's rsa-1024-record-key covers below
    assert aa.rsa_key(2048).raw_value.key_size == 2048


# --- claims ------------------------------------------------------------------------------------

def test_client_authentication_needs_iss_and_sub_to_be_the_client_id(client):
    records = records_of([client])
    assert check(client(), records, purpose="client_auth", client_id=CLIENT_ID)
    assert check(client(), records, purpose="client_auth", client_id=None)
    rejected = assert_refused(client(), records, Reason.CLIENT_ID_MISMATCH, purpose="client_auth",
                              client_id="another-client")
    assert rejected.error == "invalid_client"


def test_client_authentication_refuses_iss_different_from_sub_even_if_registered(osdm):
    """The OSDM-shaped record (iss a URL, sub a username) is fine for the grant only."""
    assert check(osdm(), records_of([osdm]), purpose="grant", client_id="ignored-for-the-grant")
    for client_id in (None, osdm.subject):
        rejected = assert_refused(osdm(), records_of([osdm]), Reason.CLIENT_ID_MISMATCH, purpose="client_auth",
                                  client_id=client_id)
        assert rejected.error == "invalid_client"


@pytest.mark.parametrize("aud", [AUDIENCE, [AUDIENCE], ["https://elsewhere.example/", AUDIENCE]])
def test_aud_may_be_a_string_or_an_array_naming_us(osdm, aud):
    assert check(osdm(claims_overrides={"aud": aud}), records_of([osdm]))


@pytest.mark.parametrize("aud", [None, 42, {"aud": AUDIENCE}, [AUDIENCE, 7], [[AUDIENCE]]])
def test_aud_of_another_shape_is_refused(osdm, aud):
    assert_refused(osdm(claims_overrides={"aud": aud}), records_of([osdm]), Reason.AUD_INVALID)


def test_any_of_our_audiences_will_do(osdm):
    token = osdm(claims_overrides={"aud": "https://provider.example/issuer"})
    assert check(token, records_of([osdm]), audiences={AUDIENCE, "https://provider.example/issuer"})
    assert_refused(token, records_of([osdm]), Reason.AUD_MISMATCH, audiences=[AUDIENCE])


def test_aud_is_compared_exactly(osdm):
    assert_refused(osdm(claims_overrides={"aud": AUDIENCE + "/"}), records_of([osdm]), Reason.AUD_MISMATCH)


@pytest.mark.parametrize("value", ["1709041312", True, None, [NOW], {"t": NOW}])
@pytest.mark.parametrize(("claim", "reason"), [
    ("exp", Reason.EXP_NOT_NUMBER), ("nbf", Reason.NBF_NOT_NUMBER), ("iat", Reason.IAT_NOT_NUMBER)])
def test_time_claims_must_be_json_numbers(osdm, claim, reason, value):
    assert_refused(osdm(claims_overrides={claim: value}), records_of([osdm]), reason)


def test_time_claims_may_be_fractional(osdm):
    token = osdm(claims_overrides={"exp": NOW + 60.5, "iat": NOW - 0.25, "nbf": NOW - 10.75})
    assert check(token, records_of([osdm])).expires_at == at(NOW + 60.5 + 30)


def test_a_huge_integer_exp_is_not_a_number_we_accept(osdm):
    assert_refused(osdm(claims_overrides={"exp": 10**400}), records_of([osdm]), Reason.EXP_NOT_NUMBER)


class TestLeewayEdges:
    """now < exp + leeway; nbf - leeway <= now; iat - leeway <= now; lifetime <= max."""

    LEEWAY = 30

    def test_exp(self, osdm):
        token, exp = osdm(), NOW + 300
        assert check(token, records_of([osdm]), now=at(exp + self.LEEWAY - 1))
        assert_refused(token, records_of([osdm]), Reason.EXPIRED, now=at(exp + self.LEEWAY))

    def test_exp_without_leeway(self, osdm):
        token, exp = osdm(), NOW + 300
        assert check(token, records_of([osdm]), now=at(exp - 0.001), leeway_seconds=0)
        assert_refused(token, records_of([osdm]), Reason.EXPIRED, now=at(exp), leeway_seconds=0)

    def test_nbf(self, osdm):
        token = osdm(claims_overrides={"nbf": NOW + self.LEEWAY, "iat": NOW})
        assert check(token, records_of([osdm]))
        token = osdm(claims_overrides={"nbf": NOW + self.LEEWAY + 1, "iat": NOW})
        assert_refused(token, records_of([osdm]), Reason.NOT_YET_VALID)

    def test_iat(self, osdm):
        assert check(osdm(claims_overrides={"iat": NOW + self.LEEWAY}), records_of([osdm]))
        assert_refused(osdm(claims_overrides={"iat": NOW + self.LEEWAY + 1}), records_of([osdm]),
                       Reason.IAT_IN_FUTURE)

    def test_lifetime_from_iat(self, osdm):
        assert check(osdm(claims_overrides={"iat": NOW - 100, "exp": NOW + 500}), records_of([osdm]))
        assert_refused(osdm(claims_overrides={"iat": NOW - 100, "exp": NOW + 501}), records_of([osdm]),
                       Reason.LIFETIME_TOO_LONG)

    def test_lifetime_from_now_without_iat(self, osdm):
        assert check(osdm(claims_overrides={"exp": NOW + 600}, drop=["iat"]), records_of([osdm]))
        assert_refused(osdm(claims_overrides={"exp": NOW + 601}, drop=["iat"]), records_of([osdm]),
                       Reason.LIFETIME_TOO_LONG)

    def test_lifetime_limit_is_configurable(self, osdm):
        """OSDM's own example is valid for 900 s: a deployment may allow that."""
        token = osdm(claims_overrides={"iat": NOW, "exp": NOW + 900})
        assert_refused(token, records_of([osdm]), Reason.LIFETIME_TOO_LONG)
        assert check(token, records_of([osdm]), max_lifetime_seconds=900)


def test_optional_time_claims_may_be_absent(osdm):
    assert check(osdm(drop=["nbf", "iat"]), records_of([osdm]))


def test_jti_of_256_characters_is_fine(osdm):
    assert check(osdm(claims_overrides={"jti": "j" * 256}), records_of([osdm])).jti == "j" * 256


def test_iti_next_to_a_real_jti_is_just_an_unknown_claim(osdm):
    assert check(osdm(claims_overrides={"iti": "x"}), records_of([osdm]))


# --- scope -------------------------------------------------------------------------------------

@pytest.fixture
def wide(osdm) -> Record:
    return Record(**osdm.record_fields(scopes=["uic_osdm", "offers", "bookings"]))


def test_without_scope_claim_or_request_the_record_scopes_are_granted(osdm, wide):
    assert check(osdm(drop=["scope"]), [wide]).scopes == ("uic_osdm", "offers", "bookings")


def test_the_asserted_scope_is_granted_when_nothing_is_requested(osdm, wide):
    assert check(osdm(claims_overrides={"scope": "offers  uic_osdm"}), [wide]).scopes == ("offers", "uic_osdm")


def test_osdm_requests_scope_uic_osdm_in_both_places(osdm):
    assert check(osdm(), records_of([osdm]), requested_scopes=["uic_osdm"]).scopes == ("uic_osdm",)


def test_requested_scopes_narrow_the_grant(osdm, wide):
    token = osdm(claims_overrides={"scope": "uic_osdm offers"})
    assert check(token, [wide], requested_scopes=["offers", "offers"]).scopes == ("offers",)
    assert check(osdm(drop=["scope"]), [wide], requested_scopes=["bookings"]).scopes == ("bookings",)


@pytest.mark.parametrize("requested", [[], [""], "".split(" ")])
def test_an_empty_request_is_no_request(osdm, wide, requested):
    assert check(osdm(drop=["scope"]), [wide], requested_scopes=requested).scopes == (
        "uic_osdm", "offers", "bookings")


def test_a_request_split_on_double_spaces_still_counts(osdm, wide):
    token = osdm(claims_overrides={"scope": "uic_osdm offers"})
    assert check(token, [wide], requested_scopes="offers  uic_osdm".split(" ")).scopes == ("offers", "uic_osdm")


@pytest.mark.parametrize("purpose", PURPOSES)
def test_requesting_beyond_the_record_is_invalid_scope(purpose):
    signer = cast_for(purpose).good
    rejected = assert_refused(signer(), records_of([signer]), Reason.REQUESTED_SCOPE_NOT_ALLOWED,
                              purpose=purpose, requested_scopes=["uic_osdm", "admin"])
    assert rejected.error == "invalid_scope"


def test_requesting_beyond_the_asserted_scope_is_invalid_scope(osdm, wide):
    rejected = assert_refused(osdm(), [wide], Reason.REQUESTED_SCOPE_NOT_ALLOWED, requested_scopes=["offers"])
    assert rejected.error == "invalid_scope"


@pytest.mark.parametrize("requested", [["uic osdm"], ['"uic_osdm"'], ["uic_osdm\t"], [7]])
def test_malformed_requested_scopes_are_invalid_scope(osdm, requested):
    rejected = assert_refused(osdm(), records_of([osdm]), Reason.REQUESTED_SCOPE_INVALID,
                              requested_scopes=requested)
    assert rejected.error == "invalid_scope"


@pytest.mark.parametrize("purpose", PURPOSES)
def test_an_assertion_claiming_more_than_its_record_allows_is_refused(purpose):
    signer = cast_for(purpose).good
    rejected = assert_refused(signer(claims_overrides={"scope": "uic_osdm admin"}), records_of([signer]),
                              Reason.SCOPE_NOT_ALLOWED, purpose=purpose)
    assert rejected.error == ERROR[purpose]


@pytest.mark.parametrize("scope", ["", "   ", ["uic_osdm"], 1, "uic_osdm\tother", 'uic_"osdm"'])
def test_a_malformed_scope_claim_is_refused(osdm, scope):
    assert_refused(osdm(claims_overrides={"scope": scope}), records_of([osdm]), Reason.SCOPE_INVALID)


# --- the contract with callers ---------------------------------------------------------------

@pytest.mark.parametrize(("argument", "value", "error"), [
    ("now", datetime(2024, 2, 27, 13, 0), ValueError),
    ("audiences", set(), ValueError),
    ("audiences", AUDIENCE, ValueError),
    ("purpose", "password", ValueError),
    ("requested_scopes", "uic_osdm", TypeError),
    ("leeway_seconds", -1, ValueError),
])
def test_programming_errors_are_not_rejections(osdm, argument, value, error):
    arguments = {"purpose": "grant", "find_records": trusting(records_of([osdm])), "audiences": {AUDIENCE},
                 "now": AT_NOW, argument: value}
    with pytest.raises(error) as info:
        validate(osdm(), **arguments)
    assert not isinstance(info.value, AssertionRejected)


def test_a_token_that_is_not_text_is_a_programming_error(osdm):
    with pytest.raises(TypeError):
        check(osdm().encode(), records_of([osdm]))


def test_every_reason_has_a_description_fit_for_error_description():
    """RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E."""
    assert set(DESCRIPTIONS) == set(Reason)
    for description in DESCRIPTIONS.values():
        assert re.fullmatch(r"[\x20\x21\x23-\x5b\x5d-\x7e]+", description), description
    assert len(set(DESCRIPTIONS.values())) == len(DESCRIPTIONS), "each rule has its own description"


def test_assertion_rejected_can_be_raised_by_callers_with_their_own_description():
    rejected = AssertionRejected("invalid_grant", "the assertion's jti was already used")
    assert isinstance(rejected, ValueError)
    assert (rejected.error, rejected.description, rejected.reason) == (
        "invalid_grant", "the assertion's jti was already used", None)


def test_verified_is_immutable(osdm):
    verified = check(osdm(), records_of([osdm]))
    with pytest.raises(AttributeError):
        verified.jti = "another"


# --- properties --------------------------------------------------------------------------------

PROPERTY_SETTINGS = settings(max_examples=150, deadline=None,
                             suppress_health_check=[HealthCheck.function_scoped_fixture])
GOOD = cast_for("grant").good
GOOD_RECORDS = records_of([GOOD])
GOOD_TOKEN = GOOD()
BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6)


@PROPERTY_SETTINGS
@given(st.text(max_size=300))
def test_any_text_is_refused_with_an_assertion_rejection(text):
    with pytest.raises(AssertionRejected):
        check(text, GOOD_RECORDS)


@PROPERTY_SETTINGS
@given(st.data())
def test_changing_any_one_character_of_a_valid_assertion_breaks_it(data):
    index = data.draw(st.integers(0, len(GOOD_TOKEN) - 1))
    replacement = data.draw(st.sampled_from(BASE64URL + ".").filter(lambda c: c != GOOD_TOKEN[index]))
    with pytest.raises(AssertionRejected):
        check(GOOD_TOKEN[:index] + replacement + GOOD_TOKEN[index + 1:], GOOD_RECORDS)


@PROPERTY_SETTINGS
@given(st.sampled_from([("claims", "iss"), ("claims", "sub"), ("claims", "aud"), ("header", "kid"),
                        ("header", "alg")]), JSON_VALUES)
def test_any_other_value_for_an_identifying_member_is_refused(place, value):
    where, name = place
    legitimate = (GOOD.header() if where == "header" else GOOD.claims())[name]
    if value == legitimate or (name == "aud" and isinstance(value, list) and AUDIENCE in value):
        return
    overrides = {"header_overrides" if where == "header" else "claims_overrides": {name: value}}
    with pytest.raises(AssertionRejected):
        check(GOOD(sign_as=GOOD.alg, **overrides), GOOD_RECORDS)


@PROPERTY_SETTINGS
@given(st.sampled_from(["exp", "nbf", "iat"]),
       JSON_VALUES.filter(lambda v: isinstance(v, bool) or not isinstance(v, int | float)))
def test_time_claims_that_are_not_numbers_are_refused(name, value):
    with pytest.raises(AssertionRejected):
        check(GOOD(claims_overrides={name: value}), GOOD_RECORDS)


@PROPERTY_SETTINGS
@given(st.binary(max_size=200), st.binary(max_size=200))
def test_validly_signed_junk_never_gets_past_the_rules(header, payload):
    token = aa.sign_segments(aa.b64url(header), aa.b64url(payload), GOOD.key, GOOD.alg)
    with pytest.raises(AssertionRejected):
        check(token, GOOD_RECORDS)
