"""The RAR type registry (RFC 9396): reading `authorization_details` strictly, with errors a
client can act on and that never echo more than a sanitised scrap of its input.

These tests use their own detail types and their own Registry, so they do not depend on
which apps are installed; tests/pnc covers the real `pnc_contract_request`.
"""
import json
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema.exceptions import SchemaError

from oauth import rar
from oauth.rar import DetailType, InvalidAuthorizationDetails, Registry

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
# RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E.
ERROR_DESCRIPTION = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")
MAX_DESCRIPTION = 300


def normalise_access(detail, now):
    """Toy semantics: actions sorted and deduplicated; an 'expired' label is refused."""
    if detail.get("label") == "expired":
        raise InvalidAuthorizationDetails("must not be expired", ("label",))
    canonical = {"type": "account_access", "actions": sorted(set(detail["actions"]))}
    if "label" in detail:
        canonical["label"] = detail["label"]
    return canonical


ACCOUNT_ACCESS = DetailType(
    name="account_access",
    schema={
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["type", "actions"],
        "additionalProperties": False,
        "properties": {
            "type": {"const": "account_access"},
            "actions": {"type": "array", "items": {"enum": ["read", "write"]}, "minItems": 1},
            "label": {"type": "string", "minLength": 1, "maxLength": 8, "pattern": "^[a-z]+$",
                      "description": "a short lower-case word"},
            "count": {"type": "integer"},
        },
    },
    normalise=normalise_access,
    describe=lambda detail: [("Actions", ", ".join(detail["actions"]))],
    title="Account access",
)

PAYMENT = DetailType(
    name="payment_initiation",
    schema={"type": "object", "required": ["type"], "additionalProperties": False,
            "properties": {"type": {"const": "payment_initiation"}}},
    normalise=lambda detail, now: {"type": "payment_initiation"},
    describe=lambda detail: [("Payment", "one")],
    title="Payment",
    unique=True,
)

READ = {"type": "account_access", "actions": ["read"]}
PAY = {"type": "payment_initiation"}


@pytest.fixture
def registry():
    return Registry([ACCOUNT_ACCESS, PAYMENT])


def dumps(value) -> str:
    return json.dumps(value)


def problem(registry, raw, **kwargs) -> str:
    """The error_description for `raw`, checked to be a well-formed one."""
    with pytest.raises(InvalidAuthorizationDetails) as caught:
        registry.parse(raw, now=kwargs.pop("now", NOW), **kwargs)
    description = str(caught.value)
    assert ERROR_DESCRIPTION.fullmatch(description), description
    assert len(description) <= MAX_DESCRIPTION
    return description


# --- what is accepted -----------------------------------------------------------------


@pytest.mark.parametrize("raw", [None, ""])
def test_an_absent_or_empty_parameter_means_no_details(registry, raw):
    assert registry.parse(raw, now=NOW) == []


def test_an_array_of_details_is_returned_in_canonical_form(registry):
    raw = dumps([{"type": "account_access", "actions": ["write", "read", "write"]}])
    assert registry.parse(raw, now=NOW) == [{"type": "account_access", "actions": ["read", "write"]}]


def test_several_details_keep_their_order(registry):
    raw = dumps([PAY, READ, {"type": "account_access", "actions": ["write"]}])
    assert registry.parse(raw, now=NOW) == [PAY, READ, {"type": "account_access", "actions": ["write"]}]


def test_ten_details_are_the_most_accepted(registry):
    assert registry.parse(dumps([READ] * 10), now=NOW) == [READ] * 10


def test_now_may_be_in_any_time_zone(registry):
    assert registry.parse(dumps([READ]), now=NOW.astimezone(timezone(timedelta(hours=-7)))) == [READ]


def test_the_reference_evs_wrapper_is_read_as_an_array_of_its_one_detail(registry):
    raw = dumps({"emsp_id": "oidcharge", "redirect_uri": "https://user-agent.example.com/redirect",
                 "authorization_detail": {"type": "account_access", "actions": ["write", "read"]}})
    # emsp_id and redirect_uri are dropped: the request's own redirect_uri is what counts.
    assert registry.parse(raw, now=NOW) == [{"type": "account_access", "actions": ["read", "write"]}]


def test_the_wrappers_strings_may_be_anything(registry):
    raw = dumps({"emsp_id": "", "redirect_uri": "not even a URI", "authorization_detail": READ})
    assert registry.parse(raw, now=NOW) == [READ]


def test_allowed_types_restricts_the_types_a_client_may_ask_for(registry):
    assert registry.parse(dumps([READ]), now=NOW, allowed_types=["account_access"]) == [READ]
    assert registry.parse(dumps([READ]), now=NOW, allowed_types=iter(["account_access"])) == [READ]


def test_a_type_that_is_not_unique_may_appear_twice(registry):
    assert registry.parse(dumps([READ, READ]), now=NOW) == [READ, READ]


def test_whitespace_around_the_json_is_fine(registry):
    assert registry.parse(" \n" + dumps([READ]) + "\t", now=NOW) == [READ]


# --- the JSON itself --------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["[", "{", "[READ]", "['x']", "[{\"type\": 1,}]", " ", "\ufeff[]", "[1] [2]"])
def test_text_that_is_not_json_is_refused(registry, raw):
    assert problem(registry, raw).startswith("authorization_details: is not valid JSON (")


def test_the_json_error_gives_the_position(registry):
    assert problem(registry, '[{"type": }]') == (
        "authorization_details: is not valid JSON (Expecting value at character 10)")


@pytest.mark.parametrize("raw", [
    '[{"type": "account_access", "type": "payment_initiation"}]',
    '[{"type": "account_access", "actions": ["read"], "label": "a", "label": "b"}]',
    '{"emsp_id": "a", "emsp_id": "b", "redirect_uri": "c", "authorization_detail": {"type": "x"}}',
])
def test_duplicate_keys_are_refused_at_any_depth(registry, raw):
    assert re.fullmatch(r"authorization_details: duplicate key '(type|label|emsp_id)' in a JSON object",
                        problem(registry, raw))


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
def test_non_finite_numbers_are_refused(registry, constant):
    raw = f'[{{"type": "account_access", "actions": ["read"], "count": {constant}}}]'
    assert problem(registry, raw) == (
        "authorization_details: numbers must be finite (no NaN, Infinity or overflowing exponents)")


def test_an_integer_too_long_for_python_is_refused(registry):
    assert problem(registry, "[" + "9" * 5000 + "]") == "authorization_details: contains a number that is too long"


def test_deep_nesting_is_refused(registry):
    assert problem(registry, "[" * 6000 + "]" * 6000) == "authorization_details: is nested too deeply"


def test_the_parameter_may_be_16_kib_long(registry):
    raw = dumps([READ])
    padded = raw + " " * (rar.MAX_RAW_BYTES - len(raw))
    assert registry.parse(padded, now=NOW) == [READ]
    assert problem(registry, padded + " ") == "authorization_details: is too long (at most 16384 bytes)"


def test_the_length_cap_counts_utf8_bytes(registry):
    raw = dumps([READ])
    # 2 bytes per "é": fewer characters than the cap, more bytes.
    padded = raw[:-1] + ', {"type": "' + "é" * ((rar.MAX_RAW_BYTES - len(raw)) // 2) + '"}]'
    assert len(padded) < rar.MAX_RAW_BYTES < len(padded.encode())
    assert problem(registry, padded) == "authorization_details: is too long (at most 16384 bytes)"


def test_a_huge_parameter_is_refused_without_parsing(registry):
    assert problem(registry, "[" * 10_000_000) == "authorization_details: is too long (at most 16384 bytes)"


# --- the array ------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "kind"), [
    ("pnc", "a string"), (1, "a number"), (1.5, "a number"), (None, "null"), (True, "a boolean"),
])
def test_the_parameter_must_be_an_array(registry, value, kind):
    assert problem(registry, dumps(value)) == (
        f"authorization_details: must be a JSON array of authorization details objects, not {kind}")


def test_an_empty_array_is_refused(registry):
    assert problem(registry, "[]") == (
        "authorization_details: must contain at least one authorization details object")


def test_more_than_ten_details_are_refused(registry):
    assert problem(registry, dumps([READ] * 11)) == (
        "authorization_details: must contain at most 10 authorization details objects, not 11")


@pytest.mark.parametrize(("element", "kind"), [
    (1, "a number"), ("account_access", "a string"), (None, "null"), ([READ], "an array"), (False, "a boolean"),
])
def test_every_element_must_be_an_object(registry, element, kind):
    assert problem(registry, dumps([READ, element])) == f"authorization_details[1]: must be a JSON object, not {kind}"


def test_every_element_needs_a_type(registry):
    assert problem(registry, dumps([{"actions": ["read"]}])) == "authorization_details[0].type: is required"


@pytest.mark.parametrize(("type_", "kind"), [(1, "a number"), (None, "null"), (["account_access"], "an array")])
def test_the_type_must_be_a_string(registry, type_, kind):
    assert problem(registry, dumps([{"type": type_}])) == f"authorization_details[0].type: must be a string, not {kind}"


def test_an_unknown_type_is_refused(registry):
    assert problem(registry, dumps([READ, {"type": "payment"}])) == (
        "authorization_details[1].type: unknown authorization details type 'payment'")


def test_a_type_the_client_may_not_use_is_refused(registry):
    assert problem(registry, dumps([READ, PAY]), allowed_types=["account_access"]) == (
        "authorization_details[1].type: authorization details type 'payment_initiation'"
        " is not allowed for this client")


def test_no_allowed_types_allows_nothing(registry):
    assert "is not allowed for this client" in problem(registry, dumps([READ]), allowed_types=[])


def test_a_unique_type_may_appear_once(registry):
    assert problem(registry, dumps([PAY, READ, PAY])) == (
        "authorization_details[2].type: only one 'payment_initiation' detail is allowed per request")


# --- the wrapper of the reference EV --------------------------------------------------------

WRAPPER_REQUIRED = ("authorization_details: must be a JSON array of authorization details objects;"
                    " a single object is accepted only as the wrapper {emsp_id, redirect_uri, authorization_detail}")


def wrapper(**changes):
    value = {"emsp_id": "oidcharge", "redirect_uri": "https://user-agent.example.com/redirect",
             "authorization_detail": READ}
    value.update(changes)
    return {key: item for key, item in value.items() if item is not ...}


def test_a_bare_detail_object_is_refused_with_a_hint(registry):
    assert problem(registry, dumps(READ)) == (
        "authorization_details: must be a JSON array of authorization details objects: put a single detail in [ ]")


@pytest.mark.parametrize("missing", ["emsp_id", "redirect_uri", "authorization_detail"])
def test_the_wrapper_needs_all_its_keys(registry, missing):
    assert problem(registry, dumps(wrapper(**{missing: ...}))) == f"{WRAPPER_REQUIRED}; missing: {missing}"


def test_the_wrapper_may_have_no_other_keys(registry):
    assert problem(registry, dumps(wrapper(state="x"))) == f"{WRAPPER_REQUIRED}; unexpected: 'state'"


def test_the_wrapper_names_at_most_three_unexpected_keys_sanitised(registry):
    extra = {"<script>": 1, "b": 2, "c": 3, "d": 4}
    assert problem(registry, dumps(wrapper(**extra))) == (
        f"{WRAPPER_REQUIRED}; unexpected: '?script?', 'b', 'c', ...")


def test_an_empty_object_is_not_the_wrapper(registry):
    assert problem(registry, "{}") == (
        f"{WRAPPER_REQUIRED}; missing: authorization_detail, emsp_id, redirect_uri")


def test_the_wrapper_and_a_detail_mixed_is_refused(registry):
    assert problem(registry, dumps(wrapper(type="account_access"))) == f"{WRAPPER_REQUIRED}; unexpected: 'type'"


@pytest.mark.parametrize("key", ["emsp_id", "redirect_uri"])
@pytest.mark.parametrize(("value", "kind"), [(None, "null"), (1, "a number"), ({}, "an object")])
def test_the_wrappers_emsp_id_and_redirect_uri_are_strings(registry, key, value, kind):
    assert problem(registry, dumps(wrapper(**{key: value}))) == f"authorization_details.{key}: must be a string, not {kind}"


@pytest.mark.parametrize(("detail", "kind"), [([READ], "an array"), (None, "null"), ("{}", "a string")])
def test_the_wrapped_detail_is_an_object(registry, detail, kind):
    assert problem(registry, dumps(wrapper(authorization_detail=detail))) == (
        f"authorization_details.authorization_detail: must be a JSON object, not {kind}")


def test_the_wrapped_detail_is_validated_and_errors_say_where_it_is(registry):
    bad = {"type": "account_access", "actions": ["delete"]}
    assert problem(registry, dumps(wrapper(authorization_detail=bad))) == (
        "authorization_details.authorization_detail.actions[0]: must be one of 'read', 'write'")
    assert problem(registry, dumps(wrapper(authorization_detail={"type": "x"}))) == (
        "authorization_details.authorization_detail.type: unknown authorization details type 'x'")
    assert problem(registry, dumps(wrapper(authorization_detail=PAY)), allowed_types=["account_access"]).endswith(
        "is not allowed for this client")


# --- schema errors in our words ---------------------------------------------------------


@pytest.mark.parametrize(("detail", "description"), [
    ({"type": "account_access"}, "authorization_details[0].actions: is required"),
    ({"type": "account_access", "actions": "read"}, "authorization_details[0].actions: must be an array, not a string"),
    ({"type": "account_access", "actions": []}, "authorization_details[0].actions: is invalid (minItems)"),
    ({"type": "account_access", "actions": ["read", "x"]},
     "authorization_details[0].actions[1]: must be one of 'read', 'write'"),
    ({**READ, "label": ""}, "authorization_details[0].label: must not be empty"),
    ({**READ, "label": "abcdefghi"}, "authorization_details[0].label: is too long (at most 8 characters)"),
    ({**READ, "label": "ABC"}, "authorization_details[0].label: must be a short lower-case word"),
    ({**READ, "count": 1.5}, "authorization_details[0].count: must be an integer, not a number"),
    ({**READ, "locations": ["https://x"]},
     "authorization_details[0].locations: is not a known property (allowed: type, actions, label, count)"),
])
def test_schema_errors_name_the_field_and_what_was_expected(registry, detail, description):
    assert problem(registry, dumps([detail])) == description


def test_an_unknown_property_with_a_strange_name_is_quoted_and_sanitised(registry):
    detail = {**READ, 'x"\\<b>\n' + "z" * 100: 1}
    assert problem(registry, dumps([detail])) == (
        "authorization_details[0]['x???b??zzzzzzzzzzzzzzzzz...']: is not a known property"
        " (allowed: type, actions, label, count)")


def test_schema_errors_never_echo_the_value(registry):
    secret = "s3cr3t" * 50
    for detail in ({**READ, "label": secret}, {**READ, "actions": [secret]}, {**READ, "count": secret}):
        assert "s3cr3t" not in problem(registry, dumps([detail]))


def test_errors_from_normalise_are_placed_under_the_detail(registry):
    detail = {"type": "account_access", "actions": ["read"], "label": "expired"}
    assert problem(registry, dumps([READ, detail])) == "authorization_details[1].label: must not be expired"


def test_the_first_problem_is_reported_in_document_order(registry):
    assert problem(registry, dumps([READ, {"type": "nope"}, 1])).startswith("authorization_details[1].type")


# --- the error itself ---------------------------------------------------------------------


def test_an_error_is_a_value_error_whose_str_is_the_description():
    error = InvalidAuthorizationDetails("must be sane", ("maximum_amount", "amount"))
    assert isinstance(error, ValueError)
    assert str(error) == error.description == "maximum_amount.amount: must be sane"
    assert (error.reason, error.path) == ("must be sane", ("maximum_amount", "amount"))


def test_under_prefixes_the_path_without_changing_the_original():
    error = InvalidAuthorizationDetails("must be sane", ("amount",))
    outer = error.under("authorization_details", 3)
    assert str(outer) == "authorization_details[3].amount: must be sane"
    assert str(error) == "amount: must be sane"


def test_an_error_without_a_path_is_just_its_reason():
    assert str(InvalidAuthorizationDetails("broken")) == "broken"


def test_descriptions_are_always_in_the_rfc_6749_character_set():
    error = InvalidAuthorizationDetails('a "quoted" \\ reason – with € and\nnewline', ("k",))
    assert str(error) == "k: a ?quoted? ? reason ? with ? and?newline"


@pytest.mark.parametrize(("value", "shown"), [
    ("EUR", "'EUR'"),
    ("a" * 30, "'" + "a" * 24 + "...'"),
    ("<img src=x onerror=alert(1)>", "'?img src?x onerror?alert...'"),
    ("é'\"\\\r", "'?????'"),
    (12, "number"),
    (None, "null"),
    ({"a": 1}, "object"),
])
def test_snippets_are_short_and_sanitised(value, shown):
    assert rar.snippet(value) == shown


@pytest.mark.parametrize(("path", "rendered"), [
    ((), ""),
    (("authorization_details",), "authorization_details"),
    (("authorization_details", 0, "charging_period", "start"), "authorization_details[0].charging_period.start"),
    (("authorization_details", "authorization_detail", "actions", 2),
     "authorization_details.authorization_detail.actions[2]"),
    (("a", "with space"), "a['with space']"),
    (("a", "1st"), "a['1st']"),
])
def test_paths_read_like_javascript(path, rendered):
    assert rar.render_path(path) == rendered


# --- misuse is a programming error, not a client error -----------------------------------


def test_now_must_be_aware(registry):
    with pytest.raises(TypeError, match="timezone-aware"):
        registry.parse(dumps([READ]), now=datetime(2025, 1, 1))


def test_raw_must_be_text(registry):
    with pytest.raises(TypeError):
        registry.parse(dumps([READ]).encode(), now=NOW)


# --- the registry ---------------------------------------------------------------------------


def test_names_are_sorted(registry):
    assert registry.names() == ["account_access", "payment_initiation"]
    assert Registry().names() == []


def test_get_returns_the_type_or_raises_key_error(registry):
    assert registry.get("account_access") is ACCOUNT_ACCESS
    with pytest.raises(KeyError, match="no authorization details type 'nope' is registered"):
        registry.get("nope")


def test_registering_the_same_type_again_is_harmless(registry):
    assert registry.register(ACCOUNT_ACCESS) is ACCOUNT_ACCESS
    assert registry.names() == ["account_access", "payment_initiation"]


def test_a_taken_name_cannot_be_given_to_another_type(registry):
    impostor = DetailType(name="account_access", schema={}, normalise=lambda d, now: d,
                          describe=lambda d: [], title="Impostor")
    with pytest.raises(ValueError, match="another authorization details type is registered as 'account_access'"):
        registry.register(impostor)
    assert registry.get("account_access") is ACCOUNT_ACCESS


def test_a_broken_schema_fails_when_the_type_is_defined():
    with pytest.raises(SchemaError):
        DetailType(name="broken", schema={"type": "nonsense"}, normalise=lambda d, now: d,
                   describe=lambda d: [], title="Broken")


def test_a_type_needs_a_name():
    with pytest.raises(ValueError):
        DetailType(name="", schema={}, normalise=lambda d, now: d, describe=lambda d: [], title="Nameless")


def test_describe_gives_each_details_title_and_lines(registry):
    details = registry.parse(dumps([{"type": "account_access", "actions": ["write", "read"]}, PAY]), now=NOW)
    assert registry.describe(details) == [
        {"type": "account_access", "title": "Account access", "lines": [("Actions", "read, write")]},
        {"type": "payment_initiation", "title": "Payment", "lines": [("Payment", "one")]},
    ]
    assert registry.describe([]) == []


def test_describe_refuses_a_detail_of_an_unknown_type(registry):
    with pytest.raises(KeyError):
        registry.describe([{"type": "nope"}])


def test_the_module_functions_use_the_default_registry(monkeypatch):
    monkeypatch.setattr(rar, "default_registry", Registry())
    assert rar.names() == []
    assert rar.register(ACCOUNT_ACCESS) is ACCOUNT_ACCESS
    assert rar.names() == ["account_access"]
    assert rar.get("account_access") is ACCOUNT_ACCESS
    details = rar.parse(dumps([READ]), now=NOW, allowed_types={"account_access"})
    assert details == [READ]
    assert rar.describe(details) == [{"type": "account_access", "title": "Account access",
                                      "lines": [("Actions", "read")]}]
    with pytest.raises(InvalidAuthorizationDetails):
        rar.parse(dumps([PAY]), now=NOW)


# --- whatever a client sends, the answer is a clean error or canonical details ----------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20) | st.sampled_from(["account_access", "payment_initiation", "read", "write"]),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["type", "actions", "label", "count", "emsp_id", "redirect_uri",
                                       "authorization_detail", "x"]) | st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


def outcome(registry, raw):
    """parse's result, or the description of its error after checking it is well-formed."""
    try:
        return registry.parse(raw, now=NOW)
    except InvalidAuthorizationDetails as error:
        assert ERROR_DESCRIPTION.fullmatch(str(error)), str(error)
        assert len(str(error)) <= MAX_DESCRIPTION
        return str(error)


@settings(deadline=None)  # what is tested is the outcome, not the timing
@given(st.text(max_size=200))
def test_any_text_gives_details_or_a_clean_error(text):
    outcome(Registry([ACCOUNT_ACCESS, PAYMENT]), text)


@settings(deadline=None)  # what is tested is the outcome, not the timing
@given(json_values)
def test_any_json_gives_canonical_details_or_a_clean_error(value):
    registry = Registry([ACCOUNT_ACCESS, PAYMENT])
    result = outcome(registry, dumps(value))
    if isinstance(result, list):
        assert registry.parse(dumps(result), now=NOW) == result  # canonical details are accepted as they are
