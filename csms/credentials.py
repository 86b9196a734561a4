"""Station credentials in the database: the I/O side of `csms.rotation`.

Every change to a credential record happens here, inside a transaction holding the
record's row lock, as one transition of the pure state machine. Keys exist in plain
form only inside `prepare_call`, which the consumer calls at the moment it sends them;
they are never stored, queued, logged or put on the channel layer.
"""
import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from ocpp.v16.enums import Action as Action16
from ocpp.v16.enums import ConfigurationKey, ConfigurationStatus, ResetType
from ocpp.v201.enums import Action as Action201
from ocpp.v201.enums import ResetEnumType

from lib.prepared import Prepared
from tenants import audit as audit_trail

from . import announce, method_rules, rotation, signals
from .auth import keys, policy
from .models import (
    AuditEvent,
    CredentialChange,
    KeyOrigin,
    RegistrationStatus,
    Station,
    StationCall,
    StationCredential,
    Transaction,
)
from .protocol.versions import OcppVersion
from .rotation import Key, Mode, Outcome

log = logging.getLogger(__name__)

ALERT_AFTER_FAILURES = 3
# How long a station that accepted a settling Reset is given to carry it out: no further
# Reset is sent meanwhile, and an old-key connection after an observed restart retires
# the new key only once this has passed (it may have dropped its socket for a network
# blip and restart onto the new key seconds later).
def reset_patience() -> timedelta:
    return timedelta(seconds=settings.CSMS["RESET_PATIENCE_SECONDS"])


# A change that several carried-out Resets have not settled is left to an operator:
# rebooting a station again and again is worse than two valid keys.
MAX_SETTLING_RESETS = 3
# Retry delays after a failed change: 1 min, 5 min, 30 min, 2 h, then every 12 h.
BACKOFF = [timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30),
           timedelta(hours=2), timedelta(hours=12)]
CREDENTIAL_ACTION = {OcppVersion.V16: Action16.change_configuration, OcppVersion.V201: Action201.set_variables}


# --- registration -------------------------------------------------------------------------

def register_station(tenant, identity: str, secret: bytes, origin: str, *,
                     needs_unique_key: bool = False, actor: str = "system", **fields) -> Station:
    """Create a station with its first key (only the key's hash, Digest verifiers and, if
    the station may use EAP, its sealed EAP secret are kept)."""
    key = new_key(tenant, identity, secret, origin, eap=allows_eap(Station(tenant=tenant, identity=identity, **fields)))
    with transaction.atomic():
        station, credential, event = registration_rows(
            tenant, identity, key.hash, origin, needs_unique_key=needs_unique_key, actor=actor,
            digest=key.digest, eap=key.eap, **fields)
        station.save()
        credential.save()
        # One station: the one way to audit (an import bulk-inserts the same rows instead).
        audit_trail.record(event.tenant_id, event.actor, event.action, event.outcome, station=station,
                           **event.detail)
    return station


def hash_for(secret: bytes, origin: str) -> str:
    """The stored hash of a key of this origin: the cheap one for a key known to be
    random (`KeyOrigin.drawn_here`), argon2 for any other."""
    return keys.hash_secret(secret, generated=KeyOrigin(origin).drawn_here)


def new_key(tenant, identity: str, secret: bytes, origin: str, *, eap: bool = False) -> Key:
    """A key as it is stored, wherever one is set (registration, `station rekey`,
    onboarding, rotation; `station import` does the same in bulk): its hash
    (`hash_for`) and its Digest verifiers, sealed (`keys.seal_digest`), so Digest
    accepts exactly the keys Basic does, both while a change is open; with `eap` (the
    station may use EAP, `allows_eap`), its EAP passwords sealed too (`keys.seal_eap`):
    EAP-MD5 needs the password itself, so it is kept only where it is used."""
    key_hash = hash_for(secret, origin)
    realm = policy.realm(tenant)
    return Key(key_hash, origin, timezone.now(), digest=keys.seal_digest(realm, identity, secret, key_hash),
               eap=keys.seal_eap(realm, identity, secret, key_hash) if eap else "")


def allows_eap(station: Station) -> bool:
    """Whether a key set now for `station` (saved or not) gets a sealed EAP secret: its
    method list, as the tenant's rules are now, names EAP."""
    return method_rules.allows(station, "eap")


def open_changes(station: Station):
    """The station's key changes not yet ended (queued, in flight, awaiting proof)."""
    return CredentialChange.objects.filter(station=station).exclude(
        state__in=[CredentialChange.State.SUCCEEDED, CredentialChange.State.FAILED,
                   CredentialChange.State.CANCELLED])


def registration_rows(tenant, identity: str, key_hash: str, origin: str, *,
                      needs_unique_key: bool = False, actor: str = "system", now=None, digest: str = "",
                      eap: str = "", **fields) -> tuple[Station, StationCredential, AuditEvent]:
    """The unsaved rows that register a station: itself, its credential record holding
    `key_hash` (of a key of this `origin`, hashed as `KeyOrigin.drawn_here` says), and
    the audit entry. `register_station` saves them one by one; `station import`
    bulk-creates them, saving the stations first (the others then take their ids).

    Raises ValidationError if the identity breaks the rule of the station's protocols
    (`Station.check_identity`)."""
    station = Station(tenant=tenant, identity=identity, **fields)
    Station.check_identity(identity, station.allowed_protocols)
    credential = StationCredential(
        tenant=tenant, station=station, current_hash=key_hash, current_origin=origin,
        current_since=now or timezone.now(), current_digest=digest, current_eap=eap,
        needs_unique_key=needs_unique_key)
    return station, credential, audit_row(station, actor, "station.registered", origin)


def replace_key(station: Station, secret: bytes, origin: str, *, needs_unique_key: bool = False,
                actor: str = "cli") -> None:
    """An operator gives the station a key outright: every other key stops being valid,
    an unresolved change is cancelled, and whoever is connected is disconnected.

    For a station whose unique key someone else claimed with the series key (the real
    one is refused with 401): `--master-key` puts it back into onboarding. Only for a
    key the operator knows the station holds; rotation is the way to change one
    without a site visit."""
    with transaction.atomic():
        cred = _locked(station.pk)
        for change in open_changes(station):
            _close_change(change, CredentialChange.State.CANCELLED, detail="keys replaced by an operator")
        _store(cred, rotation.install(new_key(station.tenant, station.identity, secret, origin,
                                              eap=allows_eap(station))))
        cred.outstanding_change = None
        cred.needs_unique_key = needs_unique_key
        cred.reset_accepted_at = cred.old_after_restart_at = cred.first_master_connection_at = None
        cred.reset_boot_accepted = False
        cred.save()
        audit(station, actor, "credential.replaced", origin)
        announce.revoke_connection(station)


def audit(station: Station, actor: str, action: str, outcome: str = "", **detail) -> None:
    audit_trail.record(station.tenant_id, actor, action, outcome, station=station, **detail)


def audit_row(station: Station, actor: str, action: str, outcome: str = "", **detail) -> AuditEvent:
    """An unsaved event, for the bulk writers that insert thousands at once (a station
    import); one event at a time goes through `tenants.audit.record`."""
    return AuditEvent(tenant_id=station.tenant_id, station=station, actor=actor,
                      action=action, outcome=outcome, detail=detail)


# --- state <-> rows ----------------------------------------------------------------------

def _key(cred: StationCredential, slot: str) -> Key | None:
    hash_ = getattr(cred, f"{slot}_hash")
    return Key(hash_, getattr(cred, f"{slot}_origin"), getattr(cred, f"{slot}_since"),
               getattr(cred, f"{slot}_digest"), getattr(cred, f"{slot}_eap")) if hash_ else None


def state_of(cred: StationCredential) -> rotation.Credentials:
    return rotation.Credentials(
        current=_key(cred, "current"), pending=_key(cred, "pending"), previous=_key(cred, "previous"),
        phase=rotation.Phase(cred.phase), reboot_seen=cred.reboot_seen,
        old_after_restart=cred.old_after_restart_at is not None, distrust_old=cred.distrust_old)


def _store(cred: StationCredential, state: rotation.Credentials) -> None:
    if state == state_of(cred):
        return  # nothing changed: no write
    for slot in ("current", "pending", "previous"):
        key = getattr(state, slot)
        setattr(cred, f"{slot}_hash", key.hash if key else "")
        setattr(cred, f"{slot}_origin", key.origin if key else "")
        setattr(cred, f"{slot}_since", key.since if key else None)
        setattr(cred, f"{slot}_digest", key.digest if key else "")
        setattr(cred, f"{slot}_eap", key.eap if key else "")
    cred.phase = state.phase.value
    cred.reboot_seen = state.reboot_seen
    if not state.old_after_restart:
        cred.old_after_restart_at = None
    elif cred.old_after_restart_at is None:
        cred.old_after_restart_at = timezone.now()  # the restart patience runs from here
    cred.distrust_old = state.distrust_old
    cred.save()


def _locked(station_id: int) -> StationCredential:
    return (StationCredential.objects.select_for_update().select_related("station__tenant")
            .get(station_id=station_id))


@dataclass(frozen=True)
class StoredSecrets:
    """The station's valid keys as each scheme's check sees them (`stored`)."""

    keys: keys.StoredKeys  # Basic and Token logins: the key hashes
    digest: keys.StoredDigest
    eap: keys.StoredEap


def stored(station: Station, source: str) -> StoredSecrets:
    """The station's valid keys for a handshake from the client address `source`: read off
    its credential once (the rotation state was built three times per handshake)."""
    cred = getattr(station, "credential", None)
    state = state_of(cred) if cred else None
    rows = tuple(key for _, key in state.keys()) if state else ()
    realm = policy.realm(station.tenant)
    return StoredSecrets(
        keys.StoredKeys(tuple(state.valid_hashes) if state else ()),
        keys.StoredDigest(realm, station.identity, tuple((key.hash, key.digest) for key in rows)),
        keys.StoredEap(realm, station.identity, source, tuple((key.hash, key.eap) for key in rows),
                       settings.CSMS["EAP_ROUND_SECONDS"]))


_credential_of = Prepared(lambda station_id: StationCredential.objects.filter(station_id=station_id)[:1],
                          station_id=int)
# A settled station proving its current key (not a first series-key connection): every
# handshake's case, answered without a lock.
_settled_on = Prepared(lambda station_id, key_hash: StationCredential.objects.filter(
    station_id=station_id, phase=rotation.Phase.IDLE, current_hash=key_hash).exclude(
    current_origin=KeyOrigin.MASTER, first_master_connection_at__isnull=True).values_list("pk", flat=True)[:1],
    station_id=int, key_hash=str)


def key_is_valid(station_id: int, key_hash: str) -> bool:
    """Whether the key with this hash is one the station's record accepts right now."""
    cred = _credential_of.first(station_id=station_id)
    return cred is not None and key_hash in state_of(cred).valid_hashes


def mode_of(station: Station) -> Mode:
    return Mode(station.tenant.rotation_mode)


# --- requesting a change --------------------------------------------------------------------

class ChangeRefused(ValueError):
    pass


def request_change(station: Station, trigger: str, requested_by: str, *,
                   compromised: bool = False) -> CredentialChange:
    """Queue a key change for the station; it is sent when the station is (next) online.

    `compromised`: the old key may be in other hands. It is retired as soon as the
    station accepts, and nothing shown with it (a connection, a boot) settles anything.
    """
    with transaction.atomic():
        cred = _locked(station.pk)
        open_change = open_changes(station).first()
        if open_change is not None:
            raise ChangeRefused(f"a key change is already {open_change.state.replace('_', ' ')}")
        if state_of(cred).change_outstanding:
            raise ChangeRefused(f"the previous key change is unresolved ({cred.phase})")
        attempt = 1 + consecutive_failures(cred)
        call = StationCall.objects.create(
            tenant=station.tenant, station=station, action="(credential)", payload={},
            purpose=StationCall.Purpose.CREDENTIAL, requested_by=requested_by)
        change = CredentialChange.objects.create(
            tenant=station.tenant, station=station, trigger=trigger, attempt=attempt,
            call=call, requested_by=requested_by, compromised=compromised)
        audit(station, requested_by, "credential.change_requested", trigger, change=change.pk)
        transaction.on_commit(lambda: announce.nudge(station))
    return change


# --- sending (consumer, at send time) -----------------------------------------------------

@dataclass
class PreparedCall:
    action: str
    payload: dict  # holds the new secret: send it, never store or log it


def prepare_call(call_id: int, version: str) -> PreparedCall | str:
    """Generate the new key and start the change; a string explains why not to send."""
    version = OcppVersion(version)
    call = StationCall.objects.get(pk=call_id)
    with transaction.atomic():
        cred = _locked(call.station_id)
        change = CredentialChange.objects.select_for_update().filter(call=call).first()
        state = state_of(cred)
        if change is None or change.state != CredentialChange.State.QUEUED:
            return "the key change was cancelled"
        if state.change_outstanding:
            _close_change(change, CredentialChange.State.FAILED, detail="another change is unresolved")
            return "another key change is unresolved"
        if change.trigger == CredentialChange.Trigger.ONBOARDING and onboarding_held(cred.station):
            _close_change(change, CredentialChange.State.CANCELLED, detail="onboarding is on hold")
            return "onboarding is on hold"
        if version is OcppVersion.V16:
            secret_text = keys.generate_key().hex().upper()
            secret = bytes.fromhex(secret_text)
            payload = {"key": ConfigurationKey.authorization_key, "value": secret_text}
        else:
            secret_text = keys.generate_password()
            secret = secret_text.encode("ascii")
            payload = {"setVariableData": [{
                "attributeValue": secret_text,
                "component": {"name": "SecurityCtrlr"},
                "variable": {"name": "BasicAuthPassword"}}]}
        origin = KeyOrigin.ONBOARDING if change.trigger == CredentialChange.Trigger.ONBOARDING \
            else KeyOrigin.ROTATION
        # The new key is accepted from this moment: the station may apply it and
        # reconnect before its answer reaches us.
        key = new_key(cred.station.tenant, cred.station.identity, secret, origin, eap=allows_eap(cred.station))
        state = rotation.begin(state, key, distrust_old=change.compromised)
        cred.outstanding_change = change
        _store(cred, state)
        change.state = CredentialChange.State.IN_FLIGHT
        change.sent_at = timezone.now()
        change.save(update_fields=["state", "sent_at"])
        StationCall.objects.filter(pk=call_id).update(action=CREDENTIAL_ACTION[version])
        audit(cred.station, "system", "credential.key_sent", version.value, change=change.pk)
    return PreparedCall(CREDENTIAL_ACTION[version], payload)


def abandon_unsent(call_id: int, reason: str) -> None:
    """The credential call could not be sent: close its change if it never started, so it
    cannot block the next one (a started change is settled by the state machine)."""
    with transaction.atomic():
        change = (CredentialChange.objects.select_for_update()
                  .filter(call_id=call_id, state=CredentialChange.State.QUEUED).first())
        if change is not None:
            _close_change(change, CredentialChange.State.FAILED, detail=f"not sent: {reason}")
            audit(change.station, "system", "credential.change_failed", "not sent", change=change.pk)


def answer_status(version: str, payload: dict) -> str:
    """What the station said to our credential call, in its own words."""
    if OcppVersion(version) is OcppVersion.V16:
        return payload["status"]
    return payload["setVariableResult"][0]["attributeStatus"]


def outcome_of(version: str, payload: dict) -> Outcome:
    """The rotation outcome a valid CALLRESULT to our credential call stands for."""
    status = answer_status(version, payload)
    return _OUTCOME_OF_STATUS.get(status, Outcome.NOT_SUPPORTED)


# The station's statuses (ChangeConfiguration 1.6, SetVariables 2.0.1) that are outcomes of
# their own; every other (UnknownComponent, UnknownVariable, NotSupportedAttributeType) is
# as good as NotSupported.
_OUTCOME_OF_STATUS = {
    ConfigurationStatus.accepted: Outcome.ACCEPTED, ConfigurationStatus.rejected: Outcome.REJECTED,
    ConfigurationStatus.reboot_required: Outcome.REBOOT_REQUIRED,
    ConfigurationStatus.not_supported: Outcome.NOT_SUPPORTED,
}


# --- what happened next -------------------------------------------------------------------

def record_outcome(call_id: int, outcome: Outcome, said: str = "") -> rotation.Effects:
    """The credential call ended (answer, CALLERROR, timeout or lost socket); `said` is
    the station's own status when it answered (e.g. UnknownComponent)."""
    station_id = StationCall.objects.filter(pk=call_id).values_list("station_id", flat=True).first()
    if station_id is None:
        return rotation.Effects()
    with transaction.atomic():
        cred = _locked(station_id)
        change = CredentialChange.objects.select_for_update().filter(call_id=call_id).first()
        # Only the change in flight may be moved by its call's outcome: a late outcome
        # (a lingering socket, the reaper) must not touch a change settled meanwhile or
        # a newer one.
        if (change is None or cred.outstanding_change_id != change.pk
                or change.state != CredentialChange.State.IN_FLIGHT):
            if change is not None:
                audit(cred.station, "system", "credential.stale_outcome_ignored", outcome.value,
                      change=change.pk)
            return rotation.Effects()
        station = cred.station
        state, effects = rotation.answered(state_of(cred), outcome, mode_of(station))
        _store(cred, state)
        change.outcome = said or outcome.value
        change.answered_at = timezone.now()
        change.state = CredentialChange.State.AWAITING_PROOF
        change.save(update_fields=["outcome", "answered_at", "state"])
        audit(station, "station", "credential.answered", outcome.value, change=change.pk)
        _apply(cred, change, effects)
    return effects


def record_proof(station_id: int, key_hash: str) -> rotation.Effects | None:
    """The station authenticated a new connection with the key whose hash is `key_hash`.

    None means that key is no longer valid (retired during the check): refuse.
    """
    # The common case, every handshake of a settled station: nothing to learn, no lock.
    if _settled_on(station_id=station_id, key_hash=key_hash):
        return rotation.Effects()
    with transaction.atomic():
        cred = _locked(station_id)
        state = state_of(cred)
        slot = rotation.match(state, lambda h: h == key_hash)
        if slot is None:
            return None  # retired while its hash was being checked: refuse the connection
        if dict(state.keys())[slot].origin == KeyOrigin.MASTER and cred.first_master_connection_at is None:
            cred.first_master_connection_at = timezone.now()
            cred.save(update_fields=["first_master_connection_at"])
            transaction.on_commit(lambda: watch_onboarding_rate(cred.tenant_id))
        state, effects = rotation.authenticated(state, slot)
        _store(cred, state)
        _apply(cred, cred.outstanding_change, effects)
    return effects


def watch_onboarding_rate(tenant_id: int) -> bool:
    """Hold onboarding if too many stations connected with a series key too quickly.

    Returns whether onboarding is held. While held, stations on a series key stay
    Pending and no unique key is pushed, so a leaked master key cannot buy an attacker
    a station identity; `onboarding release` lifts the hold.
    """
    from tenants.models import Tenant

    with transaction.atomic():
        tenant = Tenant.objects.select_for_update().get(pk=tenant_id)
        if tenant.onboarding_held_since is not None:
            return True
        since = timezone.now() - timedelta(minutes=tenant.onboarding_window_minutes)
        recent = StationCredential.objects.filter(
            tenant=tenant, first_master_connection_at__gte=since).count()
        if recent <= tenant.onboarding_max_in_window:
            return False
        tenant.onboarding_held_since = timezone.now()
        tenant.save(update_fields=["onboarding_held_since"])
        audit_trail.record(tenant, "system", "onboarding.held",
                           f"{recent} first connections with a series key in "
                           f"{tenant.onboarding_window_minutes} min", count=recent)
        log.warning("tenant %s: onboarding held after %d series-key connections", tenant.slug, recent)
    return True


def release_onboarding(tenant, actor: str) -> int:
    """Lift an onboarding hold; returns how many stations are waiting to be onboarded."""
    from tenants.models import Tenant

    Tenant.objects.filter(pk=tenant.pk).update(onboarding_held_since=None)
    waiting = StationCredential.objects.filter(tenant=tenant, needs_unique_key=True).count()
    audit_trail.record(tenant, actor, "onboarding.released", f"{waiting} stations waiting", waiting=waiting)
    return waiting


def onboarding_held(station: Station) -> bool:
    from tenants.models import Tenant

    return Tenant.objects.filter(pk=station.tenant_id, onboarding_held_since__isnull=False).exists()


def record_reset_accepted(station_id: int) -> None:
    """The station accepted a settling Reset. Not yet a restart: a station may reconnect
    before restarting, and MicroOcpp carries a Reset out only once its boot is Accepted."""
    StationCredential.objects.filter(station_id=station_id).exclude(phase=rotation.Phase.IDLE).update(
        reset_accepted_at=timezone.now(), reset_boot_accepted=False)


def record_socket_closed(station_id: int, by_station: bool) -> None:
    """The socket on which the station accepted our Reset has closed; closed by the
    station itself, that is the restart evidence (`rotation.socket_closed`)."""
    with transaction.atomic():  # rare: only a socket that accepted a settling Reset
        cred = _locked(station_id)
        _store(cred, rotation.socket_closed(state_of(cred), reset_accepted_on_it=True, by_station=by_station))


def boot_accepted_to_carry_out_reset(station: Station) -> bool:
    """Whether a Pending station's BootNotification is answered Accepted, once, so that
    it can carry out the Reset it accepted.

    MicroOcpp performs a Reset only after its boot has been Accepted; without this an
    onboarding station that staged its key waits forever. The exposure is small: only
    the BootNotification is Accepted (every other message is still refused while the
    station is on its series key), once per accepted Reset, and only a station that
    already received its unique key can get here.
    """
    if station.registration_status != RegistrationStatus.ACCEPTED:
        return False  # Pending or Rejected by an operator: not ours to override
    with transaction.atomic():
        cred = _locked(station.pk)
        if not (cred.needs_unique_key and cred.reset_accepted_at and not cred.reboot_seen
                and not cred.reset_boot_accepted
                and cred.phase in (rotation.Phase.REBOOT_PENDING, rotation.Phase.UNKNOWN)):
            return False
        cred.reset_boot_accepted = True
        cred.save(update_fields=["reset_boot_accepted"])
        audit(station, "system", "credential.boot_accepted_for_reset", "Accepted")
    return True


def _close_change(change, state, detail=""):
    change.state = state
    change.resolved_at = timezone.now()
    if detail:
        change.detail = detail[:255]
    change.save(update_fields=["state", "resolved_at", "detail"])


def _apply(cred: StationCredential, change: CredentialChange | None, effects: rotation.Effects) -> None:
    """Record a transition's consequences: history, audit, retries, resets."""
    station = cred.station
    if effects.result is not None and change is not None:
        # Whoever follows changes (campaigns) hears of it once it is committed.
        transaction.on_commit(lambda: signals.change_settled.send(
            sender=CredentialChange, change_id=change.pk, trigger=change.trigger))
    for key in effects.retired:
        audit(station, "system", "credential.key_retired", key.origin)
    if effects.alert:
        audit(station, "system", "credential.alert", effects.alert)
        log.warning("station %s: %s", station, effects.alert)
    if effects.result is not None:
        # Settled: no change is outstanding, and no Reset is awaited for it any more.
        cred.outstanding_change = None
        cred.reset_accepted_at = None
        cred.reset_boot_accepted = False
    if effects.result is rotation.Result.SUCCEEDED:
        if change is not None:
            _close_change(change, CredentialChange.State.SUCCEEDED)
        cred.needs_unique_key = False
        cred.save(update_fields=["outstanding_change", "reset_accepted_at", "reset_boot_accepted",
                                "needs_unique_key"])
        audit(station, "station", "credential.change_succeeded", "succeeded",
              change=change.pk if change else None)
    elif effects.result is rotation.Result.FAILED:
        if change is not None:
            _close_change(change, CredentialChange.State.FAILED,
                          detail=f"{change.outcome or 'no answer'}; the station keeps its old key")
        cred.save(update_fields=["outstanding_change", "reset_accepted_at", "reset_boot_accepted"])
        audit(station, "station", "credential.change_failed", change.outcome if change else "",
              change=change.pk if change else None)
        if change is not None and change.outcome == Outcome.ACCEPTED:
            # The station said it took the key, yet restarted on the old one. A station
            # that lost it, or someone else holding the old key: an operator should look.
            audit(station, "system", "credential.alert", "restarted on the old key after Accepted")
            log.warning("station %s: restarted on its old key after accepting a new one", station)
        failures = consecutive_failures(cred)
        if failures >= ALERT_AFTER_FAILURES:
            audit(station, "system", "credential.alert", f"{failures} failed attempts")
            log.warning("station %s: %d failed key changes in a row", station, failures)
    if effects.reset_wanted:
        maybe_reset(station)


def has_active_transaction(station: Station) -> bool:
    return Transaction.objects.filter(station=station, stopped_at__isnull=True,
                                      started_at__isnull=False).exists()


def maybe_reset(station: Station) -> StationCall | None:
    """Queue the Reset that settles a RebootRequired/unknown change, if policy allows.

    An onboarding (Pending) station has no transaction: it is reset at once. Otherwise
    the tenant's policy decides, and a 1.6 station is only reset while idle; 2.0.1 has
    Reset OnIdle, which waits for the transaction itself.
    """
    if StationCall.objects.filter(station=station, purpose=StationCall.Purpose.CREDENTIAL_RESET,
                                  state__in=[StationCall.State.QUEUED, StationCall.State.SENT]).exists():
        return None
    cred = StationCredential.objects.select_related("outstanding_change").get(station=station)
    if cred.reset_accepted_at and timezone.now() - cred.reset_accepted_at < reset_patience():
        return None  # it accepted one already: give it time to restart
    if cred.old_after_restart_at is not None:
        return None  # it restarted and came back on the old key: the patience decides
    if settling_resets_exhausted(cred):
        return None
    pending = station.effective_registration == RegistrationStatus.PENDING
    if not pending and station.tenant.reset_policy == station.tenant.ResetPolicy.NEVER:
        return None
    v201 = station.ocpp_version == OcppVersion.V201
    if not pending and not v201 and has_active_transaction(station):
        return None  # retried by housekeeping once the transaction has ended
    payload = {"type": ResetEnumType.on_idle} if v201 else {"type": ResetType.soft}
    call = StationCall.objects.create(tenant=station.tenant, station=station, action=Action16.reset,
                                      payload=payload, purpose=StationCall.Purpose.CREDENTIAL_RESET,
                                      requested_by="system")
    audit(station, "system", "credential.reset_requested", payload["type"])
    transaction.on_commit(lambda: announce.nudge(station))
    return call


def settling_resets_exhausted(cred: StationCredential) -> bool:
    """Whether the open change has had its MAX_SETTLING_RESETS Resets (alerting once)."""
    change = cred.outstanding_change
    if change is None or change.sent_at is None:
        return False
    sent = StationCall.objects.filter(station_id=cred.station_id, created_at__gte=change.sent_at,
                                      purpose=StationCall.Purpose.CREDENTIAL_RESET).count()
    if sent < MAX_SETTLING_RESETS:
        return False
    alert = f"key change unsettled after {sent} Resets; both keys stay valid until an operator acts"
    if not AuditEvent.objects.filter(station_id=cred.station_id, action="credential.alert",
                                     outcome=alert, created_at__gte=change.sent_at).exists():
        audit(cred.station, "system", "credential.alert", alert)
        log.warning("station %s: %s", cred.station, alert)
    return True


def housekeeping(station_id: int) -> rotation.Effects:
    """The periodic look at the station's open change, by the process holding its socket:
    `rotation.housekeeping` decides from the record's times (ask for proof, settle after
    the restart patience, want a settling Reset), and this records it."""
    if not StationCredential.objects.filter(station_id=station_id).exclude(phase=rotation.Phase.IDLE).exists():
        return rotation.Effects()
    now = timezone.now()
    with transaction.atomic():
        cred = _locked(station_id)
        station = cred.station
        waited = rotation.Waited(
            since_new_key=now - cred.current_since if cred.current_since else None,
            since_old_after_restart=now - cred.old_after_restart_at if cred.old_after_restart_at else None)
        state, effects = rotation.housekeeping(
            state_of(cred), waited, grace=timedelta(seconds=station.tenant.rotation_grace_seconds),
            patience=reset_patience())
        _store(cred, state)
        if effects.reconnect_wanted:
            audit(station, "system", "credential.proof_requested", "grace period over")
        _apply(cred, cred.outstanding_change, effects)
    return effects


# --- scheduled work (Celery beat) ----------------------------------------------------------

def consecutive_failures(cred: StationCredential) -> int:
    return CredentialChange.objects.filter(
        station_id=cred.station_id, state=CredentialChange.State.FAILED,
        created_at__gte=cred.current_since or timezone.now()).count()


def _last_failure(cred: StationCredential) -> CredentialChange | None:
    """The station's last change, if it failed (and was settled)."""
    last = CredentialChange.objects.filter(station_id=cred.station_id).first()
    if last is None or last.state != CredentialChange.State.FAILED or last.resolved_at is None:
        return None
    return last


def backoff_delay(failures: int) -> timedelta:
    """How long after its last failure a station waits for its next change."""
    return BACKOFF[min(max(failures, 1), len(BACKOFF)) - 1]


def _backoff_running(cred: StationCredential, failure: CredentialChange, now) -> bool:
    return now - failure.resolved_at < backoff_delay(consecutive_failures(cred))


def in_backoff(cred: StationCredential, now=None) -> bool:
    """Whether the station's last change failed less than its backoff delay ago: then no
    new change is requested for it, whatever asks (a boot, the retry schedule)."""
    failure = _last_failure(cred)
    return failure is not None and _backoff_running(cred, failure, now or timezone.now())


def _with_failure_record(creds):
    """Credential records annotated, in the same query, with their station's last change
    (`last_state`, `last_resolved_at`) and its failures since the current key
    (`failures`, as `consecutive_failures` counts them)."""
    changes = CredentialChange.objects.filter(station_id=OuterRef("station_id")).order_by("-created_at", "-id")
    failures = (changes.filter(state=CredentialChange.State.FAILED, created_at__gte=OuterRef("current_since"))
                .order_by().values("station_id").annotate(n=Count("pk")).values("n"))
    return creds.annotate(last_state=Subquery(changes.values("state")[:1]),
                          last_resolved_at=Subquery(changes.values("resolved_at")[:1]),
                          failures=Coalesce(Subquery(failures), 0))


def _held_tenants() -> set[int]:
    from tenants.models import Tenant

    return set(Tenant.objects.filter(onboarding_held_since__isnull=False).values_list("pk", flat=True))


def retry_due(now=None) -> list[CredentialChange]:
    """Request a new change for every station whose last one failed and whose backoff
    has run out (A01.FR.05: an onboarding station stays Pending meanwhile).

    One query finds the stations whose last change failed, however large the fleet;
    the work then grows with them alone."""
    now = now or timezone.now()
    failed = _with_failure_record(StationCredential.objects.filter(
        phase=rotation.Phase.IDLE, outstanding_change__isnull=True)).filter(
        last_state=CredentialChange.State.FAILED, last_resolved_at__isnull=False)
    held = _held_tenants()
    queued = []
    for cred in failed.select_related("station__tenant"):
        if now - cred.last_resolved_at < backoff_delay(cred.failures):
            continue
        if cred.needs_unique_key and cred.tenant_id in held:
            continue
        try:
            queued.append(request_change(cred.station, CredentialChange.Trigger.RETRY, "system"))
        except ChangeRefused:
            continue
    return queued


def rotate_old_keys(now=None) -> list[CredentialChange]:
    """Request a change for every station whose key is older than its tenant allows.

    Per tenant with a maximum key age, one query finds the stations past it (the retry
    schedule owns those whose last change failed)."""
    from tenants.models import Tenant

    now = now or timezone.now()
    queued = []
    for tenant in Tenant.objects.filter(max_key_age_days__isnull=False):
        due = _with_failure_record(StationCredential.objects.filter(
            tenant=tenant, phase=rotation.Phase.IDLE, outstanding_change__isnull=True,
            needs_unique_key=False, current_since__lt=now - timedelta(days=tenant.max_key_age_days),
        )).filter(failures=0)
        for cred in due.select_related("station__tenant"):
            try:
                queued.append(request_change(cred.station, CredentialChange.Trigger.SCHEDULE, "schedule"))
            except ChangeRefused:
                continue
    return queued

