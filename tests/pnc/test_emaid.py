"""EMAID check digits (eMI3 "Check Digit Calculation for Contract-IDs"), composition and
the errors the check digit catches."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pnc import emaid

# Published examples: the issue's, eMI3 v1.0 part 2 §1.2.2.1 (DE-8AA-CA2B3C4D5-L), the
# check-digit paper's (DE-83D-UIEN83QGZ-D), Gireve's (FR-XYZ-123456789-2), and the
# vectors other open implementations test against.
VECTORS = [
    ("DE8AA1A2B3C4D5", "V"),
    ("DE8AACA2B3C4D5", "L"),
    ("DE83DUIEN83QGZ", "D"),
    ("DE83DUIEN83ZGQ", "M"),
    ("FRXYZ123456789", "2"),
    ("NN123ABCDEFGHI", "T"),
    ("ITA1B2C3E4F5G6", "4"),
    ("ESZU8WOX834H1D", "R"),
    ("PT73902837ABCZ", "Z"),
    ("DE8AA001234567", "0"),
]

chars = st.sampled_from(emaid.ALPHABET)
bodies = st.text(alphabet=emaid.ALPHABET, min_size=14, max_size=14)


@pytest.mark.parametrize("body, digit", VECTORS)
def test_published_vectors(body, digit):
    assert emaid.check_digit(body) == digit
    assert emaid.is_valid(body + digit)


def test_the_specs_sample_emaid_has_a_wrong_check_digit():
    assert not emaid.is_valid("DE-8AA-1A2B3C4D5-9")
    assert emaid.is_valid("DE-8AA-1A2B3C4D5-V")


def test_hyphens_and_case_do_not_matter():
    assert emaid.check_digit("de-8aa-ca2b3c4d5") == "L"
    assert emaid.is_valid("de-8aa-ca2b3c4d5-l")
    assert emaid.hyphenated("DE8AA1A2B3C4D5V") == "DE-8AA-1A2B3C4D5-V"


@pytest.mark.parametrize("text", ["DE8AA1A2B3C4D", "DE8AA1A2B3C4D5V", "DE8AA1A2B3C4D_", "DE8AA1A2B3C4DÄ"])
def test_check_digit_needs_fourteen_characters_of_the_alphabet(text):
    with pytest.raises(emaid.InvalidEmaid):
        emaid.check_digit(text)


@pytest.mark.parametrize("text", ["", "DE8AA1A2B3C4D5", "DE8AA1A2B3C4D5VV", "DE8AA1A2B3C4D5?",
                                  "DE 8AA1A2B3C4D5V"])
def test_malformed_emaids_are_invalid(text):
    assert not emaid.is_valid(text)


def test_compose_appends_the_check_digit_and_checks_its_parts():
    assert emaid.compose("DE", "8AA", "1A2B3C4D5") == "DE8AA1A2B3C4D5V"
    for country, provider, instance in [("D", "8AA", "1A2B3C4D5"), ("de", "8AA", "1A2B3C4D5"),
                                        ("DE", "8A", "1A2B3C4D5"), ("DE", "8AA", "1A2B3C4D")]:
        with pytest.raises(emaid.InvalidEmaid):
            emaid.compose(country, provider, instance)


@given(bodies)
def test_exactly_one_check_character_fits_every_body(body):
    fitting = [c for c in emaid.ALPHABET if emaid.is_valid("DE" + body[2:] + c)]
    assert fitting == [emaid.check_digit("DE" + body[2:])]


@given(bodies, st.integers(0, 14), chars)
def test_every_single_character_error_is_detected(body, position, replacement):
    good = body + emaid.check_digit(body)
    bad = good[:position] + replacement + good[position + 1:]
    if bad != good:
        assert emaid.check_digit(bad[:14]) != bad[14]


@given(bodies, st.integers(0, 13))
def test_every_adjacent_transposition_is_detected(body, position):
    good = body + emaid.check_digit(body)
    bad = good[:position] + good[position + 1] + good[position] + good[position + 2:]
    if bad != good:
        assert emaid.check_digit(bad[:14]) != bad[14]


@given(bodies, st.integers(0, 12))
def test_every_jump_transposition_is_detected(body, position):
    good = body + emaid.check_digit(body)
    bad = good[:position] + good[position + 2] + good[position + 1] + good[position] + good[position + 3:]
    if bad != good:
        assert emaid.check_digit(bad[:14]) != bad[14]


def test_random_instances_make_valid_emaids():
    seen = {emaid.compose("DE", "8AA", emaid.random_instance()) for _ in range(200)}
    assert len(seen) == 200
    assert all(emaid.is_valid(e) and len(e) == 15 for e in seen)
