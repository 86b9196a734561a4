"""`manage.py pnc ca init|import|rollover|activate|retire|show <tenant>`: the tenant's MO PKI;
`manage.py pnc contract list|show|revoke <tenant> …`: its contracts;
`manage.py pnc ev-register <issuer> …`: the EV reference client (pnc.ev_client)."""
import sys

from django.core.management.base import BaseCommand, CommandError

from lib.timestamps import rfc3339
from pnc import authorities, contracts, emaid, ev_client, pki_files, profile, retirement, revocation
from pnc.models import Contract
from tenants.cli import dump_json, tenant_or_error


class Command(BaseCommand):
    help = "Plug & Charge: the tenant's MO certificate authorities and contracts."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="area", required=True)
        ca = sub.add_parser("ca", help="the MO PKI (Root → Sub-CA 1 → Sub-CA 2)")
        ca_sub = ca.add_subparsers(dest="action", required=True)
        init = ca_sub.add_parser("init", help="create the tenant's MO PKI with fresh P-256 keys")
        init.add_argument("tenant")
        init.add_argument("--json", action="store_true")
        imp = ca_sub.add_parser("import", help="take over an existing MO PKI: Root, Sub-CA 1 and Sub-CA 2 "
                                               "certificates, and at least Sub-CA 2's private key")
        imp.add_argument("tenant")
        source = imp.add_mutually_exclusive_group(required=True)
        source.add_argument("--pem", action="append", metavar="FILE",
                            help="PEM file(s) with certificates and/or private keys (repeatable)")
        source.add_argument("--pkcs12", metavar="FILE", help="a PKCS#12 file: Sub-CA 2's key and the chain")
        imp.add_argument("--password-stdin", action="store_true",
                         help="read the PKCS#12 or private-key password from stdin (never from the command line)")
        imp.add_argument("--json", action="store_true")
        roll = ca_sub.add_parser("rollover", help="a new CA (and new ones below it) take over issuing; the old "
                                                  "ones keep serving their CRLs and OCSP")
        roll.add_argument("tenant")
        roll.add_argument("--level", choices=[level.value for level in authorities.HIERARCHY],
                          default=authorities.Level.SUB_CA_2,
                          help="which CA to replace: sub-ca-2 (the default), sub-ca-1 (with a new Sub-CA 2), "
                               "or root (a whole new hierarchy: distribute the new root, docs/pnc.md)")
        roll.add_argument("--staged", action="store_true",
                          help="make and publish the new CAs, but keep issuing from the current Sub-CA 2 until "
                               "`pnc ca activate` (distribute a new root first)")
        roll.add_argument("--json", action="store_true")
        act = ca_sub.add_parser("activate", help="a staged Sub-CA 2 (rollover --staged) takes over issuing")
        act.add_argument("tenant")
        act.add_argument("key_id", help="the staged Sub-CA 2's key id (pnc ca show)")
        act.add_argument("--json", action="store_true")
        retire = ca_sub.add_parser("retire", help="destroy the private keys of a CA that no longer issues and of "
                                                  "the CAs below it, once nothing they signed is still valid; "
                                                  "their final CRLs stay served (docs/pnc.md)")
        retire.add_argument("tenant")
        retire.add_argument("key_id", help="the CA's key id, or its first 8 or more hex digits (pnc ca show)")
        retire.add_argument("--json", action="store_true")
        show = ca_sub.add_parser("show", help="the tenant's CA certificates (public parts only)")
        show.add_argument("tenant")
        show.add_argument("--json", action="store_true")
        show.add_argument("--pem", action="store_true", help="print the certificates' PEM as well")
        contract = sub.add_parser("contract", help="the contracts drivers approved")
        contract_sub = contract.add_subparsers(dest="action", required=True)
        lst = contract_sub.add_parser("list", help="the tenant's contracts, newest first")
        lst.add_argument("tenant")
        lst.add_argument("--state", choices=Contract.State.values)
        lst.add_argument("--json", action="store_true")
        for name, text in (("show", "one contract and its certificates"),
                           ("revoke", "revoke a contract, its certificate (republishing the CRL) and its tokens")):
            one = contract_sub.add_parser(name, help=text)
            one.add_argument("tenant")
            one.add_argument("emaid", help="with or without hyphens")
            one.add_argument("--json", action="store_true")
            if name == "revoke":
                one.add_argument("--reason", choices=profile.REASONS, default="unspecified")
        ev = sub.add_parser("ev-register", help="play the EV: PAR, the driver's consent in a browser, token, "
                                                "key pair and CSR, the contract certificate chain in a file")
        ev_client.add_arguments(ev)

    def handle(self, *args, area, action=None, **opts):
        if area == "ev-register":
            return self._ev_register(opts)
        tenant = tenant_or_error(opts["tenant"])
        if area == "contract":
            return self._contract(tenant, action, opts)
        if action == "init":
            if not tenant.is_emsp:
                raise CommandError(f"{tenant.slug} is not an eMSP (tenant add --emsp)")
            try:
                rows = authorities.initialise(tenant, "cli")
            except authorities.AuthorityExists as exc:
                raise CommandError(str(exc)) from None
        elif action == "import":
            if not tenant.is_emsp:
                raise CommandError(f"{tenant.slug} is not an eMSP (tenant add --emsp)")
            password = sys.stdin.readline().rstrip("\r\n").encode() if opts["password_stdin"] else None
            try:
                certificates, keys = pki_files.read(opts["pem"], opts["pkcs12"], password)
                rows = authorities.import_hierarchy(tenant, certificates, keys, "cli")
            except (pki_files.Unreadable, profile.RefusedHierarchy, authorities.AuthorityExists) as exc:
                raise CommandError(str(exc)) from None
        elif action == "rollover":
            try:
                authorities.rollover(tenant, opts["level"], "cli", staged=opts["staged"])
            except authorities.NoAuthority as exc:
                raise CommandError(str(exc)) from None
            rows = authorities.hierarchy(tenant)
        elif action == "activate":
            try:
                authorities.activate(tenant, opts["key_id"], "cli")
            except authorities.NotActivatable as exc:
                raise CommandError(str(exc)) from None
            rows = authorities.hierarchy(tenant)
        elif action == "retire":
            try:
                rows = retirement.retire(tenant, opts["key_id"], "cli")
            except retirement.RetireRefused as exc:
                raise CommandError(str(exc)) from None
        else:
            rows = authorities.hierarchy(tenant)
            if not rows:
                raise CommandError(f"{tenant.slug} has no MO PKI (pnc ca init {tenant.slug})")
        self._emit(rows, opts["json"], action == "show" and opts["pem"])

    def _ev_register(self, opts):
        import argparse

        import requests

        try:
            ev_client.register(argparse.Namespace(**opts), say=self.stdout.write)
        except ev_client.RegistrationFailed as exc:
            raise CommandError(str(exc)) from None
        except requests.RequestException as exc:
            raise CommandError(f"cannot reach the server ({type(exc).__name__})") from None

    def _emit(self, rows, as_json, with_pem):
        issuing = next((r for r in rows if r.issuing), None)
        shown = [{"level": r.level, "subject": r.subject, "key_id": r.key_id, "serial_number": r.serial_number,
                  "not_before": rfc3339(r.not_before), "not_after": rfc3339(r.not_after),
                  "issuing": r.issuing, "parent_key_id": r.parent.key_id if r.parent else None,
                  "has_private_key": bool(r.private_key_sealed), "retired_at": rfc3339(r.retired_at),
                  "staged": authorities.is_staged(r, issuing),
                  "certificate_pem": r.certificate_pem}
                 for r in rows]
        if as_json:
            self.stdout.write(dump_json(shown))
            return
        for row in shown:
            mark = ("  (issues contract certificates)" if row["issuing"] else
                    "  (staged: issues after pnc ca activate)" if row["staged"] else
                    f"  (retired {row['retired_at'][:10]}: no key, final CRL)" if row["retired_at"] else
                    "  (key held by its own PKI, which publishes its CRL)" if not row["has_private_key"] else "")
            self.stdout.write(f"{row['level']}\t{row['subject']}\tkey {row['key_id']}\t"
                              f"until {row['not_after']}{mark}")
            if with_pem:
                self.stdout.write(row["certificate_pem"])

    def _contract(self, tenant, action, opts):
        if action == "list":
            rows = Contract.objects.for_tenant(tenant).select_related("user")
            if opts["state"]:
                rows = rows.filter(state=opts["state"])
            return self._emit_contracts(list(rows), opts["json"])
        try:
            wanted = emaid.normalise(opts["emaid"])
        except emaid.InvalidEmaid as exc:
            raise CommandError(str(exc)) from None
        contract = Contract.objects.for_tenant(tenant).select_related("user").filter(emaid=wanted).first()
        if contract is None:
            raise CommandError(f"{tenant.slug} has no contract {opts['emaid']}")
        if action == "revoke":
            try:
                contract = revocation.revoke_contract(contract, "cli", opts["reason"])
            except contracts.TransitionRefused as exc:
                raise CommandError(str(exc)) from None
        self._emit_contracts([contract], opts["json"], single=True)

    def _emit_contracts(self, rows, as_json, single=False):
        shown = [{"emaid": c.emaid, "state": c.state, "driver": c.user.get_username(), "client_id": c.client_id_text,
                  "starts_at": rfc3339(c.starts_at), "ends_at": rfc3339(c.ends_at), "currency": c.currency,
                  "maximum_amount": c.maximum_amount, "maximum_transaction_amount": c.maximum_transaction_amount,
                  "certificates": [{"serial_number": x.serial_number, "not_after": rfc3339(x.not_after),
                                    "revoked_at": rfc3339(x.revoked_at)}
                                   for x in c.certificates.all()]}
                 for c in rows]
        if as_json:
            self.stdout.write(dump_json(shown[0] if single else shown))
            return
        for row in shown:
            self.stdout.write(f"{emaid.hyphenated(row['emaid'])}\t{row['state']}\t{row['driver']}\t"
                              f"{row['client_id']}\tuntil {row['ends_at']}")
