"""TOTP (totp-token-format.md, totp-http-authentication.md) without a server: the
specs' normative vectors (generation, invalid inputs, the `Authorization: TOTP`
header), then the handshake's decision for the three bindings: previous, current and
next slot accepted, each slot once, channel-bound tokens refused, malformed → 400."""
import base64
import json
from pathlib import Path

import pytest

from csms.auth import totp
from csms.auth.keys import StoredKeys
from csms.auth.schemes import Subject
from csms.auth.station_auth import Decision, authenticate
from lib.http_auth import MalformedAuthorization, parse_authorization

VECTORS = Path(__file__).parent / "totp_vectors"


def _load(name):
    return json.loads((VECTORS / name).read_text())


GENERATION = _load("totp-test-vectors.json")["vectors"]
INVALID = _load("totp-invalid-inputs.json")["vectors"]
HTTP = _load("totp-http-auth-vectors.json")


def _config(i: dict) -> totp.Config:
    return totp.config(i.get("sharedSecret"), i.get("validityTimeSeconds"), i.get("totpLength"),
                       i.get("alphabet"), i.get("hashAlgorithm"))


@pytest.mark.parametrize("vector", GENERATION, ids=[v["id"] for v in GENERATION])
def test_generation_vectors(vector):
    """Every vector passes, the channel-binding ones too (the derivation has it; the
    handshake refuses bound tokens for want of a TLS exporter, not of the algorithm)."""
    i, expected = vector["input"], vector["expected"]
    c = _config(i)
    seconds = i["unixTimestampMillis"] // 1000
    exporter = bytes.fromhex(i["tlsExporterMaterialHex"]) if "tlsExporterMaterialHex" in i else None
    assert totp.triple(c, seconds, exporter) == (expected["previous"], expected["current"], expected["next"])
    assert totp.remaining(c, seconds) == expected["remainingTimeSeconds"]


@pytest.mark.parametrize("vector", INVALID, ids=[v["id"] for v in INVALID])
def test_invalid_inputs_are_refused_with_the_shared_message(vector):
    i = vector["input"]
    with pytest.raises(totp.InvalidConfig) as exc:
        c = _config(i)
        totp.slot_of(c, i["unixTimestampMillis"] // 1000)
    assert str(exc.value).startswith(vector["expectedError"])


def _parse(header: str) -> totp.TotpCredentials:
    credentials = parse_authorization(header.encode("utf-8"))
    if credentials.scheme != "totp":
        raise MalformedAuthorization("not TOTP")
    return totp.parse_scheme(credentials)


@pytest.mark.parametrize("vector", HTTP["vectors"] + HTTP["parseVectors"],
                         ids=[v["id"] for v in HTTP["vectors"] + HTTP["parseVectors"]])
def test_http_header_vectors_parse(vector):
    header = vector.get("header") or vector["expected"]["header"]
    want = vector.get("input") or vector["expected"]
    parsed = _parse(header)
    assert (parsed.login.decode(), parsed.token.decode(), parsed.bound) == (want["login"], want["totp"], want["tlscb"])


@pytest.mark.parametrize("vector", HTTP["invalidHeaders"], ids=[v["id"] for v in HTTP["invalidHeaders"]])
def test_invalid_http_headers_are_malformed(vector):
    with pytest.raises(MalformedAuthorization):
        _parse(vector["header"])


# --- the handshake's decision ---------------------------------------------------------

SECRET = "secure!Charging!"
NOW = 1716423785  # the defaults-mid-slot vector: previous MdPU0jCm5tXz, current CN63y502maVh, next dI54vnA25m2h


class FakeTotp:
    public_id = "abc123"

    def __init__(self, now=NOW):
        self.clock, self.used = now, set()

    def config(self):
        return totp.config(SECRET)

    def first_use(self, slot, ttl):
        fresh = slot not in self.used
        self.used.add(slot)
        return fresh

    def now(self):
        return self.clock


def subject(store=None, methods=("totp", "basic")):
    return Subject(identity="chargingstation-0001", realm="Chargegate acme", methods=methods,
                   keys=StoredKeys(()), accept_hex=True, totp=store or FakeTotp())


def scheme(token: str, login="chargingstation-0001", tlscb="false") -> bytes:
    b64 = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731
    return f'TOTP login="{b64(login)}", totp="{b64(token)}", tlscb={tlscb}'.encode()


def basic(token: str, login="chargingstation-0001") -> bytes:
    return b"Basic " + base64.b64encode(f"{login}:{token}".encode())


@pytest.mark.parametrize("token", ["MdPU0jCm5tXz", "CN63y502maVh", "dI54vnA25m2h"])
def test_previous_current_and_next_are_accepted_each_slot_once(token):
    s = subject()
    result = authenticate(s, [scheme(token)])
    assert result.decision is Decision.OK and result.method == "totp" and result.token_id == "abc123"
    again = authenticate(s, [scheme(token)])
    assert again.decision is Decision.CHALLENGE and again.reason == "TOTP slot already used"


def test_the_three_bindings():
    assert authenticate(subject(), [scheme("CN63y502maVh")]).decision is Decision.OK
    assert authenticate(subject(), [basic("CN63y502maVh")]).method == "totp"
    assert authenticate(subject(), [], [b"0 CN63y502maVh"]).method == "totp"
    # the Basic binding serves a station allowed TOTP but not Basic
    assert authenticate(subject(methods=("totp",)), [basic("CN63y502maVh")]).decision is Decision.OK


def test_a_slot_too_far_a_wrong_login_or_token_get_401():
    for headers, extra in (([scheme("CN63y502maVh")], {"store": FakeTotp(NOW + 60)}),
                           ([scheme("CN63y502maVh", login="other-station")], {}),
                           ([scheme("CN63y502maVX")], {}), ([basic("CN63y502maVX")], {})):
        result = authenticate(subject(**extra), headers)
        assert result.decision is Decision.CHALLENGE
        assert result.challenges[0] == 'TOTP realm="Chargegate acme"'


def test_channel_bound_tokens_are_refused_not_checked_as_raw():
    for result in (authenticate(subject(), [scheme("CN63y502maVh", tlscb="true")]),
                   authenticate(subject(), [scheme("CN63y502maVh").replace(b", tlscb=false", b"")]),
                   authenticate(subject(), [], [b"1 CN63y502maVh"])):
        assert result.decision is Decision.CHALLENGE and "channel-bound" in result.reason


def test_totp_not_allowed_is_refused_in_every_binding():
    s = subject(methods=("basic",))
    assert authenticate(s, [scheme("CN63y502maVh")]).decision is Decision.CHALLENGE
    assert authenticate(s, [], [b"0 CN63y502maVh"]).decision is Decision.CHALLENGE
    assert authenticate(s, [basic("CN63y502maVh")]).method != "totp"


@pytest.mark.parametrize("authorization, header", [
    ([], [b"2 CN63y502maVh"]), ([], [b"0"]), ([], [b"0 a", b"0 b"]),
    ([basic("CN63y502maVh")], [b"0 CN63y502maVh"]),  # both: ambiguous
    ([b"TOTP login=\"!!\", totp=\"Q042M3k1MDJtYVZo\""], []),
])
def test_malformed_totp_gets_400(authorization, header):
    assert authenticate(subject(), authorization, header).decision is Decision.MALFORMED


def test_the_config_repr_hides_the_secret():
    assert SECRET not in repr(totp.config(SECRET))
