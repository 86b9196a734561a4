"""The reference station client against the live CSMS (uvicorn on loopback), the white
paper's client cases CS-1..CS-8: it reads the 401's challenges, takes the highest
shared method, falls back after 3 failures, keeps the negotiated method across
reconnections, writes the normative spelling, reads oddly spelled challenges, and its
TOTP passes with a clock a slot behind or ahead. What the server recorded
(`last_auth_method`) says which method really got in."""
import json
import re
import time

import pytest

from csms.models import Station
from lib.totp_token import config
from stationclient.authorization import Secrets
from stationclient.client import AuthenticationFailed, Outcome, StationClient
from tests.commands import run_cmd
from tests.csms.test_bearer_live import CP1_KEY, fetch_token, register
from tests.csms.test_totp_live import VALIDITY, slot_now
from tests.factories import AL1000_KEY, make_station, make_tenant
from tests.stationclient.rewriting_proxy import rewriting_proxy
from tests.stations import station_url
from tests.waiting import in_thread_db

pytestmark = pytest.mark.django_db(transaction=True)

KEY_TEXT = AL1000_KEY.hex().upper().encode()  # how a 1.6 station is configured with its key
WRONG_TOKEN = "cgt_000000000000_" + "x" * 43


def issue_token(identity="CP1") -> str:
    return json.loads(run_cmd("station", "token", "issue", "acme", identity, "--json"))["token"]


def station(methods: str, identity="CP1"):
    make_station(make_tenant("acme"), identity)
    token = issue_token(identity) if "token" in methods else None
    run_cmd("station", "auth", "set", "acme", identity, "--methods", methods)
    return token


def client(server, methods, port=None, identity="CP1", **kwargs):
    url = station_url(server, "acme", identity)
    if port is not None:
        url = re.sub(r":\d+/", f":{port}/", url)
    secrets = kwargs.pop("secrets", None) or Secrets(identity, password=kwargs.pop("password", KEY_TEXT),
                                                     token=kwargs.pop("token", None))
    return StationClient(url, secrets, methods, retry_delay=0, **kwargs)


def tried(result) -> list[tuple[str | None, int | None]]:
    return [(a.method, a.status) for a in result.attempts]


async def established(c):
    result = await c.establish()
    if result.connection is not None:
        await c.close(result.connection, result.record)
    return result


def last_method(identity="CP1") -> str:
    return Station.objects.get(identity=identity).last_auth_method


def test_cs1_basic_is_chosen_when_the_station_prefers_it_and_both_are_offered(csms, run):
    token = station("token,basic")
    c = client(csms, ("basic", "token"), token=token, preemptive=False)
    result = run(established(c))
    assert result.outcome is Outcome.ACCEPTED
    assert tried(result) == [(None, 401), ("basic", 101)]
    assert result.offered() == ["token", "basic"]  # the server's order is not the station's
    assert last_method() == "basic" and c.negotiated == "basic"


def test_cs2_token_is_chosen_when_the_station_prefers_it_and_both_are_offered(csms, run):
    token = station("basic,token")
    c = client(csms, ("token", "basic"), token=token, preemptive=False)
    result = run(established(c))
    assert tried(result) == [(None, 401), ("token", 101)]
    assert last_method() == "token" and c.negotiated == "token"


def test_cs3_three_failures_of_a_method_then_the_next(csms, run):
    station("token,basic")
    c = client(csms, ("token", "basic"), token=WRONG_TOKEN)
    result = run(established(c))
    assert tried(result) == [("token", 401)] * 3 + [("basic", 101)]
    assert last_method() == "basic" and c.negotiated == "basic"


def test_cs3_every_method_failing_ends_the_process_with_the_reason(csms, run):
    station("token,basic")
    c = client(csms, ("token", "basic"), token=WRONG_TOKEN, password=b"not-the-key-of-this-station")
    with pytest.raises(AuthenticationFailed) as failed:
        run(c.connect())
    result = failed.value.result
    assert tried(result) == [("token", 401)] * 3 + [("basic", 401)] * 3
    assert str(result.exhausted) == "the server refused the credentials of Token and Basic"
    assert c.negotiated is None


def test_the_negotiated_method_opens_the_next_connection(csms, run):
    token = station("token")  # Basic is not allowed: the station learns Token once
    c = client(csms, ("basic", "token"), token=token)
    assert tried(run(established(c))) == [("basic", 401), ("token", 101)]
    assert tried(run(established(c))) == [("token", 101)]  # remembered by the client object


def test_the_negotiated_digest_answers_the_401_it_needs(csms, run):
    station("digest,basic")
    c = client(csms, ("digest", "basic"))
    first = run(established(c))
    assert tried(first) == [(None, 401), ("digest", 101)]
    assert first.last.detail == "Digest SHA-256" and last_method() == "digest"
    assert tried(run(established(c))) == [(None, 401), ("digest", 101)]


@pytest.mark.parametrize("algorithm", ["SHA-512-256", "SHA-384", "SHA-512"])
def test_digest_with_each_algorithm_the_station_prefers(csms, run, algorithm):
    station("digest")
    secrets = Secrets("CP1", password=KEY_TEXT, digest_algorithms=(algorithm,))
    result = run(established(client(csms, ("digest",), secrets=secrets)))
    assert result.outcome is Outcome.ACCEPTED and result.last.detail == f"Digest {algorithm}"


def test_eap_md5_in_rounds_and_a_wrong_password_ends_in_three_failures(csms, run):
    make_station(make_tenant("acme"), "CP1", auth_methods=["eap", "basic"])  # the key brings its EAP secret
    c = client(csms, ("eap", "basic"))
    result = run(established(c))
    assert tried(result) == [(None, 401), ("eap", 401), ("eap", 101)]  # Identity, then the MD5 round
    assert [a.detail for a in result.attempts] == [None, "EAP Identity", "EAP MD5-Challenge"]
    assert last_method() == "eap" and c.negotiated == "eap"
    wrong = run(established(client(csms, ("eap",), password=b"00" * 20)))
    assert tried(wrong) == [(None, 401)] + [("eap", 401)] * 6  # each try: Identity, MD5 answered by Failure
    assert str(wrong.exhausted) == "the server refused the credentials of EAP"


def test_no_shared_method_says_what_each_side_has(csms, run):
    station("token")
    result = run(established(client(csms, ("basic",))))
    assert result.outcome is Outcome.CHALLENGED and tried(result) == [("basic", 401)]
    assert str(result.exhausted) == "the server offers only Token; this station is configured for Basic"


def test_a_1_6_key_as_raw_bytes_and_ocpp_201_with_its_text(csms, run):
    station("basic")
    raw = run(established(client(csms, ("basic",), password=AL1000_KEY)))
    assert raw.outcome is Outcome.ACCEPTED and raw.connection.subprotocol == "ocpp1.6"
    text = run(established(client(csms, ("basic",), protocols=("ocpp2.0.1", "ocpp1.6"))))
    assert text.outcome is Outcome.ACCEPTED and text.connection.subprotocol == "ocpp2.0.1"


def _uppercase_schemes(head: bytes) -> bytes:
    return re.sub(rb"(?im)^www-authenticate: *([A-Za-z]+)",
                  lambda m: b"WWW-AUTHENTICATE: " + m.group(1).upper(), head)


def test_cs4_upper_case_challenges_are_answered_in_the_normative_spelling(csms, run):
    token = station("token,basic")

    async def scenario():
        async with rewriting_proxy(csms.port, _uppercase_schemes) as (port, heads):
            for methods in (("basic",), ("token",)):
                c = client(csms, methods, port=port, token=token, preemptive=False)
                result = await established(c)
                assert result.outcome is Outcome.ACCEPTED, tried(result)
                assert result.header("WWW-Authenticate") is None  # the 101
            return heads

    heads = run(scenario())
    sent = [re.search(rb"(?im)^authorization: *(\S+)", h) for h in heads]
    assert [m.group(1) if m else None for m in sent] == [None, b"Basic", None, b"Token"]


def _one_field_with_extra_whitespace(head: bytes) -> bytes:
    lines = head.split(b"\r\n")
    values = [line.split(b":", 1)[1].strip() for line in lines if line.lower().startswith(b"www-authenticate:")]
    others = [line for line in lines if not line.lower().startswith(b"www-authenticate:")]
    if not values:
        return head
    spaced = [re.sub(rb"^(\w+) ", rb"\1    ", v) for v in values]
    spaced = [re.sub(rb'([a-z-]+)=', rb'\1 =  ', v).replace(b", ", b" ,   ") for v in spaced]
    merged = b"WWW-Authenticate:    " + b"  ,  ".join(spaced) + b"   "
    return b"\r\n".join([others[0], merged, *others[1:]])


def test_cs5_challenges_with_extra_whitespace_all_in_one_field_are_read(csms, run):
    station("digest,basic")

    async def scenario():
        async with rewriting_proxy(csms.port, _one_field_with_extra_whitespace) as (port, _):
            return await established(client(csms, ("digest",), port=port))

    result = run(scenario())
    assert tried(result) == [(None, 401), ("digest", 101)] and result.last.detail == "Digest SHA-256"


def test_cs6_basic_switched_off_the_station_moves_to_token(csms, run):
    token = station("basic,token")
    c = client(csms, ("basic", "token"), token=token)

    async def connected_then_switched():
        ws = await c.connect()
        assert c.negotiated == "basic"
        # The operator finishes the group's move: Basic's open connection is closed.
        await in_thread_db(run_cmd)("station", "auth", "set", "acme", "CP1", "--methods", "token")
        await ws.wait_closed()
        return await established(c)

    result = run(connected_then_switched())
    assert tried(result) == [("basic", 401), ("token", 101)]
    assert c.negotiated == "token" and last_method() == "token"


@pytest.fixture
def totp_secret():
    make_station(make_tenant("acme"), "CP1")
    run_cmd("station", "auth", "set", "acme", "CP1", "--methods", "totp,basic")
    return json.loads(run_cmd("station", "totp", "issue", "acme", "CP1", "--validity", str(VALIDITY),
                              "--json"))["secret"]


@pytest.mark.parametrize("binding", ["scheme", "basic", "header"])
@pytest.mark.parametrize("case, slots", [("CS-7 previous", -1), ("CS-8 next", +1)])
def test_cs7_cs8_totp_of_the_previous_or_next_slot_is_accepted(csms, run, totp_secret, binding, case, slots):
    slot_now()  # away from a slot's edge: the server's current slot is the station's ± 1
    secrets = Secrets("CP1", totp=config(totp_secret, validity=VALIDITY), totp_binding=binding)
    c = client(csms, ("totp",), secrets=secrets, clock=lambda: time.time() + slots * VALIDITY)
    result = run(established(c))
    assert result.outcome is Outcome.ACCEPTED, (case, tried(result))
    assert last_method() == "totp"


def test_totp_two_slots_off_is_refused(csms, run, totp_secret):
    slot_now()
    secrets = Secrets("CP1", totp=config(totp_secret, validity=VALIDITY))
    c = client(csms, ("totp",), secrets=secrets, clock=lambda: time.time() - 2 * VALIDITY, max_failures=1)
    assert run(established(c)).outcome is Outcome.CHALLENGED


def test_bearer_with_a_token_fetched_from_the_tenants_authorization_server(csms, run, tmp_path):
    make_station(make_tenant("acme"), "CP1")
    register(tmp_path, "acme", "CP1", CP1_KEY, methods="bearer,basic")
    fetched = []

    def fresh_token():  # what a station does before connecting: its assertion, then the token
        fetched.append(1)
        return fetch_token(csms, "acme", "CP1", CP1_KEY, "ES256")["access_token"]

    secrets = Secrets("CP1", password=KEY_TEXT, bearer=fresh_token)
    c = client(csms, ("bearer", "basic"), secrets=secrets)
    result = run(established(c))
    assert tried(result) == [("bearer", 101)] and last_method() == "bearer" and fetched == [1]


def test_unknown_station_and_no_server_are_outcomes_not_crashes(csms, run):
    make_tenant("acme")
    assert run(established(client(csms, ("basic",), identity="NOPE"))).outcome is Outcome.NOT_FOUND
    gone = client(csms, ("basic",), port=1)
    result = run(established(gone))
    assert result.outcome is Outcome.TRANSPORT and result.error
