"""The probe's verdicts for the answers a live test cannot easily provoke: 429, 503, a
101 without an OCPP version, an unproven Digest server, no server at all."""
from datetime import UTC, datetime

from stationclient.diagnostics import probe_user_agent, verdict
from stationclient.outcome import Attempt, Outcome, Result
from stationclient.record import Exchange, Record, Response, request

AT = datetime(2026, 12, 2, tzinfo=UTC)


def result(outcome, status, method="basic", detail="Basic", headers=(), error=None):
    exchange = Exchange(request(AT, "/ocpp/acme/CP1", []),
                        Response(AT, status, "", list(headers)) if status else None, error=error)
    return Result(outcome, [Attempt(method, detail, status)], Record([exchange]), error=error)


def test_verdicts_say_what_to_do():
    protocols = ("ocpp2.0.1", "ocpp1.6")
    said = {o: verdict(r, ("basic",), protocols) for o, r in {
        Outcome.THROTTLED: result(Outcome.THROTTLED, 429, headers=[("Retry-After", "30")]),
        Outcome.BUSY: result(Outcome.BUSY, 503, headers=[("retry-after", "1")]),
        Outcome.NO_SUBPROTOCOL: result(Outcome.NO_SUBPROTOCOL, 101),
        Outcome.UNPROVEN: result(Outcome.UNPROVEN, 101, "digest", "Digest SHA-256"),
        Outcome.TRANSPORT: result(Outcome.TRANSPORT, None, error="connection refused (nothing listens there)"),
        Outcome.OTHER_STATUS: result(Outcome.OTHER_STATUS, 302),
    }.items()}
    assert said == {
        Outcome.THROTTLED: "429: too many failed attempts for this login or address; the server asks to wait 30 s",
        Outcome.BUSY: "503: the server is busy or cannot check now; retry after 1 s",
        Outcome.NO_SUBPROTOCOL: "accepted Basic, but no OCPP version was agreed (offered ocpp2.0.1, ocpp1.6): "
                                "the station may not be allowed those",
        Outcome.UNPROVEN: "accepted, but the server's Digest rspauth is wrong: it did not prove it knows the "
                          "password (a server or proxy that is not the CSMS?)",
        Outcome.TRANSPORT: "could not connect: connection refused (nothing listens there)",
        Outcome.OTHER_STATUS: "302: not an answer to a WebSocket handshake an OCPP endpoint gives",
    }


def test_the_probe_says_it_is_a_probe():
    assert probe_user_agent("1.2.3") == "chargegate-probe/1.2.3"
