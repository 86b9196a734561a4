"""What the authorization server's audit actions mean, in words (`tenants.audit`)."""

DESCRIPTIONS = {
    "oauth.client_added": "Registered the OAuth client {client} ({outcome})",
    "oauth.client_secret_rotated": "Gave the OAuth client {client} a new secret",
    "oauth.client_removed": "Removed the OAuth client {client}",
    "oauth.trust_added": "Trusted key {kid} of {issuer} for {subject} (client {client})",
    "oauth.trust_rolled_over": "Rolled over key {kid} of {issuer} to {next_kid} (old key until {accepted_until})",
    "oauth.trust_retired": "Retired key {kid} of {issuer}",
    "oauth.signing_key_rotated": "Rotated the token signing key: {kid} ({alg}) is {outcome}",
}
