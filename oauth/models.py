"""The per-tenant authorization server's own records."""
from django.db import models

from tenants.models import TenantOwned


class SigningKey(TenantOwned):
    """A key the tenant's authorization server signs tokens with.

    The private part is stored encrypted (`oauth.signing_keys`); the public JWK is
    published in the tenant's JWKS while the key is active and, after a rotation, until
    every token it signed has expired.
    """

    class State(models.TextChoices):
        ACTIVE = "active"  # signs new tokens; at most one per tenant
        RETIRING = "retiring"  # signs nothing, still published
        RETIRED = "retired"  # neither

    kid = models.CharField(max_length=64, unique=True)  # the RFC 7638 thumbprint
    alg = models.CharField(max_length=8, choices=[("ES256", "ES256"), ("PS256", "PS256")])
    public_jwk = models.JSONField()
    private_key_encrypted = models.TextField(editable=False)
    state = models.CharField(max_length=10, choices=State.choices, default=State.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    publish_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant"], condition=models.Q(state="active"),
                                    name="one_active_signing_key_per_tenant")
        ]

    def __str__(self):
        return f"{self.tenant.slug} {self.alg} {self.kid[:8]}… ({self.state})"
