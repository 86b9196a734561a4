"""RFC 8414 authorization server metadata for one tenant."""
from . import issuer, rar, signing_keys
from .models import Client, GrantType

ASSERTION_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]


def document(tenant) -> dict:
    def url(name):
        return issuer.endpoint(tenant, name)

    auth_methods = list(Client.AuthMethod.values)
    client_scopes = Client.objects.for_tenant(tenant).values_list("scopes", flat=True)
    return {
        "issuer": issuer.issuer(tenant),
        "authorization_endpoint": url("authorize"),
        "token_endpoint": url("token"),
        "jwks_uri": url("jwks"),
        "pushed_authorization_request_endpoint": url("par"),
        "require_pushed_authorization_requests": tenant.require_pushed_authorization_requests,
        "introspection_endpoint": url("introspect"),
        "revocation_endpoint": url("revoke"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(GrantType.values),
        "scopes_supported": sorted({s for scopes in client_scopes for s in scopes}),
        "code_challenge_methods_supported": ["S256"],
        "authorization_details_types_supported": rar.names(),
        "authorization_response_iss_parameter_supported": True,
        "token_endpoint_auth_methods_supported": auth_methods,
        "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGORITHMS,
        "pushed_authorization_request_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_methods_supported": [m for m in auth_methods if m != "none"],
        "introspection_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGORITHMS,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGORITHMS,
        "access_token_signing_alg_values_supported": [signing_keys.active_key(tenant).alg],
    }
