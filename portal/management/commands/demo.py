"""`manage.py demo`: the demo data `make run` seeds. Safe to run again."""
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from csms.credentials import register_station
from csms.models import IdTag, KeyOrigin, Station
from oauth import client_auth
from oauth.models import Client, GrantType
from oauth.registration import ClientSpec, add_client
from pnc import authorities
from tenants.models import Membership, Role, Tenant

DEMO_PASSWORD = "chargegate-demo"
# Published demo keys: the first is the OCPP-J 1.6 §6.2.2 example.
DEMO_STATIONS = [
    ("AL1000", "0001020304050607FFFFFFFFFFFFFFFFFFFFFFFF", ["ocpp1.6"]),
    ("CP-16-001", "1111111111111111111111111111111111111111", ["ocpp1.6"]),
    ("CS-201-001", "2222222222222222222222222222222222222222", ["ocpp2.0.1"]),
]
DEMO_ID_TAGS = ["DEMO-TAG-1", "DEMO-TAG-2"]
# Published demo OAuth clients of the demo tenant's authorization server.
DEMO_CLIENT_SECRET = "chargegate-demo-client-secret"
DEMO_REDIRECT_URI = "http://127.0.0.1:8765/callback"
DEMO_CLIENTS = [
    ClientSpec(client_id="demo-ev", name="Demo EV (Plug & Charge)", redirect_uris=[DEMO_REDIRECT_URI],
               grant_types=[GrantType.AUTHORIZATION_CODE, GrantType.REFRESH_TOKEN], scopes=["ccsr"],
               # As the PnC reference EV authenticates: client_id and client_secret in the body.
               auth_method="client_secret_post", detail_types=["pnc_contract_request"]),
    ClientSpec(client_id="demo-osdm", name="Demo OSDM consumer", redirect_uris=[],
               grant_types=[GrantType.CLIENT_CREDENTIALS], scopes=["uic_osdm"], auth_method="client_secret_basic"),
    # The eMSP's own backend, for the eMSP REST API (docs/pnc.md; real ones use private_key_jwt).
    ClientSpec(client_id="demo-emsp", name="Demo eMSP backend", redirect_uris=[],
               grant_types=[GrantType.CLIENT_CREDENTIALS], scopes=["emsp:read", "emsp:write"],
               auth_method="client_secret_basic"),
    # The operator's automation, for the operator REST API (docs/api.md).
    ClientSpec(client_id="demo-ops", name="Demo operator automation", redirect_uris=[],
               grant_types=[GrantType.CLIENT_CREDENTIALS], scopes=["operator:read", "operator:write"],
               auth_method="client_secret_basic"),
]


class Command(BaseCommand):
    help = "Seed demo data (tenant 'demo', users, stations, id tags) and print how to use it."

    def handle(self, *args, **opts):
        tenant, _ = Tenant.objects.get_or_create(
            slug="demo", defaults={"name": "Demo Charging Co.", "is_emsp": True, "is_osdm_provider": True})
        if not tenant.is_osdm_provider:  # seeded by an older version
            tenant.is_osdm_provider = True
            tenant.save(update_fields=["is_osdm_provider"])
        if not tenant.emsp_provider_id:  # the EMAIDs of its PnC contracts: DE-CGD-…
            tenant.emsp_country_code, tenant.emsp_provider_id = "DE", "CGD"
            tenant.save(update_fields=["emsp_country_code", "emsp_provider_id"])
        users = [("admin", Role.ADMIN, True), ("operator", Role.OPERATOR, False),
                 ("viewer", Role.VIEWER, False), ("driver", Role.DRIVER, False)]
        User = get_user_model()
        for username, role, staff in users:
            user, created = User.objects.get_or_create(
                username=username, defaults={"is_staff": staff, "is_superuser": staff})
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save()
            Membership.objects.update_or_create(user=user, tenant=tenant, defaults={"role": role})
        for identity, key_hex, protocols in DEMO_STATIONS:
            if not Station.objects.filter(tenant=tenant, identity=identity).exists():
                register_station(tenant, identity, bytes.fromhex(key_hex), KeyOrigin.INSTALLED,
                                 actor="demo", allowed_protocols=protocols)
        for tag in DEMO_ID_TAGS:
            IdTag.objects.get_or_create(tenant=tenant, id_tag=tag)
        for spec in DEMO_CLIENTS:
            if not Client.objects.for_tenant(tenant).filter(client_id=spec.client_id).exists():
                client, _ = add_client(tenant, spec)
                client.client_secret = client_auth.hash_secret(DEMO_CLIENT_SECRET)
                client.save(update_fields=["client_secret"])
        if not authorities.hierarchy(tenant):  # its MO PKI, for PnC contract certificates
            authorities.initialise(tenant, "demo")
        self._print_welcome()

    def _print_welcome(self):
        base = settings.PUBLIC_URL
        ws = base.replace("http://", "ws://").replace("https://", "wss://")
        w = self.stdout.write
        w(self.style.SUCCESS("Chargegate demo data is ready."))
        w(f"  Portal        {base}/")
        w(f"  Admin         {base}/admin/")
        w(f"  Health        {base}/healthz")
        w(f"  OCPP-J        {ws}/ocpp/demo/<identity>   (subprotocols ocpp1.6, ocpp2.0.1)")
        w(f"  Sign in as    admin / operator / viewer, password {DEMO_PASSWORD}")
        w("  Demo stations (HTTP Basic: username = identity, password = the key's 20 raw bytes"
          " or its 40 hex characters):")
        for identity, key_hex, protocols in DEMO_STATIONS:
            w(f"    {identity:<11} key {key_hex}  {', '.join(protocols)}")
        w(f"  Id tags       {', '.join(DEMO_ID_TAGS)}")
        w(f"  OAuth server  {base}/oauth/demo   (metadata: {base}/.well-known/oauth-authorization-server/oauth/demo)")
        w(f"  OAuth clients {', '.join(c.client_id for c in DEMO_CLIENTS)}, secret {DEMO_CLIENT_SECRET};"
          f" demo-ev redirects to {DEMO_REDIRECT_URI}")
        w(f"  Driver        driver / {DEMO_PASSWORD} approves on the consent screen")
        w(f"  PnC           python manage.py pnc ev-register {base}/oauth/demo --client-id demo-ev"
          f" --client-secret {DEMO_CLIENT_SECRET}   (plays the EV; see README)")
        w(f"  REST API      {base}/api/docs/   (eMSP API with demo-emsp's token, scopes emsp:read emsp:write;"
          " operator API with demo-ops's, operator:read operator:write, or a user's password)")
