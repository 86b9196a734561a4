"""Station services shared by the consumer, management commands, views and tasks.

Synchronous and database-bound; the consumer calls them through database_sync_to_async.
"""
import logging
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from ocpp.v16.enums import Action as Action16
from ocpp.v16.enums import ConfigurationKey
from ocpp.v201.enums import Action as Action201

from lib.prepared import Prepared
from tenants import audit

from . import claim, connection_log, credentials, leaving, lifecycle, station_bearer, station_methods
from .announce import disconnect, nudge, station_changed
from .auth import keys, policy
from .models import RegistrationStatus, Station, StationCall
from .protocol.errors import RpcError
from .protocol.validation import is_known_action, validate
from .protocol.versions import SUPPORTED, OcppVersion

log = logging.getLogger(__name__)


OPEN_CALLS_SEEN = 20  # beyond that (never seen), the orphan reaper ends them

# The handshake's reads, compiled once per process (lib/prepared.py): building and
# compiling them cost more than running them.
_station_at = Prepared(lambda slug, identity: (
    Station.objects.select_related("tenant", "credential", "tenant__station_auth_policy")
    .filter(tenant__slug=slug, tenant__operates_charging_stations=True, identity=identity).order_by("pk")[:1]),
    slug=str, identity=str)
_station_by_pk = Prepared(lambda station_id: (
    Station.objects.select_related("tenant", "credential").filter(pk=station_id)[:1]), station_id=int)
# The station's calls in flight first, then one queued (an open connection has at most
# one call in flight; more are left by earlier sockets whose process died).
_open_calls = Prepared(lambda station_id: StationCall.objects.filter(
    station_id=station_id, state__in=(StationCall.State.SENT, StationCall.State.QUEUED))
    .order_by("-state", "pk").values_list("state", *lifecycle.LOST_ROW)[:OPEN_CALLS_SEEN], station_id=int)


def find_station(tenant_slug: str, identity: str) -> Station | None:
    return _station_at.first(slug=tenant_slug, identity=identity)


@dataclass(frozen=True)
class AtHandshake:
    """What the handshake reads of a station, in one trip to the database."""

    station: Station
    rules: policy.Rules  # the tenant's inherited method lists (station_methods.rules_for)
    tokens: keys.StoredTokens  # its active tokens, read only when the handshake presents one
    logins: tuple[bytes, ...] = ()  # its other Basic logins, read only when one is sent
    totp: keys.StoredTotp | None = None  # its TOTP secret, read only when TOTP may be presented
    bearer: keys.StoredBearer | None = None  # the tenant's token keys, read only when a Bearer is presented


def station_for_handshake(tenant_slug: str, identity: str, authorization: list[bytes],
                          totp_header: list[bytes] = ()) -> AtHandshake | None:
    station = find_station(tenant_slug, identity)
    if station is None:
        return None
    rules = station_methods.rules_for(station.tenant)
    credentials = station_methods.peek(authorization)
    tokens = keys.StoredTokens()
    if station_methods.presents_token(credentials) and "token" in policy.allowed_methods(station, rules):
        tokens = station_methods.stored_tokens(station.pk)
    logins = ()
    if station_methods.presents_other_login(credentials, station.identity):
        logins = station_methods.logins_of(station.pk)
    totp = None
    if station_methods.presents_totp(credentials, totp_header) and "totp" in policy.allowed_methods(station, rules):
        totp = station_methods.stored_totp(station)
    bearer = None
    if station_bearer.presents_bearer(credentials) and "bearer" in policy.allowed_methods(station, rules):
        bearer = station_bearer.stored_bearer(station, credentials)
    return AtHandshake(station, rules, tokens, logins, totp, bearer)


def load_station(station_id: int) -> Station:
    """The station row with its tenant and credential, as a connection keeps it. Compiled
    once: a connection reloads it every STATION_FRESH_SECONDS while its station talks, and
    compiling the three tables' columns cost 2–3 ms a time, most of a busy fleet's CPU
    during a reconnect storm (yappi, bench/storm.py)."""
    station = _station_by_pk.first(station_id=station_id)
    if station is None:
        raise Station.DoesNotExist(f"no station {station_id}")
    return station


# --- connection bookkeeping ---------------------------------------------------------------

def claim_connection(station_id: int, connection_id: str, version: str, method: str = "basic",
                     credential: str = "", user_agent: str = "") -> int | None:
    """Record that `connection_id` is now the station's socket, `method` the scheme (and
    `credential` the token, by its public name) it last authenticated with and
    `user_agent` what its client called itself; return the connection's sequence number
    (None: the station was removed meanwhile). One statement (csms/claim.py)."""
    return claim.claim(station_id, connection_id, version, method, credential, user_agent)


@dataclass(frozen=True)
class Opened:
    """What `open_connection` found."""

    key_valid: bool  # False: refuse the connection (401)
    seq: int | None = None  # None: the station was removed meanwhile
    work_queued: bool = False  # calls wait to be sent: deliver them now
    after: lifecycle.After = lifecycle.NOTHING  # what the calls it ended ask of the connection


def open_connection(station_id: int, connection_id: str, version: str, key_hash: str,
                    method: str = "basic", token_id: str = "", tenant_id: int = 0,
                    user_agent: str = "", source: str = "") -> Opened:
    """The handshake's writes, in one trip (on the group-commit writer): the key the
    connection proved settles what it can (`credentials.record_proof`), the connection
    claims the station (recording `method`, the scheme it proved itself with), the key
    is checked again after the claim, and queued work is looked for. A connection let in
    is added to the station's connection history (`connection_log.opened`, from `source`).

    A Token, TOTP or Bearer connection proves no key (rotation is Basic's business): the
    token, TOTP secret or access token (its jti, in the station's tenant `tenant_id`) it
    proved (`token_id`) is checked after the claim instead, so a revocation racing the
    handshake is not undone either.

    The key is invalid if it was retired during the check, or replaced (`station
    rekey`) after the proof and before the claim, whose write would otherwise have
    undone the revocation: checked after the claim in the same transaction, so whichever
    commits last, no connection lives on with a dead key.
    """
    if method == "bearer" and not proof_is_valid(station_id, method, key_hash, token_id, tenant_id):
        # A revoked token is refused before anything changes: its handshake must not end
        # the live connection's calls nor take the station over from it. (Token and TOTP
        # read their active credentials before the decision.)
        return Opened(key_valid=False)
    work_queued, after = _calls_of_a_new_connection(station_id)
    if method in TOKEN_METHODS:
        seq = claim_connection(station_id, connection_id, version, method, token_id, user_agent)
        if not proof_is_valid(station_id, method, key_hash, token_id, tenant_id):
            # Revoked while the handshake ran: the refused claim does not stay.
            release_connection(station_id, connection_id)
            return Opened(key_valid=False, after=after)
    else:
        if credentials.record_proof(station_id, key_hash) is None:
            return Opened(key_valid=False, after=after)
        seq = claim_connection(station_id, connection_id, version, method, user_agent=user_agent)
        if not proof_is_valid(station_id, method, key_hash, token_id, tenant_id):
            return Opened(key_valid=False, after=after)
    if seq is not None:
        connection_log.opened(station_id, tenant_id, seq, connection_id, method=method, source=source,
                              user_agent=user_agent)
    return Opened(key_valid=True, seq=seq, work_queued=work_queued, after=after)


# The methods that prove a token (by its public name), not a key: not part of rotation.
TOKEN_METHODS = ("token", "totp", "bearer")


def proof_is_valid(station_id: int, method: str, key_hash: str, token_id: str, tenant_id: int) -> bool:
    """Whether what a handshake proved is still valid now: the key (by its hash), or the
    token, TOTP secret or access token (by its public name). Read only."""
    if method == "bearer":
        return station_bearer.token_is_active(tenant_id, token_id)
    if method == "token":
        return station_methods.token_is_active(station_id, token_id)
    if method == "totp":
        return station_methods.totp_is_active(station_id, token_id)
    return credentials.key_is_valid(station_id, key_hash)


def _calls_of_a_new_connection(station_id: int) -> tuple[bool, lifecycle.After]:
    """Whether calls wait to be sent, having ended those still in flight as lost: a
    station that opens a new connection will not answer on its old one. The old socket's
    own end says so when its process lives; when that process was killed, nothing else
    would until the orphan reaper, a minute later, and a key change sent just before the
    kill stayed open that long. Lost before this connection's proof is recorded: that is
    the order in which the station did things."""
    rows = _open_calls(station_id=station_id)
    in_flight = [row[1:] for row in rows if row[0] == StationCall.State.SENT]
    after = lifecycle.NOTHING
    if in_flight:
        _ended, after = lifecycle.lose_sent(in_flight, "the station opened a new connection before answering")
    return any(row[0] == StationCall.State.QUEUED for row in rows), after


def supersedes(event_seq: int | None, own_seq: int | None) -> bool:
    """Whether a takeover announced with `event_seq` should close a connection holding
    `own_seq`: only a newer claim does, so racing handshakes never close each other."""
    if event_seq is None:
        return False
    return own_seq is None or event_seq > own_seq


def release_connection(station_id: int, connection_id: str) -> None:
    """Mark the station offline, unless a newer connection has already replaced ours."""
    Station.objects.filter(pk=station_id, connection_id=connection_id).update(
        connected=False, connection_node="", disconnected_at=timezone.now()
    )


def close_connection(station_id: int, connection_id: str, seq: int | None, code: int | None,
                     reason: str, frames: str) -> None:
    """A connection's end in one trip: the station offline (unless a newer connection
    holds it), and in its connection history how it closed and its last frames."""
    release_connection(station_id, connection_id)
    if seq is not None:
        connection_log.closed(station_id, seq, code, reason, frames)


# --- CSMS-initiated calls -----------------------------------------------------------------

def set_registration(station: Station, status: str, *, actor: str) -> bool:
    """The operator's registration decision (what BootNotification answers); returns
    whether it changed. Its connection reloads the station before its next message."""
    status = RegistrationStatus(status)
    if station.registration_status == status:
        return False
    before, station.registration_status = station.registration_status, status
    station.save(update_fields=["registration_status"])
    credentials.audit(station, actor, "station.registration_changed", status.value, previous=before)
    station_changed(station)
    return True


class CallRejected(ValueError):
    """The requested call cannot be queued: bad action or payload."""


def queue_call(station: Station, action: str, payload: dict, *, requested_by: str = "") -> StationCall:
    """Record the intent to CALL `action` on the station and nudge its consumer.

    The payload is checked against every version the station may speak now, so a bad
    request is refused here, not discovered on the wire.
    """
    if sets_credentials(action, payload):
        raise CallRejected("station credentials are changed with `station rotate` (or the API), "
                           "which never stores the key and cannot lock the station out")
    versions = [station.ocpp_version] if station.ocpp_version in SUPPORTED else [
        v for v in station.allowed_protocols if v in SUPPORTED]
    problems = []
    for version in versions:
        if not is_known_action(version, action):
            problems.append(f"{action} is not an OCPP {OcppVersion(version).label} action")
            continue
        try:
            validate(version, action, payload)
        except RpcError as exc:
            problems.append(f"OCPP {OcppVersion(version).label}: {exc.description}")
    if len(problems) == len(versions):
        raise CallRejected("; ".join(problems) or "station allows no OCPP version")
    with transaction.atomic():
        call = StationCall.objects.create(tenant=station.tenant, station=station, action=action,
                                          payload=payload, requested_by=requested_by)
        transaction.on_commit(lambda: nudge(station))
    return call


# Configuration that carries or governs a station's credentials.
_CREDENTIAL_KEYS_16 = {ConfigurationKey.authorization_key, ConfigurationKey.security_profile}
_CREDENTIAL_VARIABLES_201 = {"BasicAuthPassword", "SecurityProfile"}


def sets_credentials(action: str, payload: dict) -> bool:
    """Whether a CALL would change a station's credentials behind the rotation machine."""
    if action == Action16.change_configuration:
        return payload.get("key") in _CREDENTIAL_KEYS_16
    if action == Action201.set_variables:
        return any((item.get("variable") or {}).get("name") in _CREDENTIAL_VARIABLES_201
                   for item in payload.get("setVariableData") or [] if isinstance(item, dict))
    return False


def scrub_response(action: str, payload: dict) -> dict:
    """Remove a credential a non-compliant station echoes back (GetConfiguration should
    not report AuthorizationKey; GetVariables should not read BasicAuthPassword)."""
    if action == Action16.get_configuration:
        for item in payload.get("configurationKey") or []:
            if item.get("key") == ConfigurationKey.authorization_key and "value" in item:
                item["value"] = "[redacted]"
    elif action == Action201.get_variables:
        for item in payload.get("getVariableResult") or []:
            if (item.get("variable") or {}).get("name") == "BasicAuthPassword" and "attributeValue" in item:
                item["attributeValue"] = "[redacted]"
    return payload


def claim_next_call(station_id: int, connection_id: str | None = None) -> StationCall | None:
    """Take the oldest queued call for sending; None if there is none.

    The conditional update makes the claim safe when two consumers race (an old socket
    not yet closed and its replacement). With `connection_id`, only the station's newest
    connection may claim: a superseded socket, still open on this side while its
    station has already reconnected, would send the call into a connection about to
    end, and lose it (for a settling Reset, one of its few tries). A draining process
    starts no call: the station is about to reconnect elsewhere, and the node it reaches
    sends it (csms/drain.py).
    """
    if leaving.draining():
        return None
    queued = StationCall.objects.filter(station_id=station_id, state=StationCall.State.QUEUED)
    if connection_id is not None:  # superseded: nothing is found, the newer connection sends it
        queued = queued.filter(station__connection_id=connection_id)
    while True:
        call = queued.order_by("created_at", "id").first()
        if call is None:
            return None
        if queued.filter(pk=call.pk).update(state=StationCall.State.SENT, sent_at=timezone.now()):
            call.state = StationCall.State.SENT
            return call


def requeue_call(call_id: int) -> None:
    """Put back a claimed call whose frame never left (its socket was already gone)."""
    StationCall.objects.filter(pk=call_id, state=StationCall.State.SENT).update(
        state=StationCall.State.QUEUED, sent_at=None, message_id="", ocpp_version="")


def record_sent(call_id: int, message_id: str, version: str) -> None:
    StationCall.objects.filter(pk=call_id).update(message_id=message_id, ocpp_version=version)


def cancel_call(station: Station, call_id: int, *, actor: str) -> StationCall:
    """Withdraw a call an operator queued, while it is still queued. One already sent is
    the station's to answer; a call a key change made belongs to that change
    (`station rekey` or a new rotation ends it)."""
    call = StationCall.objects.filter(station=station, pk=call_id).first()
    if call is None:
        raise CallRejected(f"no call {call_id} for station {station.identity}")
    if call.purpose != StationCall.Purpose.COMMAND:
        raise CallRejected(f"call {call_id} delivers a key change; it cannot be cancelled on its own")
    cancelled = StationCall.objects.filter(pk=call.pk, state=StationCall.State.QUEUED).update(
        state=StationCall.State.CANCELLED, completed_at=timezone.now(),
        error_description=f"cancelled by {actor}"[:255])
    call.refresh_from_db()
    if not cancelled:
        raise CallRejected(f"call {call_id} is {call.state}, no longer queued: only a queued call can be cancelled")
    return call


def remove_station(station: Station, *, actor: str) -> bool:
    """Delete a station with everything it reported and its keys (Bearer public keys
    retired, their tokens revoked); True if it was connected. A live socket is closed (the event, and its connection's next reconcile
    pass, which finds the station gone)."""
    with transaction.atomic():
        connected = Station.objects.filter(pk=station.pk).values_list("connected", flat=True).first()
        audit.record(station.tenant_id, actor, "station.removed", "was connected" if connected else "",
                     identity=station.identity)
        station_bearer.retire_all(station, actor)  # its Bearer keys are no one's to inherit
        gone = Station(pk=station.pk, tenant_id=station.tenant_id)  # keeps its group name after the delete
        station.delete()
        transaction.on_commit(lambda: disconnect(gone))
    return bool(connected)
