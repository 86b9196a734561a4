"""The handshake's decision (`station_auth.authenticate`) and the station's method policy,
without a server: the white paper's CSMS cases as the decision sees them.

The same cases against a live server, with a real client: test_station_auth_live.py."""
import base64
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from csms.auth import basic, policy, station_auth
from csms.auth.keys import StoredKeys, hash_key
from csms.auth.schemes import Registry, Verdict
from csms.auth.station_auth import SCHEMES, Decision, Subject, authenticate, challenges, presented
from csms.protocol.versions import OcppVersion
from lib.http_auth import MAX_AUTHORIZATION_BYTES
from tests.factories import AL1000_KEY

REALM = "Chargegate acme"
CHALLENGE = [f'Basic realm="{REALM}"']


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


GOOD = f"Basic {b64(b'AL1000:' + AL1000_KEY)}"


@pytest.fixture(scope="module")
def keys():
    return StoredKeys((hash_key(AL1000_KEY, generated=True),))


def subject(keys, methods=("basic",), accept_hex=True, identity="AL1000"):
    return Subject(identity=identity, realm=REALM, methods=methods, keys=keys, accept_hex=accept_hex)


def decide(keys, *headers: str | bytes, **kwargs):
    values = [h if isinstance(h, bytes) else h.encode("latin-1") for h in headers]
    return authenticate(subject(keys, **kwargs), values)


def test_valid_basic_is_ok_and_names_the_key_and_method(keys):
    result = decide(keys, GOOD)
    assert result.decision is Decision.OK
    assert result.key_hash == keys.hashes[0] and result.method == "basic" and result.challenges == []


def test_csms_1_no_credentials_get_the_challenges(keys):
    result = decide(keys)
    assert (result.decision, result.challenges, result.reason) == (Decision.CHALLENGE, CHALLENGE, "no credentials")


@pytest.mark.parametrize("header", [
    f"Basic {b64(b'AL1000:' + bytes(20))}",      # CSMS-2: wrong key
    f"Basic {b64(b'AL1001:' + AL1000_KEY)}",     # wrong login
    f"Basic {b64(b'AL1000:')}",                   # no password (a 2.0.1 station without one)
    f"Basic {b64(b'AL1000:' + bytes(65))}",      # longer than any secret
])
def test_csms_2_wrong_basic_credentials_get_the_challenges(keys, header):
    result = decide(keys, header)
    assert (result.decision, result.challenges) == (Decision.CHALLENGE, CHALLENGE)


@pytest.mark.parametrize("header, reason", [
    ("Foo bar", "an unknown scheme not allowed"),                         # CSMS-5
    ("Token 0123456789abcdefghij", "token not allowed"),                  # CSMS-3 (Token not offered yet)
    ('Digest username="AL1000", response="x"', "digest not allowed"),
    ("Bearer a.b.c", "bearer not allowed"),
    ("0001020304050607FFFFFFFFFFFFFFFFFFFFFFFF", "an unknown scheme not allowed"),  # no scheme: never echoed
])
def test_csms_3_5_schemes_not_allowed_get_the_challenges(keys, header, reason):
    result = decide(keys, header)
    assert (result.decision, result.challenges, result.reason) == (Decision.CHALLENGE, CHALLENGE, reason)


def test_downgrade_protection_a_method_not_allowed_is_refused_even_with_valid_credentials(keys):
    """White paper, CSMS configuration: with Basic off for the station, a valid Basic
    password earns a 401 with the challenges of what is allowed, and is not even parsed."""
    result = decide(keys, GOOD, methods=())
    assert (result.decision, result.challenges) == (Decision.CHALLENGE, [])
    assert decide(keys, "Basic QU-x", methods=()).decision is Decision.CHALLENGE  # Basic would say 400


@pytest.mark.parametrize("scheme", ["Basic", "BASIC", "basic", "bAsIc", "BASic"])
def test_csms_7_scheme_names_in_any_case(keys, scheme):
    assert decide(keys, f"{scheme} {b64(b'AL1000:' + AL1000_KEY)}").decision is Decision.OK


@pytest.mark.parametrize("header", [f"   {GOOD}", f"{GOOD}   ", GOOD.replace(" ", "     "), f"\t{GOOD}\t "])
def test_csms_8_extra_whitespace(keys, header):
    assert decide(keys, header).decision is Decision.OK


@pytest.mark.parametrize("header", [
    "Basic !!!!", "Basic QUwx===", "Basic Q", "Basic =QUwx", "Basic QU-x",        # CSMS-9: not base64
    f"Basic {b64(b'AL1000:' + AL1000_KEY)} randomdata",                         # CSMS-10
    "Basic Y3MxOnRvdGFsLXMzY3VyMyE= randomdata",                                  # CSMS-10 verbatim
    f"Basic {b64(b'A:' + AL1000_KEY)}", f"Basic {b64(b'AL1000:x')}", f"Basic {b64(b'A:x')}",  # CSMS-11
    "Basic " + "A" * MAX_AUTHORIZATION_BYTES,                                     # CSMS-12
    'Basic realm="x"', "Basic", f"Basic {b64(b'no-colon')}",
    "Basic a b c", "Foo a b c",                                                   # not the grammar at all
])
def test_csms_9_to_12_malformed_headers_are_400(keys, header):
    result = decide(keys, header)
    assert result.decision is Decision.MALFORMED and result.challenges == []
    assert "AL1000" not in result.reason and "randomdata" not in result.reason


def test_csms_12_duplicated_authorization_headers_are_400(keys):
    """RFC 9110: Authorization is a singleton; the white paper's CSMS-4 sends a Basic and
    a Token header at once — refused whole rather than one picked (docs/station-auth.md)."""
    assert decide(keys, GOOD, GOOD).decision is Decision.MALFORMED
    assert decide(keys, GOOD, "Token 0123456789abcdefghij").decision is Decision.MALFORMED


def test_a_wrong_login_costs_one_verification_like_a_wrong_key():
    slow = StoredKeys((hash_key(bytes(20)),))
    assert decide(slow, f"Basic {b64(b'AL1001:' + AL1000_KEY)}").hashes == 1
    assert decide(slow, f"Basic {b64(b'AL1000:' + AL1000_KEY)}").hashes == 1


# --- policy ------------------------------------------------------------------------------

def _station(slug="acme", identity="CP1", accept_hex=True):
    tenant = SimpleNamespace(slug=slug, accept_hex_basic_password=accept_hex)
    return SimpleNamespace(identity=identity, tenant=tenant, vendor="", model="", firmware_version="",
                           auth_methods=None)


def test_csms_6_one_realm_per_tenant_in_every_challenge(keys):
    one, other = _station("acme", "CP1"), _station("acme", "CP2")
    subjects = [policy.subject(s, keys, v) for s in (one, other) for v in (OcppVersion.V16, OcppVersion.V201, None)]
    assert {s.realm for s in subjects} == {"Chargegate acme"}
    assert policy.realm(_station("zeta").tenant) != policy.realm(one.tenant)
    for s in subjects:
        assert challenges(s) == ['Basic realm="Chargegate acme"']


def test_every_allowed_method_is_a_registered_scheme():
    assert policy.allowed_methods(_station()) == ("basic",)
    assert all(method in SCHEMES for method in policy.allowed_methods(_station()))
    assert SCHEMES.names() == ["Basic", "Token", "Digest", "TOTP", "Bearer", "EAP"]


def test_a_scheme_registers_once():
    with pytest.raises(ValueError):
        Registry(basic.SCHEME, basic.SCHEME)


@pytest.mark.parametrize("tenant_accepts, version, accepted", [
    (True, OcppVersion.V16, True), (False, OcppVersion.V16, False),
    (True, OcppVersion.V201, True), (False, OcppVersion.V201, True),  # 2.0.1 passwords are text
    (True, None, True), (False, None, False),
])
def test_hex_reading_by_tenant_and_version(tenant_accepts, version, accepted):
    assert policy.accepts_hex(_station(accept_hex=tenant_accepts).tenant, version) is accepted


def test_presented_secret_is_tagged_by_scheme_and_only_for_allowed_well_formed_credentials(keys):
    s = subject(keys)
    assert presented([GOOD.encode()], s) == b"basic:" + AL1000_KEY
    assert presented([GOOD.encode()], subject(keys, methods=())) is None
    assert presented([b"Basic !!!!"], s) is None
    assert presented([GOOD.encode(), GOOD.encode()], s) is None
    assert presented([f"Basic {b64(b'AL1000:')}".encode()], s) is None
    assert presented([], s) is None


# --- any header at all ----------------------------------------------------------------------

class NeverMatches:
    def all_cheap(self):
        return True

    def check(self, secret):
        assert 0 < len(secret) <= 64
        return Verdict(False, "wrong credentials")

    def decoy(self, secret):
        return 0


_PIECES = st.sampled_from(["Basic ", "basic", "Token ", "Foo ", " ", ",", "=", '"', "\\", b64(b"AL1000:"),
                           b64(AL1000_KEY), b64(b"AL1000:" + AL1000_KEY), "QUwx", "==", "a=b", "\x00", "\xff"])


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=120), st.lists(_PIECES, max_size=12).map(
    lambda parts: "".join(parts).encode("latin-1"))), max_size=3))
def test_any_headers_get_a_decision_never_an_exception(values):
    s = Subject("AL1000", REALM, ("basic",), NeverMatches(), True)
    result = authenticate(s, values)
    assert result.decision in (Decision.CHALLENGE, Decision.MALFORMED)
    assert (result.decision is Decision.CHALLENGE) == bool(result.challenges)
    assert isinstance(station_auth.presented(values, s), bytes | None)
