"""`manage.py station add|list|show|call|calls|call-cancel|remove|...|group|auth|token|key|probe`:
the scripting interface to stations (`group`, `auth` and `token`: csms/management/station_auth.py;
`key`: csms/management/station_keys.py; `probe`, the diagnostics tool: csms/management/station_probe.py).

A key is never printed except once, by `add --generate-key`; a token once, by `token issue`.
"""
import json
import sys
import time
from types import SimpleNamespace

from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError, transaction

from csms import announce, connection_log, credentials, describe, services, station_import, station_methods
from csms.auth import keys, policy
from csms.management import station_auth, station_keys, station_probe
from csms.models import (
    ConnectorStatus,
    KeyOrigin,
    RegistrationStatus,
    Station,
    StationCall,
)
from csms.protocol.versions import SUPPORTED
from lib.timestamps import rfc3339
from tenants.cli import confirm, dump_json, removal_arguments, tenant_or_error
from tenants.models import Tenant


def station_summary(station: Station, detail: bool = True) -> dict:
    """`detail=False` (lists): nothing that costs a query per station."""
    return {
        "tenant": station.tenant.slug,
        "identity": station.identity,
        "connected": station.connected,
        "ocpp_version": station.ocpp_version or None,
        # What its boots are answered (Pending while onboarding), and the operator's setting.
        "registration_status": station.effective_registration,
        "registration_setting": station.registration_status,
        # Pending above because it still holds its series key: what happens next, or None.
        "onboarding": describe.onboarding_stage(station, with_change=detail),
        "allowed_protocols": station.allowed_protocols,
        "vendor": station.vendor or None,
        "model": station.model or None,
        "serial_number": station.serial_number or None,
        "firmware_version": station.firmware_version or None,
        "last_boot_at": _iso(station.last_boot_at),
        "connected_at": _iso(station.connected_at),
        "disconnected_at": _iso(station.disconnected_at),
        "last_seen_at": _iso(station.last_seen_at),
        "has_key": station.has_key,
        # The scheme its latest connection proved (`station auth show` says more).
        "last_auth_method": station.last_auth_method or None,
        # What its latest connection's client called itself (printable, bounded).
        "last_user_agent": station.last_user_agent or None,
    }


def call_summary(call: StationCall) -> dict:
    return {"id": call.pk, "action": call.action, "state": call.state,
            "response": call.response, "error_code": call.error_code or None,
            "error_description": call.error_description or None,
            "created_at": _iso(call.created_at), "completed_at": _iso(call.completed_at)}


_iso = rfc3339


class Command(station_auth.AuthCommands, station_keys.KeyCommands, station_probe.ProbeCommands, BaseCommand):
    help = "Manage charging stations."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)

        add = sub.add_parser("add", help="register a station with its key")
        add.add_argument("tenant")
        add.add_argument("identity")
        _key_arguments(add)
        add.add_argument("--registration", choices=RegistrationStatus.values,
                         default=RegistrationStatus.ACCEPTED,
                         help="what the station's BootNotification is answered with")
        add.add_argument("--protocols", default=",".join(SUPPORTED),
                         help=f"comma-separated subprotocols the station may use ({','.join(SUPPORTED)})")
        add.add_argument("--json", action="store_true")

        change = sub.add_parser("set", help="change a station's registration or protocols")
        change.add_argument("tenant")
        change.add_argument("identity")
        change.add_argument("--registration", choices=RegistrationStatus.values)
        change.add_argument("--protocols", help="comma-separated subprotocols the station may use")
        change.add_argument("--json", action="store_true")

        lst = sub.add_parser("list", help="list a tenant's stations")
        lst.add_argument("tenant")
        lst.add_argument("--json", action="store_true")

        show = sub.add_parser("show", help="show one station")
        show.add_argument("tenant")
        show.add_argument("identity")
        show.add_argument("--json", action="store_true")

        imp = sub.add_parser("import", help="register stations from a CSV file, with their keys "
                                            "or for onboarding")
        imp.add_argument("tenant")
        imp.add_argument("file", help="CSV with an 'identity' column, optionally 'protocols' and "
                                      "'key' (the station's 1.6 AuthorizationKey, 32 to 40 hex digits)")
        imp.add_argument("--master-key", metavar="HEX",
                         help="the series/master key the stations without a 'key' come with: "
                              "they are onboarded (required when some row has no key; '-' "
                              "reads it from stdin)")
        imp.add_argument("--keys-are-random", action="store_true",
                         help="attest that the previous system drew the 'key' values from a "
                              "CSPRNG (128 to 160 random bits each): they are then stored with the "
                              "cheap hash of keys drawn here (origin 'imported') instead of "
                              "argon2, which takes minutes for a large fleet")
        imp.add_argument("--skip-existing", action="store_true",
                         help="leave stations that already exist alone instead of refusing")
        imp.add_argument("--json", action="store_true")

        rekey = sub.add_parser("rekey", help="give a station a key outright (every other key stops "
                                             "working and its connection is closed)")
        rekey.add_argument("tenant")
        rekey.add_argument("identity")
        _key_arguments(rekey)
        rekey.add_argument("--json", action="store_true")

        rotate = sub.add_parser("rotate", help="give a station a fresh key (now, or when it connects)")
        rotate.add_argument("tenant")
        rotate.add_argument("identity")
        rotate.add_argument("--compromised", action="store_true",
                            help="the current key may have leaked: retire it on Accepted and "
                                 "never trust it as evidence")
        rotate.add_argument("--json", action="store_true")

        call = sub.add_parser("call", help="queue an OCPP CALL to a station")
        call.add_argument("tenant")
        call.add_argument("identity")
        call.add_argument("ocpp_action", metavar="ACTION")
        call.add_argument("payload", nargs="?", default="{}", help="JSON payload")
        call.add_argument("--wait", type=float, default=0,
                          help="seconds to wait for the station's answer")
        call.add_argument("--json", action="store_true")

        remove = sub.add_parser("remove", help="delete a station, its keys and everything it reported "
                                               "(a connected one is disconnected)")
        removal_arguments(remove, "tenant", "identity")

        calls = sub.add_parser("calls", help="a station's queued and unanswered calls (--all: the latest of any state)")
        calls.add_argument("tenant")
        calls.add_argument("identity")
        calls.add_argument("--all", action="store_true", dest="every", help="also the finished ones (latest 50)")
        calls.add_argument("--json", action="store_true")

        history = sub.add_parser("connections", help="a station's last connections, newest first, and the last "
                                                     "frames of the newest two (never a payload)")
        history.add_argument("tenant")
        history.add_argument("identity")
        history.add_argument("--json", action="store_true")

        cancel = sub.add_parser("call-cancel", help="withdraw a queued call before it is sent")
        cancel.add_argument("tenant")
        cancel.add_argument("identity")
        cancel.add_argument("call_id", type=int, metavar="ID")
        cancel.add_argument("--json", action="store_true")

        station_auth.add_arguments(sub)
        station_keys.add_arguments(sub)
        station_probe.add_arguments(sub)

    def handle(self, *args, action, **opts):
        getattr(self, f"do_{action.replace('-', '_')}")(**opts)

    # --- subcommands -------------------------------------------------------------------

    def do_add(self, tenant, identity, key, generate_key, master_key, registration, protocols,
               json, **_):
        tenant_obj = self._tenant(tenant)
        allowed = _protocols(protocols)
        _check_identity(identity, allowed)
        raw, origin = _chosen_key(key, generate_key, master_key)
        try:
            with transaction.atomic():
                station = credentials.register_station(
                    tenant_obj, identity, raw, origin, needs_unique_key=bool(master_key),
                    actor="cli", registration_status=registration, allowed_protocols=allowed)
        except IntegrityError:
            raise CommandError(f"station {identity!r} already exists in {tenant}") from None
        summary = station_summary(station)
        if generate_key:
            summary["key"] = raw.hex()  # shown this once; only its hash is stored
        self._emit(summary, json, lambda s: self._text_station(s, shown_key=s.get("key")))
        self._warn_if_basic_is_off(tenant_obj, [station.identity])

    def _warn_if_basic_is_off(self, tenant, identities: list[str]) -> None:
        """New stations hold a key and no token: if their inherited methods leave Basic
        out, they cannot connect yet. Said on stderr, so --json output stays clean."""
        rules = station_methods.current_rules(tenant)
        stuck = [i for i in identities if "basic" not in policy.allowed_methods(SimpleNamespace(
            identity=i, vendor="", model="", firmware_version="", auth_methods=None), rules)]
        if stuck:
            self.stderr.write(self.style.WARNING(
                f"{len(stuck)} new station(s) ({', '.join(stuck[:5])}{' ...' if len(stuck) > 5 else ''}) may not "
                "use Basic under their group's or the tenant's methods, and hold no token yet: they cannot "
                "connect until `station token issue` or `station auth set`."))

    def do_rekey(self, tenant, identity, key, generate_key, master_key, json, **_):
        station = self._station(tenant, identity)
        raw, origin = _chosen_key(key, generate_key, master_key)
        credentials.replace_key(station, raw, origin, needs_unique_key=bool(master_key), actor="cli")
        summary = station_summary(self._station(tenant, identity))  # now disconnected
        if generate_key:
            summary["key"] = raw.hex()  # shown this once; only its hash is stored
        self._emit(summary, json, lambda s: self._text_station(s, shown_key=s.get("key")))

    def do_set(self, tenant, identity, registration, protocols, json, **_):
        station = self._station(tenant, identity)
        if registration is None and protocols is None:
            raise CommandError("nothing to change: give --registration and/or --protocols")
        if registration is not None:  # the portal's "change registration" runs the same service
            services.set_registration(station, registration, actor="cli")
        if protocols is not None:
            station.allowed_protocols = _protocols(protocols)
            # A station registered before the rule keeps its identity; it may not take up
            # a protocol whose rule that identity breaks.
            _check_identity(identity, station.allowed_protocols)
            station.save(update_fields=["allowed_protocols"])
            announce.station_changed(station)
        # Takes effect at the station's next boot, within seconds for other messages
        # (registration), or at its next connection (protocols).
        self._emit(station_summary(station), json, self._text_station)

    def do_list(self, tenant, json, **_):
        tenant_obj = self._tenant(tenant)
        rows = [station_summary(s, detail=False) for s in
                Station.objects.for_tenant(tenant_obj).select_related("tenant", "credential")]
        if json:
            self._emit(rows, True, None)
            return
        for s in rows:
            state = "connected" if s["connected"] else "offline"
            self.stdout.write(f"{s['identity']}\t{state}\t{s['ocpp_version'] or '-'}\t{s['registration_status']}")
        if not rows:
            self.stdout.write(f"no stations in {tenant_obj.slug}")

    def do_show(self, tenant, identity, json, **_):
        station = self._station(tenant, identity)
        summary = station_summary(station)
        summary["connectors"] = [
            {"evse_id": c.evse_id, "connector_id": c.connector_id, "status": c.status,
             "error_code": c.error_code or None, "reported_at": _iso(c.reported_at)}
            for c in ConnectorStatus.objects.filter(station=station)
        ]
        self._emit(summary, json, self._text_station)

    def do_import(self, tenant, file, master_key, keys_are_random, skip_existing, json, **_):
        tenant_obj = self._tenant(tenant)
        master = None
        if master_key is not None:
            try:
                master = keys.parse_hex_key(_from_stdin_if_dash(master_key))
            except ValueError as exc:
                raise CommandError(f"--master-key: {exc}") from None
        rows, errors = read_station_csv(file)
        checked = station_import.check(tenant_obj, rows, errors, master, keys_are_random=keys_are_random,
                                       skip_existing=skip_existing, names=OPTIONS)
        if checked.errors:
            # Nothing is written unless the whole file is good.
            raise CommandError("nothing imported:\n  " + "\n  ".join(station_import.shown_errors(checked.errors)))
        todo = checked.todo
        try:
            summary = station_import.run(
                tenant_obj, checked, master, keys_are_random=keys_are_random, actor="cli",
                on_hashed=self._progress_every(IMPORT_BATCH, sum(r["key"] is not None for r in todo), "hashing keys"),
                on_written=lambda done: self._progress(done, len(todo), "writing"))
        except station_import.WrittenMeanwhile as exc:
            raise CommandError(str(exc)) from None
        if not todo:
            self._progress(0, 0, "writing")
        self._warn_if_basic_is_off(tenant_obj, [r["identity"] for r in todo])
        self._emit(summary, json, lambda r: self.stdout.write(
            f"imported {r['imported']} stations ({r['with_key']} with their keys, "
            f"{r['onboarding']} for onboarding), skipped {r['skipped']}"))

    def _progress_every(self, step, total, label):
        def progress(done):
            if done % step == 0 or done == total:
                self._progress(done, total, label)
        return progress

    def _progress(self, done, total, label="", width=30):
        """A bar redrawn in place on a terminal; elsewhere (a log file, a pipe) one plain
        line per step, with no carriage returns."""
        filled = width * done // max(total, 1)
        prefix = f"{label:13}" if label else ""
        text = f"{prefix}[{'#' * filled}{'.' * (width - filled)}] {done}/{total}"
        if self.stderr.isatty():
            self.stderr.write("\r" + text, ending="\n" if done == total else "")
        else:
            self.stderr.write(text)
        self.stderr.flush()

    def do_rotate(self, tenant, identity, compromised, json, **_):
        station = self._station(tenant, identity)
        try:
            change = credentials.request_change(station, "demand", "cli", compromised=compromised)
        except credentials.ChangeRefused as exc:
            raise CommandError(f"{identity}: {exc}") from None
        summary = {"station": identity, "change": change.pk, "state": change.state,
                   "trigger": change.trigger, "compromised": change.compromised,
                   "connected": station.connected}
        self._emit(summary, json, lambda c: self.stdout.write(
            f"key change {c['change']} for {identity} queued"
            + ("" if c["connected"] else "; it is sent when the station connects")))

    def do_call(self, tenant, identity, ocpp_action, payload, wait, json, **_):
        station = self._station(tenant, identity)
        try:
            body = _json_object(payload)
            call = services.queue_call(station, ocpp_action, body, requested_by="cli")
        except (ValueError, services.CallRejected) as exc:
            raise CommandError(str(exc)) from None
        deadline = time.monotonic() + wait
        while wait and not call.done and time.monotonic() < deadline:
            time.sleep(0.2)
            call.refresh_from_db()
        summary = call_summary(call)
        timed_out = bool(wait) and not call.done
        if wait:
            summary["wait_timed_out"] = timed_out
        self._emit(summary, json, lambda c: self.stdout.write(
            f"call {c['id']} {c['action']}: {c['state']}"
            + (f" {c['response']}" if c["response"] is not None else "")
            + (f" {c['error_code']} {c['error_description'] or ''}" if c["error_code"] else "")))
        if timed_out:
            station.refresh_from_db(fields=["connected"])
            self.stderr.write(self.style.WARNING(
                f"no answer within --wait {wait:g} s: call {call.pk} is {describe.call_waiting(call, station.connected)}. "
                f"`station calls {tenant} {identity}` shows it later; `station call-cancel {tenant} {identity} "
                f"{call.pk}` withdraws it while it is queued."))

    def do_remove(self, tenant, identity, yes, json, **_):
        station = self._station(tenant, identity)
        confirm(f"Remove station {identity} of {tenant}"
                + (", which is connected now (its socket is closed)," if station.connected else "")
                + " with its keys, tokens and everything it reported?", yes)
        was_connected = services.remove_station(station, actor="cli")
        self._emit({"identity": identity, "removed": True, "was_connected": was_connected}, json,
                   lambda r: self.stdout.write(f"station {identity} removed"
                                               + ("; its connection was closed" if was_connected else "")))

    def do_calls(self, tenant, identity, every, json, **_):
        station = self._station(tenant, identity)
        calls = StationCall.objects.filter(station=station)
        if every:
            calls = calls.order_by("-created_at", "-id")[:50]
        else:
            calls = calls.filter(state__in=[StationCall.State.QUEUED, StationCall.State.SENT])
        rows = [call_summary(c) for c in calls]
        if json:
            self._emit(rows, True, None)
            return
        for c in rows:
            self.stdout.write(f"{c['id']}\t{c['action']}\t{c['state']}\t{c['created_at']}")
        if not rows:
            self.stdout.write(f"no {'' if every else 'queued or unanswered '}calls for {identity}")

    def do_connections(self, tenant, identity, json, **_):
        rows = connection_log.described(connection_log.recent(self._station(tenant, identity)))
        if json:
            self._emit(rows, True, None)
            return
        for c in rows:
            closed = (f"closed {rfc3339(c['closed_at'])} ({c['close_code'] if c['close_code'] is not None else '-'}"
                      f"{': ' + c['close_reason'] if c['close_reason'] else ''})" if c["closed_at"] else "open")
            self.stdout.write(f"#{c['seq']}\t{rfc3339(c['opened_at'])}\t{c['method'] or '-'}\t{c['source'] or '-'}"
                              f"\t{closed}\t{c['user_agent'] or '-'}")
            for f in c["frames"] or ():
                self.stdout.write(f"    {rfc3339(f['at'])}  {f['direction']:<3} {f['type']:<10} {f['action'] or '-'}"
                                  f"  {f['message_id'] or '-'}  {f['bytes']} B{'  ' + f['outcome'] if f['outcome'] else ''}")
        if not rows:
            self.stdout.write(f"{identity} has not connected since its history began")

    def do_call_cancel(self, tenant, identity, call_id, json, **_):
        station = self._station(tenant, identity)
        try:
            call = services.cancel_call(station, call_id, actor="cli")
        except services.CallRejected as exc:
            raise CommandError(str(exc)) from None
        self._emit(call_summary(call), json, lambda c: self.stdout.write(f"call {c['id']} {c['action']}: cancelled"))

    # --- helpers ---------------------------------------------------------------------------

    def _tenant(self, slug) -> Tenant:
        return tenant_or_error(slug)

    def _station(self, tenant, identity) -> Station:
        station = (Station.objects.for_tenant(self._tenant(tenant))
                   .select_related("tenant", "credential").filter(identity=identity).first())
        if station is None:
            raise CommandError(f"no station {identity!r} in {tenant}")
        return station

    def _emit(self, data, as_json, text):
        if as_json:
            self.stdout.write(dump_json(data))
        else:
            text(data)

    def _text_station(self, s, shown_key=None):
        for name, value in s.items():
            if name in ("key", "connectors"):
                continue
            self.stdout.write(f"{name:20} {value if value is not None else '-'}")
        for c in s.get("connectors", []):
            self.stdout.write(f"connector {c['evse_id']}/{c['connector_id']:<9} {c['status']}")
        if shown_key:
            self.stdout.write(self.style.WARNING(
                f"key                  {shown_key}\n"
                "This key is shown once and never again: store it on the station now."))


def _key_arguments(parser) -> None:
    key = parser.add_mutually_exclusive_group(required=True)
    key.add_argument("--key", metavar="HEX",
                     help="the station's 16- to 20-byte key in hex, 32 to 40 digits ('-' reads it from stdin, "
                          "keeping it out of the process list and shell history)")
    key.add_argument("--generate-key", action="store_true",
                     help="generate a random key and print it once")
    key.add_argument("--master-key", metavar="HEX",
                     help="a series/master key: the station is onboarded (Pending) and "
                          "given a unique key at its first BootNotification")


def _chosen_key(key, generate_key, master_key) -> tuple[bytes, str]:
    """The key `--key`, `--generate-key` or `--master-key` gives, and its origin."""
    if generate_key:
        return keys.generate_key(), KeyOrigin.GENERATED
    try:
        raw = keys.parse_hex_key(_from_stdin_if_dash(master_key or key))
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    return raw, KeyOrigin.MASTER if master_key else KeyOrigin.INSTALLED


def _check_identity(identity: str, protocols: list[str]) -> None:
    problems = Station.identity_problems(identity, protocols)
    if problems:
        raise CommandError(f"{identity!r}: " + "; ".join(problems))


def _from_stdin_if_dash(value: str) -> str:
    return sys.stdin.readline().strip() if value == "-" else value


IMPORT_BATCH = station_import.BATCH  # rows per progress step
OPTIONS = {"master_key": "--master-key", "skip_existing": "--skip-existing", "keys_are_random": "--keys-are-random"}


def read_station_csv(path: str) -> tuple[list[dict], list[str]]:
    """The rows of a CSV file and every problem with it by line (`station_import.read_rows`)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return station_import.read_rows(station_import.decode(data, path), path)
    except station_import.FileRefused as exc:
        raise CommandError(str(exc)) from None


def _protocols(text: str) -> list[str]:
    try:
        return station_import.parse_protocols(text)
    except ValueError as exc:
        raise CommandError(str(exc)) from None


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"payload is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError("payload must be a JSON object")
    return value
