"""Handshakes per second for each station authentication method, in one run.

Usage:  .venv/bin/python bench/auth_methods.py [--stations 500] [--concurrency 50] [--rounds 2] [--methods basic,token,digest]

Starts its own uvicorn process against the configured database (embedded SQLite by
default; DATABASE_URL / REDIS_URL for production backends), registers the stations it
needs in tenant `bench-auth` with a key drawn here (the cheap hash, as every key a
rotation or onboarding gives), one token, one other Basic login and one Bearer access
token each (minted by the function the jwt-bearer grant calls, `oauth.tokens.issue`, for
the tenant's OCPP endpoint), a TOTP secret each (`station totp issue`'s function) and the
Digest and EAP verifiers of their key, allows `token,bearer,basic,eap,digest,totp` as the
tenant's default and puts them in a station group, then connects every station with
each method in turn (the handshake only: connect, then close) and prints the rates and
the server process's CPU time per handshake (the least of the rounds: on a shared
machine it varies less than the rate does).

* `challenge`: no credentials; the 401 with every challenge is the handshake counted.
* `digest`: a 401 first, then the SHA-256 response (the reference client's writer): two
  handshakes, counted as one, as a Digest station after a restart makes them.
* `eap`: a conversation of two handshakes (an unsolicited Identity Response → 401 with
  the MD5-Challenge → the response → 101), counted as one.
* `totp`: `Authorization: TOTP login=…, totp=…`; each slot is usable once, so round k
  uses slot k-1 (previous, current, next: at most 3 rounds).

It asserts nothing. AUTH_THROTTLE=off, as for bench/csms_load.py: all stations connect
from 127.0.0.1. The tokens and secrets are made here and never printed.
"""
import argparse
import asyncio
import base64
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
if not os.environ.get("DATABASE_URL"):
    os.environ.setdefault("CHARGEGATE_VAR_DIR", str(REPO / "var" / "bench"))
sys.path.insert(0, str(REPO / "bench"))
from drill_common import free_port, pct, start_server, stop_server  # noqa: E402
from versus import cpu_seconds, digest_answer  # noqa: E402

KEY = bytes.fromhex("00112233445566778899aabbccddeeff00112233")
TENANT = "bench-auth"


def prepare(n: int, port: int) -> tuple[dict[str, str], dict[str, str]]:
    """The stations, and a fresh token and Bearer access token for each (their earlier
    tokens are revoked). `port`: the server's, so the access tokens name its issuer and
    OCPP endpoint (PUBLIC_URL follows PORT)."""
    os.environ["PORT"] = str(port)
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from csms import station_methods
    from csms.auth import keys, policy, token
    from csms.models import Station, StationCredential, StationGroup, StationLogin, StationToken
    from tenants.models import Tenant

    call_command("migrate", verbosity=0)
    tenant, _ = Tenant.objects.get_or_create(slug=TENANT, defaults={"name": "Auth benchmark"})
    have = set(Station.objects.for_tenant(tenant).values_list("identity", flat=True))
    digest = keys.hash_key(KEY, generated=True)
    new = Station.objects.bulk_create([Station(tenant=tenant, identity=f"A{i:05d}", vendor="Bench")
                                       for i in range(n) if f"A{i:05d}" not in have])
    StationCredential.objects.bulk_create([StationCredential(
        tenant=tenant, station=s, current_hash=digest, current_origin="generated") for s in new])
    StationLogin.objects.bulk_create([StationLogin(tenant=tenant, station=s, login=f"alias-{s.identity}")
                                      for s in new])
    stations = {s.identity: s for s in Station.objects.for_tenant(tenant)}
    realm = policy.realm(tenant)
    for cred in StationCredential.objects.for_tenant(tenant).filter(current_eap="").select_related("station"):
        cred.current_eap = keys.seal_eap(realm, cred.station.identity, KEY, cred.current_hash)
        # A 1.6 key is configured as its hex text, Digest's password (auth/digest.passwords).
        cred.current_digest = keys.seal_digest(realm, cred.station.identity, KEY, cred.current_hash)
        cred.save(update_fields=["current_eap", "current_digest"])
    totps = {}
    for identity, station in stations.items():
        station_methods.revoke_totp(station, actor="bench")
        totps[identity] = station_methods.issue_totp(station, actor="bench")[1]
    StationToken.objects.for_tenant(tenant).filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
    tokens, rows = {}, []
    for i in range(n):
        identity = f"A{i:05d}"
        value, public_id, secret = token.generate()
        tokens[identity] = value
        rows.append(StationToken(tenant=tenant, station=stations[identity], public_id=public_id,
                                 secret_hash=keys.hash_token_secret(secret)))
    StationToken.objects.bulk_create(rows)
    StationGroup.objects.get_or_create(tenant=tenant, name="bench", defaults={"rank": 10, "vendor_pattern": "bench"})
    policy_row = station_methods.changed(tenant)
    policy_row.methods = ["token", "bearer", "basic", "eap", "digest", "totp"]
    policy_row.save(update_fields=["methods"])
    return tokens, access_tokens(tenant, stations), totps


def access_tokens(tenant, stations) -> dict[str, str]:
    """One Bearer access token per station, as the jwt-bearer grant would issue it, but
    valid for the bench's length rather than 5 minutes."""
    from datetime import timedelta

    from oauth import station_keys, tokens

    client = station_keys.station_client(tenant, create=True)
    return {identity: tokens.issue(client, subject=identity, scope=station_keys.SCOPE,
                                   audience=station_keys.audience(tenant),
                                   lifetime=timedelta(hours=1)).access_token
            for identity in stations}


def authorization(method: str, identity: str, tokens: dict[str, dict[str, str]], round_: int = 0) -> str | None:
    if method in ("eap", "digest"):
        return method  # a conversation of its own (eap_conversation, digest_conversation)
    if method == "challenge":
        return None
    if method == "totp":
        from lib.totp_token import config
        from stationclient.authorization import Secrets, write

        secrets = Secrets(login=identity, totp=config(tokens["totp"][identity]))
        # Slot `round_ - 1` of now: previous, current, next, each usable once.
        written = write("totp", secrets, [], target="", now=time.time() + 30 * (round_ - 1), random=b"")
        return dict(written.headers)["Authorization"]
    if method in ("token", "bearer"):
        return f"{method.title()} {tokens[method][identity]}"
    login = identity if method == "basic" else f"alias-{identity}"
    return "Basic " + base64.b64encode(login.encode() + b":" + KEY).decode()


async def connect(port, identity, header):
    import websockets

    return await websockets.connect(f"ws://127.0.0.1:{port}/ocpp/{TENANT}/{identity}",
                                    subprotocols=["ocpp1.6"], open_timeout=60, ping_interval=None,
                                    additional_headers={"Authorization": header} if header else None)


class Refused:
    """What `challenge` gets: the 401 (nothing to close)."""

    async def close(self):
        pass


async def challenge_only(port, identity):
    import websockets

    try:
        await connect(port, identity, None)
    except websockets.InvalidStatus as exc:
        if exc.response.status_code == 401:
            return Refused()
        raise
    raise RuntimeError("admitted without credentials")


async def digest_conversation(port, identity):
    """Asked without credentials, then the SHA-256 response to the 401's challenge."""
    import websockets

    try:
        await connect(port, identity, None)
        raise RuntimeError("Digest: admitted without credentials")
    except websockets.InvalidStatus as exc:
        answer = digest_answer(exc.response, identity, KEY, f"/ocpp/{TENANT}/{identity}")
    return await connect(port, identity, answer)


async def eap_conversation(port, identity):
    """Unsolicited Identity Response, then the MD5-Challenge's response (stationclient/eap.py)."""
    import websockets

    from stationclient.eap import EapClient, eap_challenge

    client = EapClient(identity, KEY.hex().upper().encode(), realm=f"Chargegate {TENANT}")
    try:
        await connect(port, identity, client.identity_response())
        raise RuntimeError("EAP: the Identity Response was let in")
    except websockets.InvalidStatus as exc:
        challenge = eap_challenge(exc.response.headers.get_all("WWW-Authenticate"))
    return await connect(port, identity, client.answer(challenge))


async def handshake(port, identity, header, sem, times):
    async with sem:
        t0 = time.perf_counter()
        if header == "eap":
            ws = await eap_conversation(port, identity)
        elif header == "digest":
            ws = await digest_conversation(port, identity)
        elif header is None:
            ws = await challenge_only(port, identity)
        else:
            ws = await connect(port, identity, header)
        times.append(time.perf_counter() - t0)
        await ws.close()


async def phase(port, method, n, concurrency, tokens, round_):
    sem = asyncio.Semaphore(concurrency)
    times = []
    headers = {f"A{i:05d}": authorization(method, f"A{i:05d}", tokens, round_) for i in range(n)}
    t0 = time.perf_counter()
    await asyncio.gather(*(handshake(port, identity, header, sem, times) for identity, header in headers.items()))
    return time.perf_counter() - t0, times


METHODS = {"challenge": "no credentials (the 401)", "basic": "Basic, login = identity",
           "basic-login": "Basic, another login", "token": "Token", "bearer": "Bearer (JWT, ES256)",
           "totp": "TOTP scheme", "digest": "Digest SHA-256 (2 handshakes)", "eap": "EAP-MD5 (2 handshakes)"}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--stations", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=50, help="handshakes in flight at once")
    parser.add_argument("--rounds", type=int, default=2, help="each method this many times, interleaved")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, of {','.join(METHODS)}")
    args = parser.parse_args()
    chosen = [m for m in args.methods.split(",") if m in METHODS]
    port = free_port()
    if "totp" in chosen and not 1 <= args.rounds <= 3:
        raise SystemExit("TOTP: at most 3 rounds (previous, current and next slot, each usable once)")
    station_tokens, bearer_tokens, totp_secrets = prepare(args.stations, port)
    tokens = {"token": station_tokens, "bearer": bearer_tokens, "totp": totp_secrets}
    server = start_server(port, args=["--lifespan", "off", "--log-level", "warning"],
                          env={"LOG_LEVEL": "WARNING", "AUTH_THROTTLE": "off"})
    results = {m: [] for m in chosen}
    try:
        for round_ in range(args.rounds):
            for method in chosen:
                cpu0 = cpu_seconds(server.pid)
                wall, times = asyncio.run(phase(port, method, args.stations, args.concurrency, tokens, round_))
                results[method].append((wall, times, cpu_seconds(server.pid) - cpu0))
    finally:
        stop_server(server)
    backend = "postgres" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite"
    print(f"machine  {platform.machine()} {os.cpu_count()} cpus, Python {platform.python_version()}, db {backend}, "
          f"1 uvicorn process; {args.stations} stations, {args.concurrency} handshakes in flight, "
          f"{args.rounds} rounds")
    for method in chosen:
        label = METHODS[method]
        walls = [wall for wall, _, _ in results[method]]
        times = [t for _, ts, _ in results[method] for t in ts]
        cpu = min(c for _, _, c in results[method]) / args.stations * 1000
        print(f"{label:30} {args.stations / min(walls):7.0f} handshakes/s (best round)  "
              f"p50 {pct(times, 50):6.1f} ms  p95 {pct(times, 95):6.1f} ms  server CPU {cpu:5.2f} ms each")


if __name__ == "__main__":
    main()
