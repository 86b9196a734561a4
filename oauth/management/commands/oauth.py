"""`manage.py oauth keys|client|trust ...`: a tenant's authorization server.

    oauth keys rotate|list <tenant>
    oauth client add <tenant> <client_id> --grant ... [--redirect-uri ...] [--scope ...]
                     [--auth-method ...] [--jwks FILE] [--require-par] [--detail-type T ...]
    oauth client list <tenant>
    oauth client remove <tenant> <client_id> [--yes]
    oauth client rotate-secret <tenant> <client_id>
    oauth trust add <tenant> <client_id> --issuer I --subject S --kid K --public-key FILE --alg A ...
    oauth trust list <tenant>
    oauth trust rollover <tenant> <issuer> <kid> --new-kid K --public-key FILE --alg A ... --overlap-until T
    oauth trust retire <tenant> <issuer> <kid>
"""
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from lib.timestamps import read_instant, rfc3339
from oauth import issuer, registration, signing_keys
from oauth.models import Client, GrantType, SigningKey, TrustedKey
from tenants.cli import confirm, dump_json, removal_arguments, tenant_or_error


def key_summary(key: SigningKey) -> dict:
    return {"kid": key.kid, "alg": key.alg, "state": key.state,
            "created_at": rfc3339(key.created_at),
            "signs_from": rfc3339(key.signs_from),
            "published_until": rfc3339(key.publish_until)}


def client_summary(c: Client) -> dict:
    return {"client_id": c.client_id, "name": c.name, "grant_types": c.grant_types, "scopes": c.scopes,
            "redirect_uris": c.redirect_uris.split(), "token_endpoint_auth_method": c.token_endpoint_auth_method,
            "require_par": c.require_par, "authorization_details_types": c.authorization_details_types}


def trust_summary(r: TrustedKey) -> dict:
    return {"client_id": r.client.client_id, "issuer": r.issuer, "subject": r.subject, "kid": r.kid,
            "algorithms": r.algorithms, "scopes": r.scopes,
            "valid_from": rfc3339(r.valid_from), "valid_until": rfc3339(r.valid_until),
            "retired_at": rfc3339(r.retired_at)}


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None


class Command(BaseCommand):
    help = "Manage a tenant's authorization server: signing keys, clients, trust records."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="area", required=True)
        keys = sub.add_parser("keys", help="token signing keys").add_subparsers(dest="action", required=True)
        rotate = keys.add_parser("rotate", help="start signing with a fresh key")
        rotate.add_argument("tenant")
        rotate.add_argument("--alg", choices=signing_keys.ALGORITHMS)
        rotate.add_argument("--now", action="store_true",
                            help="sign with it at once (a compromised key), instead of publishing it "
                                 "OAUTH_KEY_PUBLISH_AHEAD_SECONDS ahead")
        keys.add_parser("list", help="the tenant's keys (public parts only)").add_argument("tenant")

        clients = sub.add_parser("client", help="clients").add_subparsers(dest="action", required=True)
        add = clients.add_parser("add", help="register a client; a generated secret is printed once")
        add.add_argument("tenant")
        add.add_argument("client_id")
        add.add_argument("--name", default="")
        add.add_argument("--grant", action="append", required=True, choices=GrantType.values,
                         dest="grants", help="repeat for several")
        add.add_argument("--redirect-uri", action="append", default=[], dest="redirect_uris")
        add.add_argument("--scope", action="append", default=[], dest="scopes")
        add.add_argument("--auth-method", choices=Client.AuthMethod.values,
                         default=Client.AuthMethod.CLIENT_SECRET_BASIC)
        add.add_argument("--jwks", metavar="FILE", help="private_key_jwt: the client's public keys")
        add.add_argument("--require-par", action="store_true", help="authorization requests only by PAR")
        add.add_argument("--detail-type", action="append", dest="detail_types", metavar="TYPE",
                         help="an authorization_details type it may request (repeat); default: any")
        clients.add_parser("list").add_argument("tenant")
        cremove = clients.add_parser("remove", help="delete a client: its tokens, grants and trust "
                                                    "records stop working at once")
        removal_arguments(cremove, "tenant", "client_id")
        crotate = clients.add_parser("rotate-secret", help="a fresh secret, printed once; the old one "
                                                           "stops working at once")
        crotate.add_argument("tenant")
        crotate.add_argument("client_id")

        trust = sub.add_parser("trust", help="trust records for JWT assertions (RFC 7523, OSDM)")
        tsub = trust.add_subparsers(dest="action", required=True)
        tadd = tsub.add_parser("add", help="trust a signer's key")
        tadd.add_argument("tenant")
        tadd.add_argument("client_id", help="the client whose tokens the assertions obtain")
        tadd.add_argument("--issuer", required=True)
        tadd.add_argument("--subject", required=True)
        tadd.add_argument("--kid", required=True)
        tadd.add_argument("--public-key", required=True, metavar="FILE", help="PEM or JWK")
        tadd.add_argument("--alg", action="append", required=True, dest="algorithms")
        tadd.add_argument("--scope", action="append", default=[], dest="scopes")
        tadd.add_argument("--valid-from", help="ISO 8601; for a key rollover")
        tadd.add_argument("--valid-until", help="ISO 8601")
        tsub.add_parser("list").add_argument("tenant")
        roll = tsub.add_parser("rollover", help="trust the signer's next key from now; the old one stays "
                                                "valid until --overlap-until")
        roll.add_argument("tenant")
        roll.add_argument("issuer")
        roll.add_argument("kid", help="the key being replaced")
        roll.add_argument("--new-kid", required=True)
        roll.add_argument("--public-key", required=True, metavar="FILE", help="PEM or JWK")
        roll.add_argument("--alg", action="append", required=True, dest="algorithms")
        roll.add_argument("--overlap-until", required=True, help="ISO 8601: when the old key stops working")
        retire = tsub.add_parser("retire", help="stop accepting a key at once")
        retire.add_argument("tenant")
        retire.add_argument("issuer")
        retire.add_argument("kid")
        for p in (rotate, add, crotate, tadd, roll, retire):
            p.add_argument("--json", action="store_true")
        for p in (keys, clients, tsub):
            for choice in p.choices.values():
                if not any(a.dest == "json" for a in choice._actions):
                    choice.add_argument("--json", action="store_true")

    def handle(self, *args, area, action, tenant, json=False, **opts):
        t = tenant_or_error(tenant)
        if not issuer.runs_authorization_server(t):
            raise CommandError(f"{tenant} runs no authorization server (it is neither an eMSP, "
                               "an OSDM provider nor a charging-station operator)")
        try:
            result, text = getattr(self, f"{area}_{action}".replace("-", "_"))(t, **opts)
        except registration.RegistrationError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(dump_json(result) if json else text)

    def keys_rotate(self, t, alg=None, now=False, **_):
        try:
            row = key_summary(signing_keys.rotate(t, alg, at_once=now))
        except signing_keys.RotationError as exc:
            raise CommandError(str(exc)) from None
        if row["state"] == "active":
            return row, f"{row['kid']}\t{row['alg']}\tactive: new tokens are signed with it"
        return row, (f"{row['kid']}\t{row['alg']}\tnext: published now, signs from {row['signs_from']} "
                     "(the current key signs until then)")

    def keys_list(self, t, **_):
        signing_keys.published(t)  # retire what has expired before listing
        rows = [key_summary(k) for k in SigningKey.objects.for_tenant(t)]
        lines = [f"{r['kid']}\t{r['alg']}\t{r['state']}"
                 + (f" (published until {r['published_until']})" if r["state"] == "retiring" else "")
                 + (f" (signs from {r['signs_from']})" if r["state"] == "next" else "")
                 for r in rows]
        return rows, "\n".join(lines) or f"no signing keys in {t.slug}"

    def client_add(self, t, client_id, name, grants, redirect_uris, scopes, auth_method, jwks,
                   require_par, detail_types, **_):
        spec = registration.ClientSpec(client_id=client_id, name=name, redirect_uris=redirect_uris,
                                       grant_types=grants, scopes=scopes, auth_method=auth_method,
                                       require_par=require_par, jwks_text=_read(jwks) if jwks else None,
                                       detail_types=detail_types)
        client, secret = registration.add_client(t, spec)
        row = client_summary(client)
        if secret:
            row["client_secret"] = secret  # shown this once; only its hash is kept
        text = f"client {client.client_id} registered"
        if secret:
            text += f"\nclient secret (shown once, store it now): {secret}"
        return row, text

    def client_list(self, t, **_):
        rows = [client_summary(c) for c in Client.objects.for_tenant(t).order_by("client_id")]
        return rows, "\n".join(f"{r['client_id']}\t{' '.join(r['grant_types'])}\t{r['token_endpoint_auth_method']}"
                               for r in rows) or f"no clients in {t.slug}"

    def client_remove(self, t, client_id, yes, **_):
        client = Client.objects.for_tenant(t).filter(client_id=client_id).first()
        if client is None:
            raise CommandError(f"no client {client_id!r} in {t.slug}")
        confirm(f"Remove client {client_id} of {t.slug}? Its access and refresh tokens, grants and "
                "trust records go with it.", yes)
        registration.remove_client(client)
        return {"client_id": client_id, "removed": True}, f"client {client_id} removed"

    def client_rotate_secret(self, t, client_id, **_):
        client = Client.objects.for_tenant(t).filter(client_id=client_id).first()
        if client is None:
            raise CommandError(f"no client {client_id!r} in {t.slug}")
        secret = registration.rotate_secret(client)
        return ({"client_id": client_id, "client_secret": secret},  # shown this once
                f"client secret of {client_id} (shown once, store it now): {secret}")

    def trust_add(self, t, client_id, issuer, subject, kid, public_key, algorithms, scopes,
                  valid_from, valid_until, **_):
        client = Client.objects.for_tenant(t).filter(client_id=client_id).first()
        if client is None:
            raise CommandError(f"no client {client_id!r} in {t.slug}")
        try:
            spec = registration.TrustSpec(issuer=issuer, subject=subject, kid=kid, key_text=_read(public_key),
                                          algorithms=algorithms, scopes=scopes,
                                          valid_from=read_instant(valid_from), valid_until=read_instant(valid_until))
        except ValueError as exc:
            raise CommandError(f"bad date: {exc}") from None
        row = trust_summary(registration.add_trust(client, spec))
        return row, f"trusting {issuer} key {kid} for {subject}"

    def trust_list(self, t, **_):
        rows = [trust_summary(r) for r in TrustedKey.objects.for_tenant(t).select_related("client")
                .order_by("issuer", "created_at")]
        return rows, "\n".join(f"{r['issuer']}\t{r['subject']}\t{r['kid']}\t{','.join(r['algorithms'])}"
                               + ("\tretired" if r["retired_at"] else "") for r in rows) or f"no trust records in {t.slug}"

    def trust_retire(self, t, issuer, kid, **_):
        record = TrustedKey.objects.for_tenant(t).filter(issuer=issuer, kid=kid).first()
        if record is None:
            raise CommandError(f"no trust record for issuer {issuer!r} and kid {kid!r}")
        return trust_summary(registration.retire_trust(record)), f"retired {issuer} key {kid}"

    def trust_rollover(self, t, issuer, kid, new_kid, public_key, algorithms, overlap_until, **_):
        record = TrustedKey.objects.for_tenant(t).select_related("client").filter(issuer=issuer, kid=kid).first()
        if record is None:
            raise CommandError(f"no trust record for issuer {issuer!r} and kid {kid!r}")
        try:
            until = read_instant(overlap_until)
        except ValueError as exc:
            raise CommandError(f"bad date: {exc}") from None
        fresh = registration.roll_over_trust(record, kid=new_kid, key_text=_read(public_key),
                                             algorithms=algorithms, overlap_until=until)
        return (trust_summary(fresh),
                f"trusting {issuer} key {new_kid}; key {kid} is accepted until {rfc3339(until)}")
