"""The ring of a connection's recent frames (csms/protocol/recent.py), without a server:
what it keeps is bounded in entries, in characters and in stored bytes, and printable."""
import json

from csms.protocol import recent


def test_the_ring_keeps_the_last_entries_and_is_clean_after_a_snapshot():
    ring = recent.Ring(size=3)
    assert not ring.dirty
    for n in range(5):
        ring.record(recent.IN, recent.CALL, "Heartbeat", f"m{n}", 40)
    assert ring.dirty
    assert [named["message_id"] for named in map(recent.named, json.loads(ring.snapshot()))] == ["m2", "m3", "m4"]
    assert not ring.dirty


def test_an_answer_known_later_is_in_the_next_snapshot():
    ring = recent.Ring()
    seen = ring.record(recent.IN, recent.CALL, "Authorize", "a1", 50)
    ring.record(recent.OUT, recent.CALLERROR, "Authorize", "a1", 60, "FormationViolation")
    assert recent.named(json.loads(ring.snapshot())[0])["outcome"] == ""
    ring.settle(seen, recent.REJECTED_BY_SCHEMA)
    assert ring.dirty  # so it is written again
    assert [recent.named(e)["outcome"] for e in json.loads(ring.snapshot())] == [
        "rejected by schema", "FormationViolation"]


def test_an_outcome_for_a_frame_fallen_out_of_the_ring_is_dropped():
    ring = recent.Ring(size=2)
    first = ring.record(recent.IN, recent.CALL, "Authorize", "a1", 50)
    ring.record(recent.IN, recent.CALL, "Heartbeat", "h1", 40)
    ring.record(recent.IN, recent.CALL, "Heartbeat", "h2", 40)
    ring.settle(first, "late")
    assert [recent.named(e)["outcome"] for e in json.loads(ring.snapshot())] == ["", ""]


def test_whatever_a_station_writes_is_stored_bounded_and_printable():
    ring = recent.Ring()
    ring.record(recent.IN, recent.UNREADABLE, "\x1b[31m" + "\u2028Ä" * 500, "\x00" * 5000, 10**7,
                "rejected by schema (" + "\x07" * 500 + ")")
    ring.record(recent.OUT, recent.CALLERROR, "A" * 5000, "i" * 37, 10**7, "é" * 5000)
    for text, entry in zip(ring.entries, json.loads(ring.snapshot()), strict=True):
        named = recent.named(entry)
        assert len(named["action"]) <= recent.MAX_ACTION and len(named["message_id"]) <= recent.MAX_MESSAGE_ID
        assert len(named["outcome"]) <= recent.MAX_OUTCOME
        assert all(c.isprintable() and (c.isascii() or c == "…") for c in named["action"] + named["message_id"]
                   + named["outcome"])
        assert len(text.encode()) <= recent.ENTRY_BYTES
    assert recent.named(json.loads(ring.snapshot())[1])["message_id"] == "i" * 35 + "…"  # 37: shown cut


def test_quotes_and_backslashes_are_escaped_and_the_worst_entry_stays_in_bounds():
    ring = recent.Ring()
    ring.record(recent.OUT, recent.UNREADABLE, '"' * 100, "\\" * 100, 10**8, '"\\' * 100)
    (text,) = ring.entries
    assert len(text.encode()) <= recent.ENTRY_BYTES
    named = recent.named(json.loads(ring.snapshot())[0])
    assert named["action"] == '"' * 39 + "…" and named["message_id"] == "\\" * 35 + "…"


def test_a_message_id_of_36_characters_is_kept_whole():
    ring = recent.Ring()
    ring.record(recent.IN, recent.CALL, "Heartbeat", "x" * 36, 56)
    assert recent.named(json.loads(ring.snapshot())[0])["message_id"] == "x" * 36


def test_size_is_counted_in_utf8_bytes():
    assert recent.size_of('[2,"a","DataTransfer",{"data":"ä"}]') == len('[2,"a","DataTransfer",{"data":"ä"}]') + 1
    assert recent.size_of("[3,\"a\",{}]") == 10
