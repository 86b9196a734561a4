"""`manage.py station key add|list|retire`: a station's public keys for the Bearer scheme,
registered with its tenant's authorization server as jwt-bearer trust records
(docs/station-auth.md, "Bearer"). Mixed into the `station` command beside
csms/management/station_auth.py. Only public keys are taken; nothing secret is printed.
"""
import sys
from pathlib import Path

from django.core.management.base import CommandError

from csms import station_bearer, station_methods
from csms.management.station_auth import _command, _family


def add_arguments(sub) -> None:
    key = _family(sub, "key", "a station's public keys for Bearer (jwt-bearer assertions to its tenant's "
                              "authorization server)")
    add = _command(key, "add", "register a public key (PEM or JWK: EC P-256, Ed25519 or RSA >= 2048)",
                   "tenant", "identity", "public_key")
    add.add_argument("--kid", default="", help="the kid the station puts in its assertions' header "
                                               "(default: the JWK's kid, else its RFC 7638 thumbprint)")
    _command(key, "list", "a station's registered keys", "tenant", "identity")
    _command(key, "retire", "stop accepting a key at once; the station's access tokens are revoked and a "
                            "Bearer connection is closed", "tenant", "identity", "kid")


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None


class KeyCommands:
    """`do_key` of the station command."""

    def do_key(self, key_action, **opts):
        try:
            getattr(self, f"_key_{key_action}")(**opts)
        except station_bearer.NoAuthorizationServer as exc:
            raise CommandError(str(exc)) from None

    def _key_add(self, tenant, identity, public_key, kid, json, **_):
        station = self._station(tenant, identity)
        try:
            row = station_bearer.add_key(station, _read(public_key), kid, actor="cli")
        except station_bearer.StationKeyRefused as exc:
            raise CommandError(f"{identity}: {exc}") from None
        allowed = self._allowed(station)

        def text(r):
            self.stdout.write(f"key {r['kid']}\t{r['kty']} {r['crv'] or ''}\t{','.join(r['algorithms'])}")
            if "bearer" not in allowed:
                self.stdout.write(f"{identity} may not use Bearer yet (its methods: {','.join(allowed)}); "
                                  "`station auth set` or its group allows it.")
        self._emit(row, json, text)

    def _key_list(self, tenant, identity, json, **_):
        rows = station_bearer.keys_of(self._station(tenant, identity))
        if json:
            self._emit(rows, True, None)
            return
        for r in rows:
            state = f"retired {r['retired_at']}" if r["retired_at"] else "active"
            self.stdout.write(f"{r['kid']}\t{state}\t{r['kty']} {r['crv'] or ''}\t{','.join(r['algorithms'])}\t"
                              f"{r['created_at']}")

    def _key_retire(self, tenant, identity, kid, json, **_):
        station = self._station(tenant, identity)
        row = station_bearer.retire_key(station, kid, actor="cli")
        if row is None:
            raise CommandError(f"{identity} has no key {kid!r}")
        self._emit(row, json, lambda r: self.stdout.write(
            f"key {r['kid']} retired; {r['tokens_revoked']} access token(s) revoked"))

    def _allowed(self, station):
        return station_methods.resolve(station).methods
