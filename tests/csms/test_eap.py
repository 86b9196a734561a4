"""The EAP scheme as the handshake's decision sees it, without a server: the rounds of a
conversation, EAP-MD5 checked by the reference station client's EAP side (stationclient/eap.py), Nak,
Failure, malformed credentials (400, fuzzed), and the round store's rules."""
import base64

import pytest
from django.core.cache import caches
from hypothesis import given, settings
from hypothesis import strategies as st

from csms.auth import eap, keys
from csms.auth.station_auth import Decision, Subject, authenticate
from stationclient import eap as eap_client
from stationclient.eap import EapClient, eap_challenge

REALM = "Chargegate acme"
PASSWORD = b"A1B2C3D4E5F60718293A4B5C6D7E8F9012345678"


class MemoryStore:
    """An `eap.EapStore` in a dict, with rounds taken once."""

    def __init__(self, secrets=(("k1", (PASSWORD,)),)):
        self._secrets = list(secrets)
        self.rounds: dict[int, eap.Round] = {}

    def has_secret(self):
        return bool(self._secrets)

    def secrets(self):
        return self._secrets

    def open_round(self, found):
        self.rounds[found.identifier] = found

    def take_round(self, identifier):
        return self.rounds.pop(identifier, None)

    def random(self, n):
        import secrets
        return secrets.token_bytes(n)


def subject(store, methods=("eap", "basic"), identity="CP1"):
    return Subject(identity=identity, realm=REALM, methods=methods, keys=keys.StoredKeys(()), accept_hex=True,
                   eap=store)


def decide(store, value, **kwargs):
    return authenticate(subject(store, **kwargs), [value.encode("latin-1")] if value else [])


def test_a_401_offers_an_identity_request_beside_the_other_schemes():
    result = decide(MemoryStore(), None)
    assert result.decision is Decision.CHALLENGE
    first = eap_challenge(result.challenges)
    assert result.challenges[0].startswith(f'EAP realm="{REALM}", eap-p="')
    assert result.challenges[1] == f'Basic realm="{REALM}"'
    assert (first["code"], first["type"], first["realm"]) == (eap_client.REQUEST, eap_client.IDENTITY, REALM)


def test_identity_then_md5_then_success():
    store, client = MemoryStore(), EapClient("CP1", PASSWORD)
    step = decide(store, client.answer(eap_challenge(decide(store, None).challenges)))
    md5 = eap_challenge(step.challenges)
    assert step.decision is Decision.CHALLENGE and md5["type"] == eap_client.MD5 and md5["code"] == eap_client.REQUEST
    assert step.challenges[1] == f'Basic realm="{REALM}"'  # each round offers the others too
    done = decide(store, client.answer(md5))
    assert done.decision is Decision.OK and done.method == "eap" and done.key_hash == "k1"
    assert eap_client.unpack(base64.b64decode(done.info)) == (eap_client.SUCCESS, md5["id"], None, b"")


def test_an_unsolicited_identity_starts_at_the_challenge():
    store, client = MemoryStore(), EapClient("CP1", PASSWORD, realm=REALM)
    md5 = eap_challenge(decide(store, client.identity_response()).challenges)
    assert md5["type"] == eap_client.MD5
    assert decide(store, client.answer(md5)).decision is Decision.OK


def test_either_key_of_an_open_change_answers():
    store = MemoryStore((("old", (b"OLD-PASSWORD-0000",)), ("new", (PASSWORD,))))
    for password, key_hash in ((b"OLD-PASSWORD-0000", "old"), (PASSWORD, "new")):
        client = EapClient("CP1", password, realm=REALM)
        md5 = eap_challenge(decide(store, client.identity_response()).challenges)
        assert decide(store, client.answer(md5)).key_hash == key_hash


def failure_of(result):
    found = eap_challenge(result.challenges)
    return result.decision is Decision.CHALLENGE and found["code"] == eap_client.FAILURE


def test_a_wrong_response_is_a_failure_and_spends_the_round():
    store, client = MemoryStore(), EapClient("CP1", PASSWORD, realm=REALM)
    md5 = eap_challenge(decide(store, client.identity_response()).challenges)
    wrong = decide(store, client.answer(md5, password=b"not-the-key-at-all"))
    assert failure_of(wrong) and eap_challenge(wrong.challenges)["id"] == md5["id"]
    assert wrong.reason == "wrong credentials"
    again = decide(store, client.answer(md5))  # the right answer, too late: the round is gone
    assert again.decision is Decision.CHALLENGE and eap_challenge(again.challenges)["type"] == eap_client.IDENTITY


def test_a_foreign_identity_a_nak_and_no_secret_are_failures():
    store = MemoryStore()
    assert failure_of(decide(store, EapClient("CP2", PASSWORD, realm=REALM).identity_response()))
    client = EapClient("CP1", PASSWORD, realm=REALM)
    md5 = eap_challenge(decide(store, client.identity_response()).challenges)
    nak = decide(store, client.nak(md5, [13]))  # EAP-TLS, which is not here
    assert failure_of(nak) and nak.reason == "EAP Nak names no method of ours"
    assert failure_of(decide(MemoryStore(secrets=()), client.identity_response()))


def test_a_response_answering_no_round_gets_the_plain_challenges():
    store, client = MemoryStore(), EapClient("CP1", PASSWORD, realm=REALM)
    md5 = eap_challenge(decide(store, client.identity_response()).challenges)
    stray = decide(store, client.answer(md5, identifier=(md5["id"] + 1) % 256))
    assert stray.reason == "EAP round unknown, expired or spent"
    assert eap_challenge(stray.challenges)["type"] == eap_client.IDENTITY


def test_eap_not_allowed_is_refused_even_when_right():
    store, client = MemoryStore(), EapClient("CP1", PASSWORD, realm=REALM)
    result = decide(store, client.identity_response(), methods=("basic",))
    assert result.decision is Decision.CHALLENGE and result.challenges == [f'Basic realm="{REALM}"']
    assert store.rounds == {}


@pytest.mark.parametrize("value", [
    "EAP AgEACAFDUDE=",                                   # token68
    'EAP eap-p="AgEACAFDUDE="',                           # no realm
    f'EAP realm="{REALM}"',                               # no eap-p
    f'EAP realm="{REALM}", eap-p="%%%"',                  # not base64
    f'EAP realm="{REALM}", eap-p="AQEABQE="',             # a Request
    f'EAP realm="{REALM}", eap-p="AwEABA=="',             # a Success
    f'EAP realm="{REALM}", eap-p="AgEACQFDUDE="',         # length 9, 8 bytes
    f'EAP realm="{REALM}", eap-p="AgEABWM="',             # type 99
    f'EAP realm="{REALM}", eap-p="AgEABQQ="',             # MD5 without a value
    f'EAP realm="{REALM}", eap-p="AgEABQM="',             # Nak naming nothing
    f'EAP realm="{REALM}", eap-p="AgEABwH//w=="',         # identity not UTF-8
])
def test_malformed_eap_is_400(value):
    assert decide(MemoryStore(), value).decision is Decision.MALFORMED


@settings(max_examples=300)
@given(st.binary(max_size=80))
def test_any_eap_p_is_a_decision_never_an_exception(raw):
    value = f'EAP realm="{REALM}", eap-p="{base64.b64encode(raw).decode()}"'
    assert decide(MemoryStore(), value).decision in (Decision.MALFORMED, Decision.CHALLENGE)


# --- the shared round store (keys.StoredEap, the `auth_replay` cache) ---------------------------

def stored(identity="CP1", source="10.0.0.1", seconds=30):
    return keys.StoredEap(REALM, identity, source, (), seconds)


def test_a_round_is_taken_once_and_only_by_its_station_and_address():
    caches[keys.EAP_ROUND_CACHE].clear()
    stored().open_round(eap.Round(42, 4, b"c" * 16))
    assert stored("CP2").take_round(42) is None
    assert stored(source="10.0.0.2").take_round(42) is None
    assert stored().take_round(43) is None
    assert stored().take_round(42) == eap.Round(42, 4, b"c" * 16)
    assert stored().take_round(42) is None  # replayed


def test_rounds_per_station_and_address_are_bounded():
    caches[keys.EAP_ROUND_CACHE].clear()
    for identifier in range(256):
        stored().open_round(eap.Round(identifier, 4, b"c" * 16))
    open_rounds = [i for i in range(256) if stored().take_round(i) is not None]
    assert open_rounds == list(range(256 - eap.ROUND_SLOTS, 256))


def test_an_expired_round_is_not_taken():
    caches[keys.EAP_ROUND_CACHE].clear()
    stored(seconds=-1).open_round(eap.Round(7, 4, b"c" * 16))
    assert stored().take_round(7) is None


def test_rounds_anyone_opens_cannot_push_the_replay_marks_out(settings):
    """An EAP round is opened by any handshake naming a station allowed EAP, with no
    credential: from many addresses, rounds and their spent marks are as many entries as
    the attacker likes. In process memory the cache culls its oldest third when full, so
    rounds kept beside the Digest (nonce, nc) and TOTP slot marks pushed those out and a
    captured Digest header could be replayed. Rounds have a cache of their own."""
    def memory(name, entries):
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": name,
                "OPTIONS": {"MAX_ENTRIES": entries}}
    settings.CACHES = {**settings.CACHES, "auth_replay": memory("test-replay-small", 30),
                       "eap_rounds": memory("test-eap-rounds", 1000)}
    digest = keys.StoredDigest(REALM, "CP1", ())
    assert digest.first_use(b"a-nonce", 1, 300)
    for n in range(200):
        stored(source=f"10.1.{n}.1").open_round(eap.Round(n % 256, 4, b"c" * 16))
        stored(source=f"10.1.{n}.1").take_round(n % 256)  # its spent mark
    assert not digest.first_use(b"a-nonce", 1, 300)  # still a replay


def test_sealed_eap_secrets_open_only_for_their_key_slot():
    sealed = keys.seal_eap(REALM, "CP1", bytes.fromhex(PASSWORD.decode()), "h1")
    assert keys.StoredEap(REALM, "CP1", "x", (("h1", sealed),)).secrets() == [("h1", (PASSWORD, PASSWORD.lower()))]
    assert keys.StoredEap(REALM, "CP2", "x", (("h1", sealed),)).secrets() == []
    assert PASSWORD not in sealed.encode()
