"""`manage.py station probe URL`: the white paper's diagnostics tool ("Diagnostics"),
built on the reference station client (`stationclient`). It makes one connection
attempt as a station would — as many handshakes as that takes: Digest's first 401,
Auto's question of what is offered — records every header and body sent and received
with their instants, closes the WebSocket right after a 101 without an OCPP message, and
prints a verdict (docs/station-auth.md, "Diagnostics").

**Beside the live connection.** The white paper asks for `--force` when the probe would
use the exact URL, login, password and User-Agent of the station's live connection,
expecting the CSMS to tell a probe by its User-Agent. This CSMS lets the newest accepted
connection of a station take over whatever its User-Agent, so the probe marks its
handshakes instead (`Chargegate-Probe: 1`, `consumers.PROBE_HEADER`): this CSMS checks
them as any other, and answers one it lets in with the 101 and a close (1000) before
the connection claims the station. The station's connection, its queued calls and its
key change are untouched, and the probe needs no `--force`. The report still says what
this CSMS's database shows of the station; a URL naming no station of it (another CSMS,
which may not know the marker, a typo) cannot be checked, and the output says so.
"""
import argparse
import asyncio
import logging
import ssl
import sys
from urllib.parse import urlsplit

from django.core.management.base import CommandError

from csms.consumers import PROBE_HEADER, station_path
from csms.models import Station, StationCall
from lib.timestamps import rfc3339
from lib.totp_token import HASHES, InvalidConfig, config
from stationclient import diagnostics
from stationclient.authorization import TOTP_BINDINGS, Secrets
from stationclient.client import VERSION, Outcome, StationClient
from tenants.cli import dump_json

METHODS = ("auto", "basic", "token", "digest", "totp", "bearer", "eap")
AUTO_METHODS = ("digest", "basic")  # what a password serves, strongest first
# The client logs a final refusal, as a station must; the probe's verdict says it already.
_REPORTED = logging.getLogger("stationclient.probe")
_REPORTED.addHandler(logging.NullHandler())
_REPORTED.propagate = False


def add_arguments(sub) -> None:
    probe = sub.add_parser(
        "probe", help="try one station connection establishment and report every header sent and received "
                      "(the white paper's diagnostics tool)")
    probe.add_argument("url", help="ws(s)://host/ocpp/<tenant>/<identity>")
    probe.add_argument("--login", help="Basic's and Digest's username, TOTP's login (default: the URL's identity)")
    probe.add_argument("--method", choices=METHODS, default="auto",
                       help="auto: ask what the server offers, then answer Digest or Basic with the password")
    probe.add_argument("--password-stdin", action="store_true",
                       help="read the secret from the first line of stdin: the password (basic, digest, eap, auto), "
                            "the token (token), the TOTP secret (totp) or the access token (bearer)")
    probe.add_argument("--user-agent", default=diagnostics.probe_user_agent(VERSION),
                       help="the User-Agent to send (default: %(default)s, so the CSMS can tell a probe "
                            "from the station)")
    probe.add_argument("--protocol", action="append", dest="protocols", choices=("ocpp2.0.1", "ocpp1.6"),
                       help="the OCPP subprotocols to offer (repeatable; default: ocpp2.0.1 and ocpp1.6)")
    probe.add_argument("--totp-validity", type=int, default=30)
    probe.add_argument("--totp-length", type=int, default=12)
    probe.add_argument("--totp-hash", choices=tuple(HASHES), default="sha256")
    probe.add_argument("--totp-binding", choices=TOTP_BINDINGS, default="scheme")
    probe.add_argument("--timeout", type=float, default=10, help="seconds to wait for each answer")
    probe.add_argument("--ca-file", help="wss: the PEM CA certificates the station trusts for the CSMS "
                                         "(default: the system's)")
    # Needed before probes were marked (it let a probe take a connected station over);
    # still accepted so that scripts passing it keep working.
    probe.add_argument("--force", action="store_true", help=argparse.SUPPRESS)
    probe.add_argument("--json", action="store_true")


class ProbeCommands:
    """`do_probe` of the station command."""

    def do_probe(self, url, login, method, password_stdin, user_agent, protocols, totp_validity,
                 totp_length, totp_hash, totp_binding, timeout, ca_file, json, **_):
        where = _station_of(url)
        login = login or (where[1] if where else None)
        if not login:
            raise CommandError("the URL names no station (/ocpp/<tenant>/<identity>): give --login")
        secret = _secret_from_stdin() if password_stdin else None
        if method != "auto" and secret is None:
            raise CommandError(f"--method {method} needs its secret: --password-stdin")
        live = _live_connection(where)
        protocols = tuple(protocols or ("ocpp2.0.1", "ocpp1.6"))
        secrets, configured = _secrets(method, login, secret, totp_validity, totp_length, totp_hash, totp_binding)
        try:
            client = StationClient(url, secrets, configured, protocols=protocols, user_agent=user_agent,
                                   extra_headers=[(PROBE_HEADER.decode("ascii").title(), "1")],
                                   max_failures=1, preemptive=method != "auto", retry_delay=0,
                                   open_timeout=timeout, logger=_REPORTED, ssl_context=_trusting(ca_file))
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        result = asyncio.run(_attempt(client))
        said = diagnostics.verdict(result, configured, protocols)
        report = {"url": url, "login": login, "method": method, "user_agent": user_agent,
                  "protocols": list(protocols), "live_connection": live,
                  "exchanges": result.record.as_json(), "outcome": result.outcome.value,
                  "accepted": result.outcome is Outcome.ACCEPTED, "verdict": said}
        if json:
            self.stdout.write(dump_json(report))
        else:
            self._text_probe(report, result)
        if not report["accepted"]:
            raise CommandError("not accepted (the verdict above says why)", returncode=1)

    def _text_probe(self, report, result):
        live = report["live_connection"]
        self.stdout.write(f"probe {report['url']} as {report['login']!r}, User-Agent {report['user_agent']}")
        self.stdout.write(f"live connection: {live['said']}")
        for line in result.record.as_text():
            self.stdout.write(line)
        self.stdout.write(f"verdict: {report['verdict']}")


async def _attempt(client: StationClient):
    result = await client.establish()
    if result.connection is not None:  # no OCPP message: the probe changes nothing on the station's side
        await client.close(result.connection, result.record)
    return result


def _station_of(url: str) -> tuple[str, str] | None:
    """(tenant, identity) from the URL's path, read as the CSMS reads a request's."""
    try:
        parts = urlsplit(url)
    except ValueError:
        raise CommandError("not a URL") from None
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise CommandError("the URL is ws:// or wss://, with a host")
    raw = parts.path.encode("utf-8")
    return station_path({"raw_path": raw, "path": parts.path})


def _trusting(ca_file: str | None) -> ssl.SSLContext | None:
    if ca_file is None:
        return None
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise CommandError(f"--ca-file {ca_file}: {getattr(exc, 'strerror', None) or exc}") from None


def _secret_from_stdin() -> str:
    line = sys.stdin.readline()
    secret = line.rstrip("\r\n")
    if not secret:
        raise CommandError("--password-stdin: stdin holds no secret on its first line")
    return secret


def _secrets(method, login, secret, validity, length, hash_name, binding) -> tuple[Secrets, tuple[str, ...]]:
    if secret is None:
        return Secrets(login), ()
    if method == "auto":
        return Secrets(login, password=secret.encode("utf-8")), AUTO_METHODS
    if method in ("basic", "digest", "eap"):
        return Secrets(login, password=secret.encode("utf-8")), (method,)
    if method == "token":
        return Secrets(login, token=secret), ("token",)
    if method == "bearer":
        return Secrets(login, bearer=secret), ("bearer",)
    try:
        totp = config(secret, validity, length, None, hash_name)
    except InvalidConfig as exc:
        raise CommandError(f"TOTP: {exc}") from None
    return Secrets(login, totp=totp, totp_binding=binding), ("totp",)


def _live_connection(where) -> dict:
    """What this CSMS's database says of the station the URL names."""
    station = None if where is None else (
        Station.objects.filter(tenant__slug=where[0], identity=where[1]).only(
            "connected", "connected_at", "ocpp_version", "last_auth_method").first())
    if station is None:
        return {"checked": False, "connected": False, "queued_calls": 0,
                "said": "not checked: the URL names no station in this CSMS's database"}
    queued = StationCall.objects.filter(station=station, state=StationCall.State.QUEUED).count()
    said = (f"{where[1]} is connected (since {rfc3339(station.connected_at) or '?'}, "
            f"{station.ocpp_version or '?'}, {station.last_auth_method or '?'})" if station.connected
            else f"{where[1]} is not connected")
    if queued:
        said += f"; {queued} call(s) queued for it"
    return {"checked": True, "connected": station.connected, "queued_calls": queued, "said": said}
