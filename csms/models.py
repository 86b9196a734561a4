"""What the CSMS knows about stations and what they told it."""
from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from lib.user_agent import MAX_LENGTH as USER_AGENT_LENGTH
from tenants.models import Tenant, TenantOwned

from .protocol import identity as identity_rule
from .protocol import recent
from .protocol.values import REGISTER_DIGITS, REGISTER_PLACES
from .protocol.versions import SUPPORTED


class RegistrationStatus(models.TextChoices):
    """What BootNotification answers: the operator's decision about a station."""

    ACCEPTED = "Accepted"
    PENDING = "Pending"
    REJECTED = "Rejected"


def default_protocols():
    return list(SUPPORTED)


def validate_identity(identity: str) -> None:
    """Field validator: the identity rule every protocol shares (`csms.protocol.identity`).
    The per-protocol part needs the station's protocols: `Station.check_identity`."""
    found = identity_rule.problems(identity)
    if found:
        raise ValidationError(found, code="identity")


class Station(TenantOwned):
    identity = models.CharField(max_length=identity_rule.MAX_LENGTH, validators=[validate_identity])
    allowed_protocols = models.JSONField(default=default_protocols)
    registration_status = models.CharField(
        max_length=16, choices=RegistrationStatus.choices, default=RegistrationStatus.ACCEPTED
    )

    # What the station reported in its last BootNotification.
    vendor = models.CharField(max_length=50, blank=True)
    model = models.CharField(max_length=50, blank=True)
    serial_number = models.CharField(max_length=50, blank=True)
    firmware_version = models.CharField(max_length=50, blank=True)
    last_boot_at = models.DateTimeField(null=True, blank=True)
    last_boot_reason = models.CharField(max_length=40, blank=True)

    # Connection state. `connection_id` names the newest socket: an older one that
    # is still open closes when it sees it is no longer the current one.
    connected = models.BooleanField(default=False)
    connection_id = models.CharField(max_length=64, blank=True)
    # The server process holding the socket (`csms.liveness`): if that process dies
    # without closing it, its stopped heartbeat is how the flag above gets corrected.
    connection_node = models.CharField(max_length=32, blank=True)
    # Incremented by every accepted connection: it orders connections across nodes, so a
    # takeover message only ever closes an older socket.
    connection_seq = models.PositiveBigIntegerField(default=0, editable=False)
    ocpp_version = models.CharField(max_length=16, blank=True)
    connected_at = models.DateTimeField(null=True, blank=True)
    disconnected_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)

    # Authentication (docs/station-auth.md, "Which methods a station may use"): the
    # station's own ordered methods, or null to inherit them from its group or the
    # tenant's default (`csms.auth.policy.allowed_methods`), and the method its latest
    # connection proved itself with (written with the connection's claim).
    auth_methods = models.JSONField(null=True, blank=True)
    last_auth_method = models.CharField(max_length=16, blank=True)
    # Which credential that connection proved, by a name that is no secret: a token's or
    # TOTP secret's public id, an access token's `jti` (empty for a key). Revoking that
    # credential closes the connection it opened, and no other (station_bearer.py).
    last_auth_credential = models.CharField(max_length=64, blank=True)
    # The latest connection's handshake User-Agent, bounded and printable only
    # (`lib.user_agent`): the white paper's diagnostics compare it with a probe's.
    last_user_agent = models.CharField(max_length=USER_AGENT_LENGTH, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["tenant", "identity"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "identity"], name="station_identity_per_tenant")
        ]

    def __str__(self):
        return f"{self.tenant.slug}/{self.identity}"

    @staticmethod
    def identity_problems(identity: str, protocols) -> list[str]:
        """What is wrong with `identity` for a station allowed `protocols`: the one rule
        the CLI, the import, the REST API and the portal apply before they write one.
        A station saved before the rule keeps loading and connecting."""
        return identity_rule.problems(identity, protocols)

    @classmethod
    def check_identity(cls, identity: str, protocols) -> None:
        found = cls.identity_problems(identity, protocols)
        if found:
            raise ValidationError(found, code="identity")

    def clean(self):
        super().clean()
        try:
            self.check_identity(self.identity, self.allowed_protocols or ())
        except ValidationError as exc:
            raise ValidationError({"identity": exc.error_list}) from None

    @property
    def group_name(self) -> str:
        """The channel-layer group of whichever consumer holds this station's socket."""
        return f"station.{self.pk}"

    @property
    def has_key(self) -> bool:
        credential = getattr(self, "credential", None)
        return bool(credential and credential.current_hash)

    @property
    def effective_registration(self) -> str:
        """What its BootNotification is answered: Pending while a series key awaits its
        unique key, whatever `registration_status` (the operator's setting) says."""
        credential = getattr(self, "credential", None)
        if (self.registration_status == RegistrationStatus.ACCEPTED
                and credential is not None and credential.needs_unique_key):
            return RegistrationStatus.PENDING
        return self.registration_status


class StationOwned(TenantOwned):
    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="+")

    class Meta:
        abstract = True


class ConnectorStatus(StationOwned):
    """The latest StatusNotification per connector (1.6) or EVSE connector (2.0.1).

    `evse_id` is 0 on 1.6, where `connector_id` 0 means the whole station.
    """

    evse_id = models.PositiveIntegerField(default=0)
    connector_id = models.PositiveIntegerField()
    status = models.CharField(max_length=20)
    error_code = models.CharField(max_length=30, blank=True)
    info = models.CharField(max_length=50, blank=True)
    vendor_id = models.CharField(max_length=255, blank=True)
    vendor_error_code = models.CharField(max_length=50, blank=True)
    reported_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["station", "evse_id", "connector_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["station", "evse_id", "connector_id"], name="one_status_per_connector"
            )
        ]


class IdTagStatus(models.TextChoices):
    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"


class IdTag(TenantOwned):
    """A driver's token (1.6 idTag, 2.0.1 idToken) as the tenant authorises it."""

    id_tag = models.CharField(max_length=36)
    status = models.CharField(max_length=16, choices=IdTagStatus.choices, default=IdTagStatus.ACCEPTED)
    expires_at = models.DateTimeField(null=True, blank=True)
    parent_id_tag = models.CharField(max_length=36, blank=True)

    class Meta:
        ordering = ["tenant", "id_tag"]
        # Tokens are case-insensitive in both OCPP versions (CiString / "IdToken is case
        # insensitive"), so two tags differing only in case would be one driver twice.
        constraints = [models.UniqueConstraint("tenant", Lower("id_tag"), name="id_tag_per_tenant")]

    def __str__(self):
        return self.id_tag

    def effective_status(self, now=None) -> str:
        now = now or timezone.now()
        if self.status == IdTagStatus.ACCEPTED and self.expires_at and self.expires_at <= now:
            return IdTagStatus.EXPIRED
        return self.status


class Transaction(StationOwned):
    """A charging session: 1.6 Start/StopTransaction or 2.0.1 TransactionEvent.

    On 1.6 the CSMS assigns the integer transactionId (this row's pk); on 2.0.1 the
    station names the transaction itself (`station_transaction_id`).
    """

    station_transaction_id = models.CharField(max_length=36, blank=True)
    evse_id = models.PositiveIntegerField(default=0)
    connector_id = models.PositiveIntegerField(default=0)
    id_tag = models.CharField(max_length=36, blank=True)
    id_tag_status = models.CharField(max_length=16, blank=True)
    # Sized by `protocol.values`, which refuses a reading these cannot hold.
    meter_start_wh = models.DecimalField(max_digits=REGISTER_DIGITS + REGISTER_PLACES,
                                         decimal_places=REGISTER_PLACES, null=True, blank=True)
    meter_stop_wh = models.DecimalField(max_digits=REGISTER_DIGITS + REGISTER_PLACES,
                                        decimal_places=REGISTER_PLACES, null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.CharField(max_length=40, blank=True)
    reservation_id = models.IntegerField(null=True, blank=True)
    charging_state = models.CharField(max_length=20, blank=True)
    last_seq_no = models.IntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["station", "station_transaction_id"],
                condition=~models.Q(station_transaction_id=""),
                name="station_transaction_id_per_station",
            )
        ]

    @property
    def is_active(self) -> bool:
        return self.stopped_at is None

    @property
    def energy_wh(self):
        if self.meter_start_wh is None or self.meter_stop_wh is None:
            return None
        return self.meter_stop_wh - self.meter_start_wh


class MeterValue(StationOwned):
    """One sampling instant: its sampledValue list is kept as the station sent it."""

    transaction = models.ForeignKey(
        Transaction, null=True, blank=True, on_delete=models.CASCADE, related_name="meter_values"
    )
    evse_id = models.PositiveIntegerField(default=0)
    connector_id = models.PositiveIntegerField(default=0)
    timestamp = models.DateTimeField()
    sampled_values = models.JSONField()
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["timestamp"]


class StationEvent(StationOwned):
    """What a station reported that is a fact in time rather than state: boots,
    firmware/diagnostics/log progress, security events, data transfers."""

    class Kind(models.TextChoices):
        BOOT = "BootNotification"
        DIAGNOSTICS_STATUS = "DiagnosticsStatusNotification"
        FIRMWARE_STATUS = "FirmwareStatusNotification"
        SIGNED_FIRMWARE_STATUS = "SignedFirmwareStatusNotification"
        LOG_STATUS = "LogStatusNotification"
        SECURITY_EVENT = "SecurityEventNotification"
        NOTIFY_EVENT = "NotifyEvent"
        DATA_TRANSFER = "DataTransfer"

    kind = models.CharField(max_length=40, choices=Kind.choices)
    # The headline: firmware/log status, security event type, boot reason, vendorId.
    summary = models.CharField(max_length=255, blank=True)
    request_id = models.IntegerField(null=True, blank=True)
    occurred_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    detail = models.JSONField(default=dict)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["station", "kind", "-received_at"])]


class StationConnection(StationOwned):
    """One connection that let the station in: its last `KEPT` are kept (pruned by the
    writes that add them, csms/connection_log.py), and the newest `WITH_MESSAGES` keep
    their last frames (csms/protocol/recent.py), written
    from memory a few seconds apart (csms/recent_frames.py), never a write per frame."""

    KEPT = 20
    WITH_MESSAGES = 2

    # The station's connection sequence number at the claim: orders connections across
    # nodes and keys this row (each accepted claim counts it up, so a range of it bounds
    # the rows).
    seq = models.PositiveBigIntegerField()
    connection_id = models.CharField(max_length=64)
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    # The close as the CSMS knows it: the code it closed with or the station's close
    # frame carried (1006: the socket dropped without one), and why.
    close_code = models.PositiveIntegerField(null=True, blank=True)
    close_reason = models.CharField(max_length=123, blank=True)  # RFC 6455: 123 bytes at most
    method = models.CharField(max_length=16, blank=True)
    source = models.CharField(max_length=64, blank=True)
    user_agent = models.CharField(max_length=USER_AGENT_LENGTH, blank=True)
    # The connection's last frames without payloads, oldest first, as of `messages_at`
    # (each an array of `recent.STORED`).
    messages = models.JSONField(default=list, blank=True)
    messages_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-seq"]
        constraints = [models.UniqueConstraint(fields=["station", "seq"], name="connection_seq_per_station")]

    def frames_newest_first(self) -> list[dict]:
        """The stored frames for a page, newest first, by name, each `at` a datetime (it is
        stored in milliseconds since the epoch)."""
        frames = [recent.named(entry) for entry in reversed(self.messages or [])]
        for frame in frames:
            frame["at"] = datetime.fromtimestamp(frame["at"] / 1000, UTC)
        return frames


class ReportedVariable(StationOwned):
    """A device-model variable attribute from a 2.0.1 NotifyReport, latest value wins."""

    component = models.CharField(max_length=50)
    component_instance = models.CharField(max_length=50, blank=True)
    # 0 = the component is not tied to an EVSE/connector (2.0.1 numbers them from 1).
    evse_id = models.PositiveIntegerField(default=0)
    connector_id = models.PositiveIntegerField(default=0)
    variable = models.CharField(max_length=50)
    variable_instance = models.CharField(max_length=50, blank=True)
    attribute_type = models.CharField(max_length=16, default="Actual")
    value = models.CharField(max_length=2500, blank=True)
    mutability = models.CharField(max_length=16, blank=True)
    characteristics = models.JSONField(default=dict)
    report_request_id = models.IntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["station", "component", "variable"]
        constraints = [
            models.UniqueConstraint(
                fields=["station", "component", "component_instance", "evse_id", "connector_id",
                        "variable", "variable_instance", "attribute_type"],
                name="one_value_per_variable_attribute",
            )
        ]


class StationCall(StationOwned):
    """A CALL the CSMS wants a station to perform, and what came of it.

    Anyone writes the intent here and nudges the station's group; the consumer holding
    the socket sends it. Payloads stored here never carry secrets: calls that deliver a
    credential build it at send time in the consumer.
    """

    class State(models.TextChoices):
        QUEUED = "queued"
        SENT = "sent"
        ANSWERED = "answered"
        ERROR = "error"  # CALLERROR from the station, or an invalid answer
        TIMEOUT = "timeout"
        FAILED = "failed"  # could not be sent (e.g. not valid for the station's version)
        LOST = "lost"  # the connection dropped while the call was outstanding
        CANCELLED = "cancelled"  # withdrawn by an operator while still queued

    class Purpose(models.TextChoices):
        COMMAND = "command"  # sent as stored
        CREDENTIAL = "credential"  # the consumer generates the key and builds the payload
        CREDENTIAL_RESET = "credential_reset"  # a Reset that settles a credential change

    action = models.CharField(max_length=64)
    payload = models.JSONField(default=dict)
    purpose = models.CharField(max_length=20, choices=Purpose.choices, default=Purpose.COMMAND)
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    message_id = models.CharField(max_length=36, blank=True)
    ocpp_version = models.CharField(max_length=16, blank=True)
    response = models.JSONField(null=True, blank=True)
    error_code = models.CharField(max_length=40, blank=True)
    error_description = models.CharField(max_length=255, blank=True)
    requested_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["station", "state", "created_at"])]

    @property
    def done(self) -> bool:
        return self.state not in (self.State.QUEUED, self.State.SENT)


class KeyOrigin(models.TextChoices):
    """How a key came to be on a station."""

    INSTALLED = "installed", "installed by the operator"
    GENERATED = "generated", "generated at registration"
    MASTER = "master", "series/master key (onboarding)"
    ONBOARDING = "onboarding", "unique key pushed at onboarding"
    ROTATION = "rotation", "rotated"
    # `station import --keys-are-random`: a key from the previous system, whose operator
    # attests it drew its keys from a CSPRNG. Imported keys without that word are
    # INSTALLED: an operator's keys like any other.
    IMPORTED = "imported", "imported, attested random"

    @property
    def drawn_here(self) -> bool:
        """The key is known to be 160+ random bits, so it is stored with the cheap hash
        (`csms.auth.keys`) and checked without the throttle: the platform drew it itself,
        or (IMPORTED) the operator attested the previous system drew it as randomly.
        An operator's own key (INSTALLED, also an import without that attestation) or a
        series key may be guessable and keeps argon2.

        This decides the hash of every key the platform stores (`csms.credentials`)."""
        return self in (KeyOrigin.GENERATED, KeyOrigin.ONBOARDING, KeyOrigin.ROTATION,
                        KeyOrigin.IMPORTED)


class StationCredential(TenantOwned):
    """A station's key in up to three slots: its salted hash, and its Digest verifiers
    sealed (password-equivalent; docs/security.md, "Station credentials").

    The slots and the phase are the persisted form of `csms.rotation.Credentials`; only
    `csms.credentials` changes them, under a row lock.
    """

    station = models.OneToOneField(Station, on_delete=models.CASCADE, related_name="credential")
    current_hash = models.CharField(max_length=255, blank=True)
    current_origin = models.CharField(max_length=16, choices=KeyOrigin.choices, blank=True)
    current_since = models.DateTimeField(null=True, blank=True)
    current_digest = models.TextField(blank=True)  # sealed Digest verifiers of this key (auth/digest.py)
    current_eap = models.TextField(blank=True)  # sealed EAP passwords of this key (auth/eap.py), if allowed EAP
    pending_hash = models.CharField(max_length=255, blank=True)
    pending_origin = models.CharField(max_length=16, choices=KeyOrigin.choices, blank=True)
    pending_since = models.DateTimeField(null=True, blank=True)
    pending_digest = models.TextField(blank=True)  # sealed Digest verifiers of this key (auth/digest.py)
    pending_eap = models.TextField(blank=True)  # sealed EAP passwords of this key (auth/eap.py), if allowed EAP
    previous_hash = models.CharField(max_length=255, blank=True)
    previous_origin = models.CharField(max_length=16, choices=KeyOrigin.choices, blank=True)
    previous_since = models.DateTimeField(null=True, blank=True)
    previous_digest = models.TextField(blank=True)  # sealed Digest verifiers of this key (auth/digest.py)
    previous_eap = models.TextField(blank=True)  # sealed EAP passwords of this key (auth/eap.py), if allowed EAP
    phase = models.CharField(max_length=16, default="idle")
    reboot_seen = models.BooleanField(default=False)
    distrust_old = models.BooleanField(default=False)  # the change runs as "compromised"
    # Onboarding: the station came with a series key and must get a unique one before
    # its BootNotification is Accepted (OCPP-J 1.6 §6.2.2, white paper A00.FR.806).
    needs_unique_key = models.BooleanField(default=False)
    # When the station last accepted a Reset meant to settle a change. If it then closes
    # that socket itself, that is the restart evidence (`rotation.rebooted`).
    reset_accepted_at = models.DateTimeField(null=True, blank=True)
    # Its Pending boot was answered Accepted once so that it can carry that Reset out.
    reset_boot_accepted = models.BooleanField(default=False)
    # When it first connected with the old key after an observed restart (rotation's
    # old_after_restart): the restart patience runs from here.
    old_after_restart_at = models.DateTimeField(null=True, blank=True)
    # When the station first connected with its series key (anomaly detection).
    first_master_connection_at = models.DateTimeField(null=True, blank=True)
    outstanding_change = models.ForeignKey(
        "CredentialChange", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"credentials of {self.station}"


class CredentialChange(StationOwned):
    """One attempt to give a station a new key, from request to resolution."""

    class Trigger(models.TextChoices):
        ONBOARDING = "onboarding"
        DEMAND = "demand"
        SCHEDULE = "schedule"
        RETRY = "retry"
        CAMPAIGN = "campaign"

    class State(models.TextChoices):
        QUEUED = "queued"
        IN_FLIGHT = "in_flight"  # sent, no answer yet
        AWAITING_PROOF = "awaiting_proof"  # answered; waiting for the station to show its key
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    # The old key may have leaked: it is retired on Accepted and never taken as evidence.
    compromised = models.BooleanField(default=False)
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    # rotation.Outcome, or the station's own status where it said more (UnknownComponent)
    outcome = models.CharField(max_length=32, blank=True)
    attempt = models.PositiveIntegerField(default=1)
    call = models.ForeignKey(StationCall, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    requested_by = models.CharField(max_length=150, blank=True)
    detail = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    @property
    def open(self) -> bool:
        return self.state in (self.State.QUEUED, self.State.IN_FLIGHT, self.State.AWAITING_PROOF)


class AuditEvent(TenantOwned):
    """Who did what to which station, when, and how it ended. Never key material."""

    actor = models.CharField(max_length=150)  # a username, "cli", "system", "station"
    action = models.CharField(max_length=64)
    station = models.ForeignKey(Station, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+")
    outcome = models.CharField(max_length=64, blank=True)
    detail = models.JSONField(default=dict)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["tenant", "-at"]),
                   # The audit page's and the API's action filter: one tenant, one action, newest first.
                   models.Index(fields=["tenant", "action", "-at"], name="csms_audit_tenant_action_at")]


class RotationCampaign(TenantOwned):
    """Rotating the keys of many stations, a few at a time, stopping when it goes wrong."""

    class State(models.TextChoices):
        RUNNING = "running"
        PAUSED = "paused"
        COMPLETED = "completed"
        ABORTED = "aborted"  # stopped by an operator: no more stations are started

    name = models.CharField(max_length=100)
    state = models.CharField(max_length=12, choices=State.choices, default=State.RUNNING)
    concurrency = models.PositiveIntegerField(default=10)
    canary_size = models.PositiveIntegerField(default=5)
    max_failure_percent = models.PositiveIntegerField(default=20)
    paused_reason = models.CharField(max_length=255, blank=True)
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    resumed_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]


class CampaignMember(StationOwned):
    class State(models.TextChoices):
        WAITING = "waiting"
        IN_PROGRESS = "in_progress"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        SKIPPED = "skipped"  # another change was already open for the station

    campaign = models.ForeignKey(RotationCampaign, on_delete=models.CASCADE, related_name="members")
    state = models.CharField(max_length=12, choices=State.choices, default=State.WAITING)
    change = models.ForeignKey(CredentialChange, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")
    detail = models.CharField(max_length=255, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["campaign", "station"], name="station_once_per_campaign")]


class StationAuthPolicy(TenantOwned):
    """A tenant's default station methods, and the version of its station groups.

    In this app rather than on `Tenant` (the ground floor knows no stations). `version`
    goes up with every change to the tenant's groups or default: the handshake reads it
    with the station's row and keeps the groups of that version in memory
    (`csms.station_methods`), so a change is seen by every process at the next handshake
    without a query per handshake."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="station_auth_policy")
    methods = models.JSONField(null=True, blank=True)  # null: the built-in default (Basic)
    version = models.PositiveBigIntegerField(default=1)

    def __str__(self):
        return f"station auth policy of {self.tenant.slug}"


class StationGroup(TenantOwned):
    """Stations selected by patterns on their identity and what their boots report,
    sharing a method list. The first matching group by `rank` is the station's group
    (`csms.auth.policy.group_of`): groups are an ordered list, like firewall rules."""

    name = models.CharField(max_length=64)
    rank = models.IntegerField()
    # fnmatch patterns (`*`, `?`, `[...]`), compared without case; empty: any value.
    identity_pattern = models.CharField(max_length=255, blank=True)
    vendor_pattern = models.CharField(max_length=100, blank=True)
    model_pattern = models.CharField(max_length=100, blank=True)
    firmware_pattern = models.CharField(max_length=100, blank=True)
    methods = models.JSONField(null=True, blank=True)  # null: the tenant's default
    # CIDR networks its stations may connect from (the address uvicorn reports, which
    # behind a trusted proxy is X-Forwarded-For's: docs/station-auth.md); empty: any.
    networks = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["tenant", "rank", "name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="station_group_name_per_tenant"),
            models.UniqueConstraint(fields=["tenant", "rank"], name="station_group_rank_per_tenant"),
        ]

    def __str__(self):
        return f"{self.tenant.slug}/{self.name}"


class StationToken(StationOwned):
    """A `Token` credential of a station (docs/station-auth.md, "Token"): its public id
    and the cheap salted hash of its secret part; the token itself is shown once."""

    public_id = models.CharField(max_length=16)
    secret_hash = models.CharField(max_length=255)
    label = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["station", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["station", "public_id"], name="token_id_per_station"),
        ]

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class StationTotp(StationOwned):
    """A station's TOTP secret (docs/station-auth.md, "TOTP"): sealed under the KEK (a
    verifier must compute tokens, so no hash will do), shown once when issued; at most
    one active per station."""

    public_id = models.CharField(max_length=16)
    sealed_secret = models.TextField()
    validity = models.PositiveIntegerField(default=30)
    length = models.PositiveSmallIntegerField(default=12)
    hash_algorithm = models.CharField(max_length=8, default="sha256")
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["station", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["station"], condition=models.Q(revoked_at__isnull=True),
                                    name="one_active_totp_per_station"),
        ]


class StationLogin(StationOwned):
    """Another Basic login (username) of a station besides its identity: the white
    paper's mapping from logins to stations, so that what a station sends need not name
    it. Unique in the tenant, so a login names one station."""

    login = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["station", "login"]
        constraints = [models.UniqueConstraint(fields=["tenant", "login"], name="station_login_per_tenant")]


__all__ = [
    "StationAuthPolicy", "StationGroup", "StationLogin", "StationToken",
    "Tenant", "Station", "RegistrationStatus", "ConnectorStatus", "IdTag", "IdTagStatus",
    "Transaction", "MeterValue", "StationEvent", "ReportedVariable", "StationCall",
    "KeyOrigin", "StationCredential", "CredentialChange", "AuditEvent", "RotationCampaign",
    "CampaignMember",
]


class ServerProcess(models.Model):
    """A CSMS server process that holds station sockets, with its heartbeat.

    Not tenant-owned: it is infrastructure. A process that stops beating (killed, host
    lost, frozen) no longer holds any socket, whatever the stations' rows say.
    """

    node = models.CharField(max_length=32, unique=True)
    host = models.CharField(max_length=255, blank=True)
    pid = models.PositiveIntegerField(null=True)
    started_at = models.DateTimeField(auto_now_add=True)
    beat_at = models.DateTimeField()

    def __str__(self):
        return f"{self.host}:{self.pid} ({self.node})"
