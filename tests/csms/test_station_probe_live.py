"""`station probe`, the white paper's diagnostics tool, against the live CSMS: a verdict
for each way a handshake ends, every header and body recorded with its instant and no
secret among them, the JSON shape, its User-Agent, and its running beside the station:
its marked handshake is let in and closed before it claims the station, so a connected
station stays connected and its queued calls stay queued; the marker skips no check."""
import asyncio
import io
import json
import re
import sys

import pytest
import websockets
from django.core.management import call_command
from django.core.management.base import CommandError

from csms import auth_audit
from csms.models import Station, StationCall
from tests.commands import run_cmd
from tests.csms.test_bearer_live import CP1_KEY, register
from tests.factories import AL1000_KEY, make_station, make_tenant
from tests.stationclient.rewriting_proxy import rewriting_proxy
from tests.stations import open_socket, station, station_url
from tests.waiting import async_eventually, eventually, in_thread_db

pytestmark = pytest.mark.django_db(transaction=True)

KEY_TEXT = AL1000_KEY.hex().upper()
MS_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def probe(monkeypatch, *args, stdin=""):
    """(stdout, the error the command ended with or None)."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    out = io.StringIO()
    try:
        call_command("station", "probe", *args, stdout=out)
    except CommandError as exc:
        return out.getvalue(), str(exc)
    return out.getvalue(), None


def verdict(out: str) -> str:
    return re.search(r"^verdict: (.*)$", out, re.M).group(1)


def acme_station(methods="basic", identity="CP1"):
    make_station(make_tenant("acme"), identity)
    if "token" in methods:
        run_cmd("station", "token", "issue", "acme", identity)
    if "totp" in methods:
        run_cmd("station", "totp", "issue", "acme", identity)
    run_cmd("station", "auth", "set", "acme", identity, "--methods", methods)


def test_accepted_with_digest_records_both_handshakes_and_closes_without_ocpp(csms, monkeypatch):
    acme_station("digest,basic")
    out, error = probe(monkeypatch, station_url(csms, "acme", "CP1"), "--password-stdin", stdin=KEY_TEXT + "\n")
    assert error is None
    assert verdict(out) == "accepted with Digest SHA-256, OCPP subprotocol ocpp2.0.1"
    assert "live connection: CP1 is not connected" in out
    assert out.count("GET /ocpp/acme/CP1 HTTP/1.1") == 2  # auto asks first, then answers the nonce
    assert "HTTP/1.1 401 Unauthorized" in out and "HTTP/1.1 101 Switching Protocols" in out
    assert '<   www-authenticate: Digest realm="Chargegate acme", qop="auth", algorithm=SHA-256' in out
    assert "<   | Authentication required" in out  # the 401's body
    assert re.search(r">   Authorization: Digest <hidden: \d+ characters>", out)
    assert "WebSocket closed by the probe (1000), no OCPP message sent" in out
    assert KEY_TEXT not in out and KEY_TEXT.lower() not in out
    # Not a connection of the station: nothing of it recorded but the audit event.
    station_row = Station.objects.get(identity="CP1")
    assert (station_row.last_auth_method, station_row.connection_seq, station_row.connected) == ("", 0, False)
    eventually(lambda: [(e.outcome, e.detail["method"]) for e in auth_audit.recent(station_row.tenant)][:1]
               == [("probed", "digest")])


def test_refused_when_the_server_offers_none_of_the_stations_methods(csms, monkeypatch):
    acme_station("token,totp")
    out, error = probe(monkeypatch, station_url(csms, "acme", "CP1"), "--method", "basic", "--password-stdin",
                       stdin=KEY_TEXT)
    expected = "refused: the server offers only Token and TOTP; this station is configured for Basic"
    assert verdict(out) == expected and error == "not accepted (the verdict above says why)"
    assert out.count("GET /ocpp/acme/CP1") == 1  # Basic goes first; nothing else to try


def test_refused_credentials_say_which_and_what_to_check(csms, monkeypatch):
    acme_station("basic")
    out, _ = probe(monkeypatch, station_url(csms, "acme", "CP1"), "--method", "basic", "--password-stdin",
                   stdin="not-the-key-of-this-station")
    assert verdict(out) == ("refused: the server rejected the Basic credentials; check the login and the "
                            "password (a 1.6 key: its raw bytes or hex text) (it offers Basic)")
    assert "not-the-key" not in out


def test_a_malformed_header_is_reported_as_the_servers_400(csms, monkeypatch):
    acme_station("token,basic")
    out, _ = probe(monkeypatch, station_url(csms, "acme", "CP1"), "--method", "token", "--password-stdin",
                   stdin="short")  # Token asks for 20 characters at least
    assert verdict(out) == "400: the server found the Authorization header malformed"
    assert "<   | Malformed Authorization header" in out


def test_unknown_station_no_credentials_and_an_address_outside_the_groups_networks(csms, monkeypatch):
    acme_station("token,basic")
    out, _ = probe(monkeypatch, station_url(csms, "acme", "NOPE"))
    assert verdict(out) == "404: the server knows no such tenant or station at this URL"
    assert "not checked: the URL names no station in this CSMS's database" in out
    out, error = probe(monkeypatch, station_url(csms, "acme", "CP1"))
    assert verdict(out) == "challenged: the server offers Token and Basic; no credentials were given (--password-stdin)"
    run_cmd("station", "group", "add", "acme", "depot", "--networks", "10.20.0.0/16")
    out, _ = probe(monkeypatch, station_url(csms, "acme", "CP1"), "--password-stdin", stdin=KEY_TEXT)
    assert verdict(out).startswith("refused: 401 without challenges")


def test_totp_and_bearer(csms, monkeypatch, tmp_path):
    make_station(make_tenant("acme"), "CP1")
    run_cmd("station", "auth", "set", "acme", "CP1", "--methods", "totp,basic")
    secret = json.loads(run_cmd("station", "totp", "issue", "acme", "CP1", "--length", "10", "--json"))["secret"]
    out, _ = probe(monkeypatch, station_url(csms, "acme", "CP1"), "--method", "totp", "--totp-length", "10",
                   "--totp-binding", "basic", "--password-stdin", stdin=secret)
    assert verdict(out) == "accepted with TOTP (Basic binding), OCPP subprotocol ocpp2.0.1"
    assert secret not in out
    register(tmp_path, "acme", "CP1", CP1_KEY, methods="bearer,basic")
    out, _ = probe(monkeypatch, station_url(csms, "acme", "CP1"), "--method", "bearer", "--password-stdin",
                   stdin="not.a.jwt")
    # The Bearer challenge's error_description (RFC 6750) is passed on: it says why.
    assert re.fullmatch(r"refused: the server rejected the Bearer credentials \([^)]+\); the token is not one "
                        r"the tenant's authorization server issued for this station \(it offers Bearer and Basic\)",
                        verdict(out))


def test_eap_rounds_are_all_recorded(csms, monkeypatch):
    make_station(make_tenant("acme"), "CP1", auth_methods=["eap", "basic"])
    out, error = probe(monkeypatch, station_url(csms, "acme", "CP1"), "--method", "eap", "--password-stdin",
                       stdin=KEY_TEXT)
    assert error is None and verdict(out) == "accepted with EAP MD5-Challenge, OCPP subprotocol ocpp2.0.1"
    assert out.count("GET /ocpp/acme/CP1") == 3  # the question, the Identity, the MD5 round
    assert out.count("Authorization: EAP <hidden:") == 2 and "authentication-info: " in out


def test_json_shape(csms, monkeypatch):
    acme_station("basic")
    out, error = probe(monkeypatch, station_url(csms, "acme", "CP1"), "--method", "basic", "--password-stdin",
                       "--json", "--protocol", "ocpp1.6", stdin=KEY_TEXT)
    assert error is None
    report = json.loads(out)
    assert set(report) == {"url", "login", "method", "user_agent", "protocols", "live_connection",
                           "exchanges", "outcome", "accepted", "verdict"}
    assert (report["outcome"], report["accepted"], report["login"]) == ("accepted", True, "CP1")
    assert report["verdict"] == "accepted with Basic, OCPP subprotocol ocpp1.6"
    assert report["live_connection"] == {"checked": True, "connected": False, "queued_calls": 0,
                                         "said": "CP1 is not connected"}
    [exchange] = report["exchanges"]
    assert set(exchange) == {"request", "response", "error", "closed_at"}
    assert MS_STAMP.match(exchange["request"]["sent_at"]) and MS_STAMP.match(exchange["response"]["received_at"])
    assert MS_STAMP.match(exchange["closed_at"])
    assert exchange["request"]["sent_at"] <= exchange["response"]["received_at"] <= exchange["closed_at"]
    sent = dict((k.lower(), v) for k, v in exchange["request"]["headers"])
    assert sent["authorization"] == "Basic <hidden: 60 characters>"  # base64 of "CP1:" + 40 hex digits
    assert sent["user-agent"] == report["user_agent"] and report["user_agent"].startswith("chargegate-probe/")
    assert sent["sec-websocket-protocol"] == "ocpp1.6"
    assert exchange["response"]["status"] == 101 and exchange["response"]["body"] == ""
    assert KEY_TEXT not in out


def test_the_user_agent_is_configurable(csms, monkeypatch):
    acme_station("basic")
    out, _ = probe(monkeypatch, station_url(csms, "acme", "CP1"), "--user-agent", "vendor-diag/2.1", "--json")
    sent = dict((k.lower(), v) for k, v in json.loads(out)["exchanges"][0]["request"]["headers"])
    assert sent["user-agent"] == "vendor-diag/2.1"


def test_a_connected_station_stays_connected_while_it_is_probed(csms, run, monkeypatch):
    acme_station("basic")
    url = station_url(csms, "acme", "CP1")

    async def scenario():
        async with station(csms, "acme", "CP1", AL1000_KEY) as cp:
            await async_eventually(lambda: Station.objects.get(identity="CP1").connected)
            seq = await asyncio.to_thread(lambda: Station.objects.get(identity="CP1").connection_seq)
            probed = await in_thread_db(probe)(monkeypatch, url, "--password-stdin", stdin=KEY_TEXT)
            await asyncio.sleep(4)  # past the server's reconcile pass (3 s): nobody took the station over
            await asyncio.wait_for(await cp._connection.ping(), 5)
            return probed, seq, cp._connection.state.name

    (out, error), seq, state = run(scenario())
    assert error is None and verdict(out) == "accepted with Basic, OCPP subprotocol ocpp2.0.1"
    assert "live connection: CP1 is connected" in out and "Chargegate-Probe: 1" in out
    assert state == "OPEN"
    row = Station.objects.get(identity="CP1")
    assert row.connection_seq == seq and row.last_user_agent != "chargegate-probe"


def test_queued_calls_stay_queued_for_the_station(csms, monkeypatch):
    acme_station("basic")
    run_cmd("station", "call", "acme", "CP1", "Reset", '{"type": "Soft"}')
    out, error = probe(monkeypatch, station_url(csms, "acme", "CP1"), "--password-stdin", stdin=KEY_TEXT)
    assert error is None and "1 call(s) queued for it" in out
    assert StationCall.objects.get().state == StationCall.State.QUEUED


def test_the_marker_skips_no_check_and_a_marked_connection_is_never_served(csms, run):
    """A client that sends the marker itself: wrong credentials are refused as ever, and
    right ones get a 101 closed at once (1000) with no answer to a frame sent after it."""
    acme_station("basic")
    marked = {"Chargegate-Probe": "1"}

    async def scenario():
        with pytest.raises(websockets.InvalidStatus, match="401"):
            await open_socket(csms, "acme", "CP1", bytes(20), headers=marked)
        ws = await open_socket(csms, "acme", "CP1", AL1000_KEY, headers=marked)
        try:
            await ws.send('[2,"1","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]')
        except websockets.ConnectionClosed:
            pass
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        return ws.close_code, ws.close_reason

    assert run(scenario()) == (1000, "probe: authenticated, not served")
    row = Station.objects.get(identity="CP1")
    assert (row.connected, row.last_boot_at, row.connection_seq) == (False, None, 0)


def _tls_for_loopback(tmp_path):
    """A CA (its PEM written for --ca-file) and a server context with a leaf for 127.0.0.1."""
    import datetime
    import ipaddress
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def cert(subject, issuer, key, signer, ca, extra=()):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
                   .not_valid_after(now + datetime.timedelta(hours=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        for extension in extra:
            builder = builder.add_extension(extension, critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "probe test CSMS root")])
    ca = cert(ca_name, ca_name, ca_key, ca_key, True)
    leaf = cert(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]), ca_name, leaf_key, ca_key,
                False, [x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])])
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM)  # noqa: E731
    (tmp_path / "ca.pem").write_bytes(pem(ca))
    (tmp_path / "leaf.pem").write_bytes(pem(leaf) + leaf_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(tmp_path / "leaf.pem")
    return str(tmp_path / "ca.pem"), server


def test_wss_with_the_stations_ca_file(csms, run, monkeypatch, tmp_path):
    acme_station("basic")
    ca_file, server_tls = _tls_for_loopback(tmp_path)

    async def scenario():
        async with rewriting_proxy(csms.port, ssl=server_tls) as (port, _):
            url = f"wss://127.0.0.1:{port}/ocpp/acme/CP1"
            untrusted = await in_thread_db(probe)(monkeypatch, url, "--password-stdin", stdin=KEY_TEXT)
            trusted = await in_thread_db(probe)(monkeypatch, url, "--password-stdin", "--ca-file", ca_file,
                                                stdin=KEY_TEXT)
            return untrusted, trusted

    (untrusted, _), (trusted, error) = run(scenario())
    assert verdict(untrusted).startswith("could not connect: ") and "certificate verify failed" in verdict(untrusted)
    assert error is None and verdict(trusted) == "accepted with Basic, OCPP subprotocol ocpp2.0.1"
    assert probe(monkeypatch, "wss://127.0.0.1:1/ocpp/acme/CP1", "--ca-file", str(tmp_path / "none.pem"))[1] == (
        f"--ca-file {tmp_path / 'none.pem'}: No such file or directory")


def test_bad_input_gets_clear_errors(csms, monkeypatch):
    acme_station("basic")
    assert probe(monkeypatch, "http://127.0.0.1/ocpp/acme/CP1")[1] == "the URL is ws:// or wss://, with a host"
    assert probe(monkeypatch, station_url(csms, "acme", "CP1"), "--method", "token")[1] == (
        "--method token needs its secret: --password-stdin")
    assert "stdin holds no secret" in probe(monkeypatch, station_url(csms, "acme", "CP1"), "--password-stdin")[1]
    assert probe(monkeypatch, f"{csms.ws}/elsewhere")[1].startswith("the URL names no station")
    assert "TOTP: " in probe(monkeypatch, station_url(csms, "acme", "CP1"), "--method", "totp",
                             "--password-stdin", stdin="short")[1]

