"""Which methods a station may use (`csms.auth.policy`), from the rows it is given: the
station's own list over its group's over the tenant's default over Basic; the first
matching group by rank; patterns on identity and boot data; and the Token scheme's
parsing and checking, without a database."""
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from csms.auth import policy, token
from csms.auth.keys import StoredTokens, hash_token_secret
from csms.auth.policy import Group, Rules
from csms.auth.schemes import Subject
from csms.auth.station_auth import Decision, authenticate, challenges
from lib.http_auth import Credentials, MalformedAuthorization

KNOWN = ["basic", "token"]


def station(identity="CP1", vendor="", model="", firmware="", methods=None):
    return SimpleNamespace(identity=identity, vendor=vendor, model=model, firmware_version=firmware,
                           auth_methods=methods, tenant=SimpleNamespace(slug="acme", accept_hex_basic_password=True))


ABB_OLD = Group("abb-old", 10, vendor="ABB", firmware="1.*", methods=("basic",))
ABB = Group("abb", 20, vendor="abb", methods=("token", "basic"))
LAB = Group("lab", 30, identity="LAB-*")
RULES = Rules(default=("token",), groups=(LAB, ABB, ABB_OLD))  # any order: rank decides


def test_built_in_default_is_basic_alone():
    assert policy.resolve(station()) == policy.Resolved(("basic",), "built-in", None)


def test_the_tenant_default_applies_to_a_station_in_no_group():
    assert policy.resolve(station(vendor="Alfen"), RULES) == policy.Resolved(("token",), "tenant", None)


def test_the_first_matching_group_by_rank_wins():
    assert policy.resolve(station(vendor="ABB", firmware="1.4.2"), RULES) == \
        policy.Resolved(("basic",), "group", "abb-old")
    assert policy.resolve(station(vendor="ABB", firmware="2.0"), RULES) == \
        policy.Resolved(("token", "basic"), "group", "abb")


def test_patterns_ignore_case_and_an_empty_pattern_matches_anything():
    assert policy.group_of(station(vendor="aBb", firmware="1.0"), RULES).name == "abb-old"
    assert policy.group_of(station(identity="lab-7"), RULES).name == "lab"
    assert policy.group_of(station(identity="CP7"), RULES) is None


def test_a_station_that_never_booted_matches_no_group_that_asks_for_boot_data():
    assert policy.group_of(station(identity="CP9"), Rules(groups=(ABB,))) is None


def test_a_group_without_a_list_of_its_own_defers_to_the_tenant_default():
    assert policy.resolve(station(identity="LAB-1"), RULES) == policy.Resolved(("token",), "tenant", "lab")
    assert policy.resolve(station(identity="LAB-1"), Rules(groups=(LAB,))).methods == ("basic",)


def test_the_stations_own_list_beats_its_group_and_the_default():
    own = station(vendor="ABB", firmware="1.0", methods=["basic", "token"])
    assert policy.resolve(own, RULES) == policy.Resolved(("basic", "token"), "station", "abb-old")


def test_lists_are_never_merged():
    """A station whose group allows Token only is refused Basic even though the tenant
    default allows it: the list that applies is its whole list."""
    rules = Rules(default=("basic",), groups=(Group("modern", 1, methods=("token",)),))
    assert policy.allowed_methods(station(), rules) == ("token",)


@pytest.mark.parametrize("text, methods", [
    ("token,basic", ("token", "basic")), (" Token , BASIC ", ("token", "basic")), ("basic", ("basic",)),
])
def test_method_lists_keep_their_order(text, methods):
    assert policy.parse_methods(text, KNOWN) == methods


@pytest.mark.parametrize("text, problem", [
    ("", "at least one method"), (" , ", "at least one method"), ("digest", "unknown method(s) digest"),
    ("basic,basic", "named twice"),
])
def test_method_lists_that_are_refused(text, problem):
    with pytest.raises(ValueError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        policy.parse_methods(text, KNOWN)


@pytest.mark.parametrize("address, allowed", [
    ("10.20.3.4", True), ("10.21.0.1", False), ("::ffff:10.20.0.9", True), ("2001:db8::1", True),
    ("2001:db9::1", False), ("unknown", False), ("", False),
])
def test_a_groups_networks_admit_only_their_addresses(address, allowed):
    depot = Group("depot", 1, networks=policy.parse_networks("10.20.0.0/16,2001:db8::/32"))
    assert policy.source_allowed(depot, address) is allowed


def test_no_group_or_no_networks_admit_any_address():
    assert policy.source_allowed(None, "unknown") and policy.source_allowed(LAB, "192.0.2.1")


def test_outside_its_networks_a_station_gets_a_401_without_challenges():
    """The white paper's one case for a 401 without WWW-Authenticate (IP filter rules):
    no credentials would help, so none are checked or asked for."""
    rules = Rules(groups=(Group("depot", 1, networks=policy.parse_networks("10.0.0.0/8")),))
    inside = policy.subject(station(), None, None, rules, source="10.1.1.1")
    outside = policy.subject(station(), None, None, rules, source="192.0.2.7")
    assert inside.source_allowed and not outside.source_allowed
    result = authenticate(outside, [])
    assert (result.decision, result.challenges, result.hashes) == (Decision.CHALLENGE, [], 0)


@pytest.mark.parametrize("text, problem", [("10.0.0.1/8", "host bits"), ("10.0.0.0/33", "10.0.0.0/33"),
                                           ("example.com", "example.com")])
def test_bad_networks_are_refused(text, problem):
    with pytest.raises(ValueError, match=problem):
        policy.parse_networks(text)


# --- Token ------------------------------------------------------------------------------------

VALUE, PUBLIC_ID, SECRET = token.generate()
TOKENS = StoredTokens(((PUBLIC_ID, hash_token_secret(SECRET)),))


def subject(methods=("token", "basic"), tokens=TOKENS):
    return Subject(identity="CP1", realm="Chargegate acme", methods=methods, keys=None, accept_hex=True,
                   tokens=tokens)


def test_an_issued_token_has_the_documented_shape():
    assert VALUE.startswith("cgt_") and len(VALUE) == 60 and VALUE == f"cgt_{PUBLIC_ID}_{SECRET}"
    assert token.generate()[0] != VALUE


def test_a_valid_token_is_ok_and_names_its_public_id():
    result = authenticate(subject(), [f"Token {VALUE}".encode()])
    assert (result.decision, result.method, result.token_id, result.key_hash) == (Decision.OK, "token", PUBLIC_ID, "")


@pytest.mark.parametrize("value", [
    VALUE[:-1] + ("A" if VALUE[-1] != "A" else "B"),       # wrong secret
    f"cgt_{'0' * 12}_{SECRET}",                             # unknown id
    "x" * 20, "y" * 512,                                    # not a token issued here
], ids=["wrong-secret", "unknown-id", "foreign-20", "foreign-512"])
def test_a_wrong_token_gets_the_challenges(value):
    result = authenticate(subject(), [f"Token {value}".encode()])
    assert (result.decision, result.challenges) == (
        Decision.CHALLENGE, ['Token realm="Chargegate acme"', 'Basic realm="Chargegate acme"'])


@pytest.mark.parametrize("value", ["Token " + "x" * 19, "Token " + "y" * 513, "Token", "Token a=b, c=d",
                                   "Token abcdefghijklmnopqrstuvwxyz junk"],
                         ids=["19-chars", "513-chars", "empty", "auth-params", "trailing-data"])
def test_a_malformed_token_gets_400(value):
    assert authenticate(subject(), [value.encode()]).decision is Decision.MALFORMED


def test_a_token_is_refused_when_the_station_may_not_use_token():
    """Downgrade protection works both ways: valid credentials of a method left out are refused."""
    result = authenticate(subject(methods=("basic",)), [f"Token {VALUE}".encode()])
    assert (result.decision, result.challenges) == (Decision.CHALLENGE, ['Basic realm="Chargegate acme"'])


def test_a_token_repr_never_shows_the_token():
    parsed = token.SCHEME.parse(Credentials("token", token68=VALUE.encode()))
    assert SECRET not in repr(parsed) and PUBLIC_ID in repr(parsed)


def test_challenges_skip_a_method_without_a_scheme():
    assert challenges(subject(methods=("digest", "token"))) == ['Token realm="Chargegate acme"']


def test_parse_refuses_without_a_token68():
    with pytest.raises(MalformedAuthorization):
        token.SCHEME.parse(Credentials("token"))


# --- Basic logins -----------------------------------------------------------------------------

def test_basic_takes_the_identity_or_another_login_of_the_station():
    from csms.auth.keys import StoredKeys, hash_key
    from tests.factories import AL1000_KEY
    from tests.stations import basic_auth

    keys = StoredKeys((hash_key(AL1000_KEY, generated=True),))
    who = Subject(identity="CP1", realm="Chargegate acme", methods=("basic",), keys=keys, accept_hex=True,
                  logins=(b"site-7f3a",))
    for login, decision in (("CP1", Decision.OK), ("site-7f3a", Decision.OK), ("site-7f3b", Decision.CHALLENGE)):
        assert authenticate(who, [basic_auth(login, AL1000_KEY).encode()]).decision is decision


# --- properties of the resolution ---------------------------------------------------------------

_lists = st.none() | st.lists(st.sampled_from(KNOWN), min_size=1, max_size=2, unique=True).map(tuple)
_patterns = st.sampled_from(["", "*", "a*", "A?", "b*", "[ab]*"])
_groups = st.lists(st.builds(Group, name=st.text("gh", min_size=1, max_size=3), rank=st.integers(0, 20),
                             identity=_patterns, vendor=_patterns, methods=_lists),
                   max_size=4, unique_by=(lambda g: g.rank, lambda g: g.name))
_stations = st.builds(station, identity=st.sampled_from(["a1", "B2", "ab"]),
                      vendor=st.sampled_from(["", "acme", "Beta"]),
                      methods=st.none() | st.lists(st.sampled_from(KNOWN), min_size=1, max_size=2, unique=True))


@given(_stations, _lists, _groups)
def test_the_resolution_is_one_whole_list_from_the_first_place_that_says_something(s, default, groups):
    rules = Rules(default=default, groups=tuple(groups))
    resolved = policy.resolve(s, rules)
    matching = sorted((g for g in groups if g.matches(s)), key=lambda g: g.rank)
    first = matching[0] if matching else None
    assert resolved.group == (first.name if first else None)
    expected = (tuple(s.auth_methods) if s.auth_methods else
                first.methods if first and first.methods else default or ("basic",))
    assert resolved.methods == expected and resolved.methods
    # The order the groups are given in does not matter: ranks decide.
    assert policy.resolve(s, Rules(default, tuple(reversed(groups)))) == resolved
