"""Tenancy: who owns what, and who may act for whom.

This is the ground floor: it imports no other Chargegate app.
"""
from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

slug_validator = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$",
    "Use 1-50 lowercase letters, digits and inner hyphens.",
)


class Tenant(models.Model):
    """An organisation on Chargegate: a charge point operator, an eMSP, an OSDM provider."""

    slug = models.CharField(max_length=50, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200)
    operates_charging_stations = models.BooleanField(default=True)
    is_emsp = models.BooleanField(default=False)
    is_osdm_provider = models.BooleanField(default=False)
    # The tenant's authorization server takes authorization requests only by PAR
    # (RFC 9126 `require_pushed_authorization_requests`); a client may also require it.
    require_pushed_authorization_requests = models.BooleanField(default=False)

    # Plug & Charge (eMSP): the issuer part of the EMAIDs the tenant assigns
    # (ISO 15118-1 / eMI3: country code + provider id), and which contract-certificate
    # keys its /csr endpoint takes (docs/pnc.md).
    class PncKeyProfile(models.TextChoices):
        ISO15118_2 = "iso15118-2", "ISO 15118-2: EC P-256 only"
        ISO15118_20 = "iso15118-20", "ISO 15118-20: EC P-521 or Ed448"
        COMPATIBLE = "compatible", "compatible: EC P-256, or RSA of 2048 bits or more (the reference EV)"

    emsp_country_code = models.CharField(max_length=2, blank=True, validators=[RegexValidator(
        r"^[A-Z]{2}$", "Two capital letters (ISO 3166-1 alpha-2), like DE.")])
    emsp_provider_id = models.CharField(max_length=3, blank=True, validators=[RegexValidator(
        r"^[A-Z0-9]{3}$", "Three capital letters or digits, like 8AA.")])
    pnc_key_profile = models.CharField(max_length=12, choices=PncKeyProfile.choices,
                                       default=PncKeyProfile.ISO15118_2)

    # Many stations send the hex text of their key (32 to 40 digits) as the Basic
    # password instead of the raw bytes OCPP-J 1.6 §6.2.2 asks for; accept both unless
    # the operator knows its fleet is strict. Applies to 1.6 only: a 2.0.1 password is a
    # string, so its hex text is always read (`csms.auth.policy.accepts_hex`).
    accept_hex_basic_password = models.BooleanField(default=True)
    heartbeat_interval = models.PositiveIntegerField(default=300)

    # Credential rotation policy (see docs/rotation.md).
    class RotationMode(models.TextChoices):
        SAFE = "safe", "safe: keep the old key until the station proves the new one"
        STRICT = "strict", "strict: drop the old key on Accepted (white paper A01.FR.03)"

    class ResetPolicy(models.TextChoices):
        WHEN_IDLE = "when_idle", "reset when no transaction is active"
        NEVER = "never", "never reset; an operator does it"

    rotation_mode = models.CharField(max_length=8, choices=RotationMode.choices,
                                     default=RotationMode.SAFE)
    reset_policy = models.CharField(max_length=12, choices=ResetPolicy.choices,
                                    default=ResetPolicy.WHEN_IDLE)
    # How long after "Accepted" a station may stay on its old socket before the CSMS
    # closes it so the station reconnects and proves its new key.
    rotation_grace_seconds = models.PositiveIntegerField(default=600)
    max_key_age_days = models.PositiveIntegerField(null=True, blank=True)

    # Onboarding anomaly detection (OCPP-J 1.6 §6.2.2: a sudden rise in new stations
    # connecting with the series key may mean it leaked). Above the threshold, further
    # onboarding is held until an operator releases it.
    onboarding_window_minutes = models.PositiveIntegerField(default=60)
    onboarding_max_in_window = models.PositiveIntegerField(default=50)
    onboarding_held_since = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self):
        return self.slug

    @property
    def roles_summary(self) -> str:
        kinds = []
        if self.operates_charging_stations:
            kinds.append("charging stations")
        if self.is_emsp:
            kinds.append("eMSP")
        if self.is_osdm_provider:
            kinds.append("OSDM provider")
        return ", ".join(kinds) or "nothing yet"


class Role(models.TextChoices):
    ADMIN = "admin", "Administrator"
    OPERATOR = "operator", "Operator"
    VIEWER = "viewer", "Viewer"
    # A customer of an eMSP: signs in to approve what an app or EV asks for (consent),
    # and sees nothing of the operator's fleet, portal or APIs.
    DRIVER = "driver", "Driver"


# What each role may do, from least to most: a role includes the ones below it.
ROLE_RANK = {Role.DRIVER: -1, Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}
STAFF_ROLES = (Role.VIEWER, Role.OPERATOR, Role.ADMIN)


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "tenant"], name="one_membership_per_tenant")
        ]

    def __str__(self):
        return f"{self.user} @ {self.tenant} ({self.role})"

    def allows(self, role: str) -> bool:
        return ROLE_RANK[Role(self.role)] >= ROLE_RANK[Role(role)]


class TenantQuerySet(models.QuerySet):
    def for_tenant(self, tenant: Tenant):
        return self.filter(tenant=tenant)


class TenantOwned(models.Model):
    """Base for every tenant-owned row: the FK, and a manager that scopes by it.

    Request-serving code reaches rows through `Model.objects.for_tenant(tenant)` (or a
    related manager of a tenant-scoped row), never through an unscoped `.get(pk=...)`.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")

    objects = TenantQuerySet.as_manager()

    class Meta:
        abstract = True
