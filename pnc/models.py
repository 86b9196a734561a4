"""Plug & Charge records: contracts, the tenant's MO certificate authorities and the
contract certificates they issued."""
from django.conf import settings
from django.db import models
from django.utils import timezone

from tenants.models import TenantOwned


class Contract(TenantOwned):
    """What a driver approved on the consent screen for one client: a period, optional
    limits, and the EMAID the eMSP assigned. One per authorization (the approved code's
    grant), so one certificate per authorization.

    Lifecycle (`pnc.contracts`): authorized → certificate issued → revoked or expired;
    authorized may also end revoked or expired. Every transition is audited.
    """

    class State(models.TextChoices):
        AUTHORIZED = "authorized"
        CERTIFICATE_ISSUED = "certificate_issued"
        REVOKED = "revoked"
        EXPIRED = "expired"

    emaid = models.CharField(max_length=15, unique=True)  # without hyphens, check digit included
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # The history outlives a removed client; its id is kept in `client_id_text`.
    client = models.ForeignKey(settings.OAUTH2_PROVIDER_APPLICATION_MODEL, null=True, on_delete=models.SET_NULL,
                               related_name="+")
    client_id_text = models.CharField(max_length=255)
    # The approval this contract came from. Codes are purged a while after their tokens
    # can no longer be live (oauth.housekeeping); the contract stays.
    grant = models.OneToOneField(settings.OAUTH2_PROVIDER_GRANT_MODEL, null=True, on_delete=models.SET_NULL,
                                 related_name="+")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    currency = models.CharField(max_length=3, blank=True)
    maximum_amount = models.DecimalField(max_digits=24, decimal_places=4, null=True, blank=True)
    maximum_transaction_amount = models.DecimalField(max_digits=24, decimal_places=4, null=True, blank=True)
    authorization_detail = models.JSONField()  # the canonical pnc_contract_request as approved
    state = models.CharField(max_length=20, choices=State.choices, default=State.AUTHORIZED)
    created_at = models.DateTimeField(default=timezone.now)
    state_changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "state"])]

    def __str__(self):
        return f"{self.emaid} ({self.state})"


class CertificateAuthority(TenantOwned):
    """One CA of the tenant's MO PKI: Root → Sub-CA 1 (pathlen 1) → Sub-CA 2 (pathlen 0),
    which signs contract certificates. The private key is sealed (lib.sealing) with the
    tenant and the key identifier as associated data."""

    class Level(models.TextChoices):
        ROOT = "root", "MO Root CA"
        SUB_CA_1 = "sub-ca-1", "MO Sub-CA 1"
        SUB_CA_2 = "sub-ca-2", "MO Sub-CA 2"

    level = models.CharField(max_length=8, choices=Level.choices)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    subject = models.CharField(max_length=500)  # RFC 4514 text, for people
    key_id = models.CharField(max_length=64)  # subjectKeyIdentifier, hex
    serial_number = models.CharField(max_length=40)  # hex
    not_before = models.DateTimeField()
    not_after = models.DateTimeField()
    certificate_pem = models.TextField()
    private_key_sealed = models.TextField(blank=True, editable=False)  # blank: held elsewhere, or destroyed
    issuing = models.BooleanField(default=False)  # the Sub-CA 2 that signs new contract certificates
    # `pnc ca retire` (pnc.retirement): the key was destroyed, after a last CRL that stays
    # served as stored until the CA's own certificate ends.
    retired_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # The CA's current CRL (pnc.revocation), republished on every revocation and before
    # it goes stale; its number only grows (RFC 5280 §5.2.3).
    crl_number = models.PositiveBigIntegerField(default=0)
    crl_der = models.BinaryField(null=True, editable=False)
    crl_next_update = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "key_id"], name="one_ca_per_key_per_tenant"),
            models.UniqueConstraint(fields=["tenant"], condition=models.Q(issuing=True),
                                    name="one_issuing_ca_per_tenant"),
        ]

    def __str__(self):
        return f"{self.tenant.slug} {self.get_level_display()} {self.key_id[:8]}"

    @property
    def crl_served_here(self) -> bool:
        """Whether its CRL is at our public URL: we hold its key, or it left its final CRL
        when it was retired. An imported CA whose key stayed behind has its CRL published
        by the PKI that holds the key."""
        return bool(self.private_key_sealed) or (self.retired_at is not None and self.crl_der is not None)


class IssuedCertificate(TenantOwned):
    """A contract certificate, kept for the CRL and OCSP (later slices) and for the
    driver's and eMSP's views. Public data only: the EV keeps its private key."""

    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="certificates")
    issuer = models.ForeignKey(CertificateAuthority, on_delete=models.PROTECT, related_name="issued")
    serial_number = models.CharField(max_length=40)  # hex, as the CRL and OCSP name it
    not_before = models.DateTimeField()
    not_after = models.DateTimeField()
    certificate_pem = models.TextField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revocation_reason = models.CharField(max_length=32, blank=True)  # an RFC 5280 CRLReason name
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["issuer", "serial_number"], name="serial_unique_per_ca")]
        indexes = [models.Index(fields=["issuer", "revoked_at"])]

    def __str__(self):
        return f"{self.serial_number} for {self.contract.emaid}"
