"""The station's choice of method (white paper, "Charging Station Configuration"), as
pure logic: highest shared priority, 3 failures then the next, the negotiated method
kept until a 401 answers it."""
import pytest

from stationclient.negotiation import (
    Exhausted,
    Negotiator,
    UnknownMethod,
    checked_methods,
    long_wait,
    names,
    offered,
)


def test_the_highest_priority_shared_method_is_chosen_whatever_the_servers_order():
    n = Negotiator(("token", "basic"))
    assert n.choose(["basic", "token"]) == "token"
    assert Negotiator(("basic", "token")).choose(["token", "basic"]) == "basic"  # CS-1
    assert Negotiator(("digest", "basic")).choose(["token", "basic"]) == "basic"


def test_three_failures_of_a_method_move_to_the_next_then_none_is_left():
    n = Negotiator(("token", "basic"))
    n.begin()
    for _ in range(3):
        assert n.choose(["token", "basic"]) == "token"
        n.failed("token")
    for _ in range(3):
        assert n.choose(["token", "basic"]) == "basic"
        n.failed("basic")
    assert n.choose(["token", "basic"]) is None
    assert str(n.why_none(["token", "basic"])) == "the server refused the credentials of Token and Basic"


def test_the_number_of_failures_is_configurable():
    n = Negotiator(("token", "basic"), max_failures=1)
    n.failed("token")
    assert n.choose(["token", "basic"]) == "basic"
    with pytest.raises(ValueError):
        Negotiator(("basic",), max_failures=0)


def test_a_new_process_counts_failures_afresh_but_keeps_the_negotiated_method():
    n = Negotiator(("token", "basic"))
    for _ in range(3):
        n.failed("token")
    n.succeeded("basic")
    assert n.negotiated == "basic" and n.opening() == "basic"
    n.begin()
    assert n.choose(["token", "basic"]) == "basic"  # negotiated, offered, not failed: kept


def test_a_401_answering_the_negotiated_method_starts_a_renegotiation():
    n = Negotiator(("basic", "token"))
    n.succeeded("basic")
    n.begin()
    assert n.opening() == "basic"
    n.failed("basic")  # CS-6: Basic is switched off
    assert n.negotiated is None
    assert n.choose(["token"]) == "token"
    n.succeeded("token")
    assert n.opening() == "token"


def test_the_opening_request_sends_what_needs_no_challenge():
    assert Negotiator(("basic",)).opening() == "basic"  # the white paper's default station
    assert Negotiator(("digest", "basic")).opening() is None  # Digest waits for a nonce
    assert Negotiator(("token",)).opening(preemptive=False) is None
    n = Negotiator(("basic", "digest"))
    n.succeeded("digest")
    assert n.opening() is None and n.choose(["digest", "basic"]) == "digest"
    assert Negotiator(()).opening() is None  # holds nothing: it can only ask


def test_no_shared_method_says_what_each_side_has():
    n = Negotiator(("basic",))
    assert n.choose(["token", "totp"]) is None
    assert str(n.why_none(["token", "totp"])) == (
        "the server offers only Token and TOTP; this station is configured for Basic")
    assert str(Exhausted((), ("basic",), ())) == "the server offers no method this client speaks"


def test_offered_methods_read_scheme_names_without_case_and_ignore_unknown_ones():
    assert offered(["basic", "TOKEN", "Digest", "digest", "negotiate", "Bearer", "totp"]) == [
        "basic", "token", "digest", "bearer", "totp"]


def test_configured_lists_are_checked():
    assert checked_methods([" Digest", "BASIC"]) == ("digest", "basic")
    with pytest.raises(UnknownMethod, match="unknown method 'md5'"):
        checked_methods(["md5"])
    with pytest.raises(UnknownMethod, match="twice"):
        checked_methods(["basic", "basic"])


def test_names_read_as_people_write_them():
    assert names(["digest", "token", "basic"]) == "Digest, Token and Basic"
    assert names(["totp"]) == "TOTP" and names([]) == "nothing"


def test_after_a_final_failure_the_station_waits_one_to_two_hours():
    assert long_wait(0) == 3600 and long_wait(0.5) == 5400 and long_wait(0.999) < 7200
