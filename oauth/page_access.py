"""Who may open the portal's OAuth pages: the tenant's staff (`tenants.access`), and only
for a tenant that runs an authorization server (`issuer.runs_authorization_server`, the
rule the endpoints and the `oauth` command apply); elsewhere they are 404.

The role rule of the section: viewers read every page; operators act on what drivers
hold (revoking a contract); administrators change who may obtain tokens and sign them —
clients and their secrets, trust records, signing keys, the MO CAs that sign contract
certificates (pnc/authority_pages.py) — and the tenant's people."""
from tenants.access import tenant_page
from tenants.models import Role

from .issuer import runs_authorization_server


def oauth_page(role: str = Role.VIEWER):
    return tenant_page(role, applies=runs_authorization_server)
