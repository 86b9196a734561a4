"""The per-tenant authorization server's own records."""
from django.db import models
from django.utils import timezone
from oauth2_provider.models import (
    AbstractAccessToken,
    AbstractApplication,
    AbstractGrant,
    AbstractIDToken,
    AbstractRefreshToken,
)

from tenants.models import TenantOwned


class SigningKey(TenantOwned):
    """A key the tenant's authorization server signs tokens with.

    The private part is stored encrypted (`oauth.signing_keys`); the public JWK is
    published in the tenant's JWKS before the key signs (a rotation's next key, from
    `signs_from`), while it is active and, after a rotation, until every token it signed
    has expired.
    """

    class State(models.TextChoices):
        NEXT = "next"  # published, signs from `signs_from`; at most one per tenant
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
    signs_from = models.DateTimeField(null=True, blank=True)  # NEXT keys: when they take over

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant"], condition=models.Q(state="active"),
                                    name="one_active_signing_key_per_tenant"),
            models.UniqueConstraint(fields=["tenant"], condition=models.Q(state="next"),
                                    name="one_next_signing_key_per_tenant")
        ]

    def __str__(self):
        return f"{self.tenant.slug} {self.alg} {self.kid[:8]}… ({self.state})"


# --- django-oauth-toolkit's models, swapped in with a tenant on every row ------------------
#
# DOT supplies the records, the admin, secret hashing, token checksums, refresh-token
# families and expiry cleanup; the protocol endpoints are ours (oauth/endpoints/), because
# DOT 3.4's engine has no PAR, RAR, jwt-bearer, private_key_jwt or JWT access tokens.

# The tenant's client for its charging stations' jwt-bearer assertions (oauth/station_keys.py):
# reserved, so no operator's client can take its name.
STATION_CLIENT_ID = "ocpp-stations"


class GrantType(models.TextChoices):
    """Grant types by their RFC names (DOT's `authorization_grant_type` uses its own
    spellings and allows one per client; a client here may have several)."""

    AUTHORIZATION_CODE = "authorization_code"
    REFRESH_TOKEN = "refresh_token"
    CLIENT_CREDENTIALS = "client_credentials"
    JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


class Client(TenantOwned, AbstractApplication):
    """A client of one tenant's authorization server (DOT's Application)."""

    class AuthMethod(models.TextChoices):
        CLIENT_SECRET_BASIC = "client_secret_basic"
        CLIENT_SECRET_POST = "client_secret_post"
        PRIVATE_KEY_JWT = "private_key_jwt"
        NONE = "none"  # public clients: PKCE is their only proof

    # Unique per tenant, not globally: two eMSPs may both name a client "app".
    client_id = models.CharField(max_length=255, db_index=True)
    grant_types = models.JSONField(default=list)
    scopes = models.JSONField(default=list)  # what the client may ask for
    token_endpoint_auth_method = models.CharField(max_length=32, choices=AuthMethod.choices,
                                                  default=AuthMethod.CLIENT_SECRET_BASIC)
    require_par = models.BooleanField(default=False)
    # RFC 9396 types this client may ask for; null: any type the server knows.
    authorization_details_types = models.JSONField(null=True, blank=True)

    class Meta(AbstractApplication.Meta):
        swappable = "OAUTH2_PROVIDER_APPLICATION_MODEL"
        constraints = [models.UniqueConstraint(fields=["tenant", "client_id"], name="client_id_per_tenant")]

    def allows_grant_type(self, *grant_types):
        return bool(set(self.grant_types) & set(grant_types))


class Grant(TenantOwned, AbstractGrant):
    """An authorization code. `code` holds the SHA-256 of the code, never the code.

    A used code is kept (not deleted, as DOT does) until it expires, so a replay can be
    recognised and the tokens it produced revoked (RFC 6749 §4.1.2).
    """

    authorization_details = models.JSONField(default=list)
    used_at = models.DateTimeField(null=True, blank=True)
    # RFC 6749 §4.1.3: the token request must repeat redirect_uri if the authorization
    # request had one (it may be left out when the client registered exactly one).
    redirect_uri_given = models.BooleanField(default=True)

    class Meta(AbstractGrant.Meta):
        swappable = "OAUTH2_PROVIDER_GRANT_MODEL"


class AccessToken(TenantOwned, AbstractAccessToken):
    """The record of an issued JWT access token: introspection and revocation find it by
    checksum; the JWT itself is not stored."""

    jti = models.CharField(max_length=64, unique=True)
    subject = models.CharField(max_length=255)
    authorization_details = models.JSONField(default=list)
    grant = models.ForeignKey(Grant, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta(AbstractAccessToken.Meta):
        swappable = "OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL"

    def revoke(self):
        """DOT's revoke (a delete), through the one path whose listeners hear of it."""
        from .revocation import revoke_access_tokens  # it imports this module

        revoke_access_tokens(AccessToken.objects.filter(pk=self.pk))


class StationTokenRevocation(TenantOwned):
    """A revoked station access token whose connection the CSMS may not have been told to
    close yet: written in the revoking transaction, deleted once the announcement went
    out. A process killed between the commit and its announcement leaves the row, and
    `announce_pending_revocations` (beat) announces it (oauth/revocation.py)."""

    identity = models.CharField(max_length=255)
    jti = models.CharField(max_length=64)
    revoked_at = models.DateTimeField(default=timezone.now, db_index=True)


class RefreshToken(TenantOwned, AbstractRefreshToken):
    scope = models.TextField(blank=True)  # what the driver approved: a refresh may narrow it
    # Fixed when the family starts and carried through every rotation: refreshing does
    # not extend a grant for ever.
    family_expires_at = models.DateTimeField(null=True)
    authorization_details = models.JSONField(default=list)
    grant = models.ForeignKey(Grant, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta(AbstractRefreshToken.Meta):
        swappable = "OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL"


class IDToken(TenantOwned, AbstractIDToken):
    """Swapped with the others (DOT's models point at each other); OpenID Connect ID
    tokens are not issued yet."""

    class Meta(AbstractIDToken.Meta):
        swappable = "OAUTH2_PROVIDER_ID_TOKEN_MODEL"


# --- our additions ---------------------------------------------------------------------

class PushedRequest(TenantOwned):
    """An authorization request, validated and stored: pushed (RFC 9126) or, where PAR
    is not required, sent in the query string. Either way the authorize endpoint and the
    consent screen work from this row, so both paths are validated by the same code."""

    class Source(models.TextChoices):
        PUSHED = "pushed"
        QUERY = "query"

    handle = models.CharField(max_length=64, unique=True)  # SHA-256 of the request_uri's secret part
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="+")
    source = models.CharField(max_length=8, choices=Source.choices)
    redirect_uri = models.TextField()
    redirect_uri_given = models.BooleanField(default=True)
    scope = models.TextField(blank=True)
    state = models.TextField(blank=True)
    code_challenge = models.CharField(max_length=128)
    authorization_details = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()  # of the request_uri
    opened_at = models.DateTimeField(null=True, blank=True)  # request_uri used: single use
    decided_at = models.DateTimeField(null=True, blank=True)  # approved or denied: single use

    def __str__(self):
        return f"authorization request #{self.pk} ({self.client.client_id})"


class TrustedKey(TenantOwned):
    """A trust record for signed JWT assertions (RFC 7523): who may sign (issuer,
    subject), with which key (kid, public JWK) and algorithms, for which scopes, and
    when. One record per key, so a rollover is a second record with an overlapping
    validity window, and a retired key is rejected outright (OSDM)."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="trusted_keys")
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    kid = models.CharField(max_length=255)
    public_jwk = models.JSONField()
    algorithms = models.JSONField()
    scopes = models.JSONField(default=list)
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_until = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "issuer", "kid"], name="one_key_per_issuer_kid")]

    def __str__(self):
        return f"{self.issuer} / {self.subject} / {self.kid}"


class UsedAssertion(TenantOwned):
    """A `jti` seen in a JWT assertion, kept until the assertion expires. The unique
    constraint makes single use hold under concurrency: the second insert fails.

    Unique on the platform, not per tenant: an assertion whose `aud` names two tenants'
    token endpoints would otherwise be good once at each. `tenant` records where it was
    spent."""

    issuer = models.CharField(max_length=255)
    jti = models.CharField(max_length=256)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issuer", "jti"], name="jti_single_use_on_the_platform")]
