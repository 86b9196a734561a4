"""lib/user_agent.py: what is kept of a client's User-Agent is printable ASCII, one
space between words, at most MAX_LENGTH characters, whatever bytes were sent."""
from lib.user_agent import MAX_LENGTH, of_headers, printable


def test_an_ordinary_user_agent_is_kept_as_sent():
    assert printable(b"ABB-Terra/1.8.3 (OCPP 1.6J)") == "ABB-Terra/1.8.3 (OCPP 1.6J)"


def test_control_and_non_ascii_bytes_become_question_marks_and_spaces_fold():
    assert printable(b"vendor\x1b[31m red\x00 \xe9t\xc3\xa9  \t x") == "vendor?[31m red? ?t?? x"


def test_it_is_cut_at_max_length_and_nothing_is_empty():
    assert len(printable(b"a" * 100_000)) == MAX_LENGTH
    assert printable(b"") == printable(None) == printable(b"   ") == ""


def test_the_first_user_agent_of_the_headers():
    assert of_headers([(b"host", b"x"), (b"user-agent", b"one/1"), (b"user-agent", b"two/2")]) == "one/1"
    assert of_headers([(b"host", b"x")]) == ""
