"""Issue 8, item 4: failed station handshakes are throttled (429 + Retry-After) per
(identity, address), per address and per identity, without letting an attacker lock a
real station out, and a guess never costs more than one argon2 run per stored key."""
import asyncio
import collections
import uuid

import pytest
import websockets

from csms import credentials
from csms.auth import keys, station_auth
from csms.auth.keys import StoredKeys, hash_key
from tests.factories import AL1000_KEY, make_station, make_tenant
from tests.sources import new_source
from tests.stations import basic_auth, station_url

pytestmark = pytest.mark.django_db(transaction=True)

PAIR_LIMIT, SOURCE_LIMIT, SUBJECT_LIMIT = 10, 100, 30  # settings.AUTH_THROTTLE["stations"]
WRONG = bytes(20)


async def handshake(server, identity, password: bytes, source: str) -> tuple[int, dict]:
    """The HTTP status of one handshake from `source` (101 = connected), and its headers."""
    try:
        ws = await websockets.connect(
            station_url(server, "demo", identity), subprotocols=["ocpp1.6"], open_timeout=10,
            additional_headers={"Authorization": basic_auth(identity, password)}, ping_interval=None,
            local_addr=(source, 0))
    except websockets.InvalidStatus as exc:
        return exc.response.status_code, dict(exc.response.headers)
    await ws.close()
    return 101, {}


async def guard_name(server, identity):
    """Fail from enough addresses for the identity to be guarded."""
    for _ in range(SUBJECT_LIMIT // PAIR_LIMIT):
        attacker = new_source()
        for _ in range(PAIR_LIMIT):
            await handshake(server, identity, WRONG, attacker)


async def tries_after_the_lane_is_taken(server, identity, where) -> list[int]:
    """Three times: a stranger takes the lane, then the station tries from `where()`."""
    outcomes = []
    for _ in range(3):
        await handshake(server, identity, WRONG, new_source())
        outcomes.append((await handshake(server, identity, AL1000_KEY, where()))[0])
    return outcomes


@pytest.fixture
def station(db):
    """A station of its own per test: the guarded server's counters outlive each test."""
    tenant = make_tenant("demo")
    return make_station(tenant, f"AL1000-{uuid.uuid4().hex[:8]}", AL1000_KEY)


def test_failed_handshakes_from_one_address_get_429_with_retry_after(guarded, run, station):
    attacker, home = new_source(), new_source()

    async def scenario():
        failures = [await handshake(guarded, station.identity, WRONG, attacker) for _ in range(PAIR_LIMIT)]
        assert {status for status, _ in failures} == {401}
        refused, headers = await handshake(guarded, station.identity, AL1000_KEY, attacker)
        assert refused == 429 and int(headers["retry-after"]) >= 1
        # The station itself, from its own address, is not affected.
        assert (await handshake(guarded, station.identity, AL1000_KEY, home))[0] == 101

    run(scenario())


def test_an_attacker_elsewhere_cannot_lock_the_real_station_out(guarded, run, station):
    home = new_source()

    async def scenario():
        assert (await handshake(guarded, station.identity, AL1000_KEY, home))[0] == 101
        assert SUBJECT_LIMIT % PAIR_LIMIT == 0
        for _ in range(SUBJECT_LIMIT // PAIR_LIMIT):
            attacker = new_source()
            for _ in range(PAIR_LIMIT):
                assert (await handshake(guarded, station.identity, WRONG, attacker))[0] == 401
        # The identity is guarded: unknown addresses share one attempt per lane (of three
        # strangers the first gets in, the last is refused: see the users' twin test) ...
        strangers = [await handshake(guarded, station.identity, WRONG, new_source()) for _ in range(3)]
        assert strangers[0][0] == 401
        assert strangers[-1][0] == 429 and int(strangers[-1][1]["retry-after"]) >= 1
        # ... while the station, from where it connected before, gets in at once.
        assert (await handshake(guarded, station.identity, AL1000_KEY, home))[0] == 101

    run(scenario())


def test_one_address_guessing_many_identities_is_throttled(guarded, run, db):
    tenant = make_tenant("demo")
    prefix = uuid.uuid4().hex[:8]
    for i in range(12):
        make_station(tenant, f"CP{i}-{prefix}", AL1000_KEY)
    attacker = new_source()

    async def scenario():
        # Round robin: no identity reaches its pair limit (10) before the address reaches 100.
        statuses = [(await handshake(guarded, f"CP{i % 12}-{prefix}", WRONG, attacker))[0] for i in range(SOURCE_LIMIT + 5)]
        assert statuses[:SOURCE_LIMIT] == [401] * SOURCE_LIMIT and set(statuses[SOURCE_LIMIT:]) == {429}

    run(scenario())


@pytest.mark.parametrize("password, valid_keys, most", [
    (AL1000_KEY.hex().encode(), 1, 1),       # 40 hex characters: the key, in hex
    (AL1000_KEY.hex().encode(), 2, 2),       # ... while a rotation keeps two keys valid
    (AL1000_KEY.hex().upper().encode(), 2, 2),
    (AL1000_KEY, 2, 2),                      # the raw key bytes
    (b"a-2.0.1-password-of-some-length", 2, 2),
])
def test_a_guess_costs_one_argon2_run_per_stored_key(monkeypatch, password, valid_keys, most):
    runs = []
    real = keys.verify_secret
    monkeypatch.setattr(keys, "verify_secret", lambda s, h: runs.append(1) or real(s, h))
    hashes = [hash_key(bytes([i]) * 20) for i in range(1, valid_keys + 1)]  # none of them matches
    result = station_auth.authenticate(al1000(hashes), [basic_auth("AL1000", password).encode()])
    assert result.decision is station_auth.Decision.CHALLENGE
    assert len(runs) <= most, f"{len(runs)} argon2 runs for {valid_keys} stored key(s)"


def al1000(hashes: list[str]) -> station_auth.Subject:
    return station_auth.Subject(identity="AL1000", realm="r", methods=("basic",),
                                keys=StoredKeys(tuple(hashes)), accept_hex=True)


STORM = 150  # more handshakes at once than the hashing gate holds (1 running + 64 waiting)


@pytest.fixture
def one_hash_server(own_server):
    """A server with one hashing slot and no throttle: the hashing gate alone decides."""
    return own_server("one-hash", AUTH_THROTTLE="off", AUTH_HASH_CONCURRENCY="1")


def test_a_handshake_storm_beyond_the_hashing_gate_gets_503_with_retry_after(one_hash_server, run):
    """Wrong keys from everywhere at once: those the gate cannot hold are told at once to
    come back later (503 + Retry-After), instead of queueing behind every other guess;
    a station that connected minutes ago gets in meanwhile (its key needs no hashing
    slot: lib/verified.py), and a new one as soon as the storm is over."""
    tenant = make_tenant("demo")
    make_station(tenant, "AL1000", AL1000_KEY)
    make_station(tenant, "CP2", AL1000_KEY)

    async def scenario():
        assert (await handshake(one_hash_server, "CP2", AL1000_KEY, "127.0.0.1"))[0] == 101
        answers, raging = [], True

        async def guesser():  # tries again at once, so the gate stays full
            while raging:
                answers.append(await handshake(one_hash_server, "AL1000", WRONG, "127.0.0.1"))

        storm = [asyncio.ensure_future(guesser()) for _ in range(STORM)]
        await asyncio.sleep(1.0)  # the gate is full by now
        known_during = [(await handshake(one_hash_server, "CP2", AL1000_KEY, "127.0.0.1"))[0] for _ in range(3)]
        raging = False
        await asyncio.gather(*storm)
        statuses = collections.Counter(status for status, _ in answers)
        busy = [headers for status, headers in answers if status == 503]
        after = await handshake(one_hash_server, "AL1000", AL1000_KEY, "127.0.0.1")
        return statuses, busy, known_during, after[0]

    statuses, busy, known_during, after = run(scenario(), timeout=120)
    assert set(statuses) == {401, 503}, statuses
    assert statuses[503] > 0, statuses  # before: every one waited its turn (all 401)
    assert all(int(headers["retry-after"]) >= 1 for headers in busy)
    assert known_during == [101, 101, 101]  # before: 503 like the guesses
    assert after == 101


def test_an_attacker_at_the_stations_own_address_cannot_lock_it_out(guarded, run, station):
    """Behind one NAT the attacker trips the (identity, address) limit; the station's own
    key, which it connected with minutes ago, still gets in (review F11: 429 4/4)."""
    home = new_source()

    async def scenario():
        assert (await handshake(guarded, station.identity, AL1000_KEY, home))[0] == 101
        for _ in range(PAIR_LIMIT):
            assert (await handshake(guarded, station.identity, WRONG, home))[0] == 401
        assert (await handshake(guarded, station.identity, WRONG, home))[0] == 429
        return [(await handshake(guarded, station.identity, AL1000_KEY, home))[0] for _ in range(3)]

    assert run(scenario()) == [101, 101, 101]


def test_an_attacker_holding_the_guarded_lane_cannot_keep_the_station_out_from_a_new_address(
        guarded, run, station):
    """The station's address changed (cellular NAT) while an attacker guards its name
    and spends the strangers' lane (review F3: 429 8/8)."""
    home = new_source()

    async def scenario():
        assert (await handshake(guarded, station.identity, AL1000_KEY, home))[0] == 101
        await guard_name(guarded, station.identity)
        return await tries_after_the_lane_is_taken(guarded, station.identity, new_source)

    assert run(scenario()) == [101, 101, 101]


def test_a_station_on_a_generated_key_is_never_kept_out_by_guesses(guarded, run, db):
    """A key drawn here has the cheap hash and is checked on every handshake: an attacker
    behind the station's NAT and on many other addresses, with the station never seen by
    this process before (a restart empties what it remembers), cannot keep it out, and
    its guesses are still refused (401: checked, not counted)."""
    station = make_station(make_tenant("demo"), f"GEN-{uuid.uuid4().hex[:8]}", AL1000_KEY, origin="generated")
    home = new_source()

    async def scenario():
        guesses = [(await handshake(guarded, station.identity, WRONG, home))[0] for _ in range(PAIR_LIMIT + 2)]
        for _ in range(SUBJECT_LIMIT // PAIR_LIMIT + 1):
            attacker = new_source()
            guesses += [(await handshake(guarded, station.identity, WRONG, attacker))[0] for _ in range(PAIR_LIMIT)]
        station_got = [(await handshake(guarded, station.identity, AL1000_KEY, where))[0]
                       for where in (home, new_source(), home)]
        return set(guesses), station_got

    guesses, station_got = run(scenario())
    assert guesses == {401}
    assert station_got == [101, 101, 101]


def test_a_guess_at_a_generated_key_costs_no_argon2_run():
    hashes = [hash_key(bytes([i]) * 20, generated=True) for i in (1, 2)]
    result = station_auth.authenticate(al1000(hashes), [basic_auth("AL1000", WRONG).encode()])
    assert result.decision is station_auth.Decision.CHALLENGE and result.hashes == 0
    right = station_auth.authenticate(al1000(hashes), [basic_auth("AL1000", bytes([2]) * 20).encode()])
    assert right.decision is station_auth.Decision.OK and right.key_hash == hashes[1]


def test_a_station_moved_from_a_generated_key_to_an_operators_keeps_its_known_address(guarded, run, db):
    """Review finding: successes on a cheap key left no known-good mark, so after
    `station rekey --key` guessers elsewhere, winning the strangers' lane, kept the
    station out from its own address (429 5/5)."""
    station = make_station(make_tenant("demo"), f"MOVE-{uuid.uuid4().hex[:8]}", bytes(range(20)),
                           origin="generated")
    home = new_source()

    async def scenario():
        assert (await handshake(guarded, station.identity, bytes(range(20)), home))[0] == 101
        return True

    assert run(scenario())
    credentials.replace_key(station, AL1000_KEY, "installed")

    async def guarded_name():
        await guard_name(guarded, station.identity)
        return await tries_after_the_lane_is_taken(guarded, station.identity, lambda: home)

    assert run(guarded_name()) == [101, 101, 101]
