"""A cold reconnect storm while stations already connected keep working (issue 9).

    .venv/bin/python bench/storm.py [--stations 10000] [--connected 500] [--postgres]

A fresh Chargegate server (`python -m portal.serve`, as bench/versus.py starts it, embedded
or with --postgres on PostgreSQL + Redis). First --connected stations connect and start
sending Heartbeat CALLs, each every --interval seconds on a fixed schedule (so 500
stations at 2 s are 250 CALLs/s); they run in a process of their own and time every
round trip from its scheduled send time. Once they run, --stations more stations (with
generated keys, like the fleet a restarted server sees) all try to connect at once,
--concurrency handshakes in flight from several loopback addresses, each retrying until
admitted. It prints how long the storm took to admit them all, the handshake rate per
5 s, failures, and the connected stations' CALL round trips before, during and after
the storm (p50 / p95 / p99 / max). It asserts nothing.

`--baseline`: then the same storm, connected stations included, against
bench/baseline_csms.py (a central system on the `ocpp` library, Basic against a dict),
and the ratio of the two: admission time and server CPU per handshake. These shared
machines vary by a third between runs and more between days; the ratio moves less.

`--method bearer`: the storm's stations connect with `Authorization: Bearer`, each with an
access token minted before the server starts by the function the jwt-bearer grant calls
(`oauth.tokens.issue`, for the tenant's OCPP endpoint); the tenant's default methods are
`bearer,basic` (the connected stations stay on Basic). `--method token`: each storm station
gets a station token (`Authorization: Token`, issued by `station_methods.issue_token` as
`station token issue` does) and the tenant's default is `token,basic`. `--method digest`:
the tenant's default is `digest,basic`, and each storm station first connects without
credentials, then answers the 401's SHA-256 challenge (two handshakes per admission).
`--method eap`: the tenant's default is `eap,basic`; each storm station sends the
unsolicited EAP Identity Response, gets the MD5-Challenge in the 401 and answers it (two
handshakes). `--method totp`: each storm station gets a TOTP secret (`station totp
issue`'s function) and connects with `Authorization: TOTP login=…, totp=…` written at
the moment of each attempt; the default is `totp,basic`.
"""
import argparse
import asyncio
import atexit
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import versus  # noqa: E402  (provisioning, server start and the station client)

HEARTBEAT = '[2,"{}","Heartbeat",{{}}]'


async def connected_stations(port, first, count, interval, on_ready, stop, results):
    socks = [await versus.connect(port, first + i, "127.0.0.1") for i in range(count)]
    on_ready.set()
    samples = []  # (scheduled time, round trip s or None)
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def station(k, ws):
        n = 0
        while not stop.is_set():
            scheduled = start + k * interval / count + n * interval
            n += 1
            await asyncio.sleep(max(0.0, scheduled - loop.time()))
            try:
                ok = await versus.call(ws, HEARTBEAT.format(f"h{k}-{n}"), timeout=30)
                samples.append((time.time() - (loop.time() - scheduled), loop.time() - scheduled if ok else None))
            except Exception:
                samples.append((time.time(), None))
                return

    await asyncio.gather(*(station(k, ws) for k, ws in enumerate(socks)))
    results.put(samples)


def connected_main(*args):
    asyncio.run(connected_stations(*args))


def allow_first(method: str):
    """The bench tenant, with `method` first in its default methods (Basic after it: the
    connected stations stay on Basic)."""
    from csms import station_methods
    from tenants.models import Tenant

    tenant = Tenant.objects.get(slug=versus.TENANT)
    row = station_methods.changed(tenant)
    row.methods = [method, "basic"]
    row.save(update_fields=["methods"])
    return tenant


def bearer_tokens(first: int, count: int) -> dict[int, str]:
    """Allow Bearer for the tenant, and one access token per storm station (an hour long)."""
    from datetime import timedelta

    from django.db import connections

    from oauth import station_keys, tokens

    tenant = allow_first("bearer")
    client = station_keys.station_client(tenant, create=True)
    made = {i: "Bearer " + tokens.issue(client, subject=versus.identity(i), scope=station_keys.SCOPE,
                                        audience=station_keys.audience(tenant),
                                        lifetime=timedelta(hours=1)).access_token
            for i in range(first, first + count)}
    connections.close_all()
    return made


def token_headers(first: int, count: int) -> dict[int, str]:
    """Allow Token for the tenant, and one station token per storm station (issued as
    `station token issue` issues it: random, so its hash is the cheap one)."""
    from django.db import connections

    from csms import station_methods
    from csms.models import Station

    tenant = allow_first("token")
    by_identity = {s.identity: s for s in Station.objects.filter(tenant=tenant)}
    made = {i: "Token " + station_methods.issue_token(by_identity[versus.identity(i)], actor="bench")[1]
            for i in range(first, first + count)}
    connections.close_all()
    return made


def sealed_for_storm(method: str, field: str, seal, first: int, count: int) -> None:
    """`method` first for the tenant, and the storm stations' secret for it in their
    credential's `field`, sealed by `seal` as `credentials.new_key` does with a key
    (`versus.provision` writes hashes only)."""
    from django.db import connections, transaction

    from csms.auth import policy
    from csms.models import StationCredential

    tenant = allow_first(method)
    realm, wanted = policy.realm(tenant), {versus.identity(i) for i in range(first, first + count)}
    with transaction.atomic():
        for credential in StationCredential.objects.filter(tenant=tenant).select_related("station"):
            if credential.station.identity in wanted:
                setattr(credential, field, seal(realm, credential.station.identity, versus.KEY,
                                                credential.current_hash))
                credential.save(update_fields=[field])
    connections.close_all()


def digest_policy(first: int, count: int) -> None:
    """Digest first for the tenant, and the storm stations' Digest verifiers."""
    from csms.auth import keys

    sealed_for_storm("digest", "current_digest", keys.seal_digest, first, count)


def eap_policy(first: int, count: int) -> None:
    """EAP first for the tenant, and the storm stations' EAP secrets."""
    from csms.auth import keys

    sealed_for_storm("eap", "current_eap", keys.seal_eap, first, count)


def totp_headers(first: int, count: int) -> dict:
    """TOTP first for the tenant, a TOTP secret per storm station, and for each a writer of
    its Authorization header at the moment of the attempt (a slot is usable once)."""
    from django.db import connections

    from csms import station_methods
    from csms.models import Station
    from lib.totp_token import config
    from stationclient.authorization import Secrets, write

    tenant = allow_first("totp")
    by_identity = {s.identity: s for s in Station.objects.filter(tenant=tenant)}

    def writer(identity: str, secret: str):
        secrets = Secrets(login=identity, totp=config(secret))
        return lambda: dict(write("totp", secrets, [], target="", now=time.time(), random=b"").headers)[
            "Authorization"]

    made = {}
    for i in range(first, first + count):
        identity = versus.identity(i)
        made[i] = writer(identity, station_methods.issue_totp(by_identity[identity], actor="bench")[1])
    connections.close_all()
    return made


async def eap_connect(port: int, i: int, source: str, timeout: float):
    """An EAP station's handshake: the unsolicited Identity Response, the 401 with the
    MD5-Challenge, the answer (stationclient/eap.py): two handshakes, timed as one."""
    import websockets

    from stationclient.eap import EapClient, eap_challenge

    url = f"ws://127.0.0.1:{port}/ocpp/{versus.TENANT}/{versus.identity(i)}"
    options = dict(subprotocols=["ocpp1.6"], open_timeout=timeout, ping_interval=None, compression=None,
                   local_addr=(source, 0), max_size=None)
    client = EapClient(versus.identity(i), versus.KEY.hex().upper().encode(), realm=f"Chargegate {versus.TENANT}")
    try:
        ws = await websockets.connect(url, additional_headers={"Authorization": client.identity_response()},
                                      **options)
    except websockets.InvalidStatus as exc:
        if exc.response.status_code != 401:
            raise
        challenge = eap_challenge(exc.response.headers.get_all("WWW-Authenticate"))
    else:
        await ws.close()
        raise RuntimeError("admitted on an Identity Response")
    return await websockets.connect(url, additional_headers={"Authorization": client.answer(challenge)}, **options)


async def digest_connect(port: int, i: int, source: str, timeout: float):
    """A Digest station's handshake after a restart: asked first, without credentials (a
    401 with the challenges), then answered (the reference client's writer): two
    handshakes, timed as one admission."""
    import websockets

    path = f"/ocpp/{versus.TENANT}/{versus.identity(i)}"
    url = f"ws://127.0.0.1:{port}{path}"
    options = dict(subprotocols=["ocpp1.6"], open_timeout=timeout, ping_interval=None, compression=None,
                   local_addr=(source, 0), max_size=None)
    try:
        ws = await websockets.connect(url, **options)
    except websockets.InvalidStatus as exc:
        if exc.response.status_code != 401:
            raise
        answer = versus.digest_answer(exc.response, versus.identity(i), versus.KEY, path)
    else:
        await ws.close()
        raise RuntimeError("admitted without credentials")
    return await websockets.connect(url, additional_headers={"Authorization": answer}, **options)


async def storm(port, first, count, concurrency, sources, authorization=None, conversation=None):
    admitted, failures, first_failure = [], 0, []
    queue = list(range(first, first + count))
    held = []
    t0 = time.perf_counter()

    async def worker(w):
        nonlocal failures
        while queue:
            i = queue.pop()
            while True:
                try:
                    source = sources[w % len(sources)]
                    header = (authorization or {}).get(i)
                    held.append(await conversation(port, i, source, timeout=60) if conversation else
                                await versus.connect(port, i, source, timeout=60,
                                                     authorization=header() if callable(header) else header))
                    admitted.append(time.perf_counter() - t0)
                    break
                except Exception as exc:
                    failures += 1
                    if not first_failure:  # said once: a storm that cannot get in says why
                        first_failure.append(exc)
                        print(f"  first failed attempt: {exc!r}", flush=True)
                    await asyncio.sleep(1)

    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return time.perf_counter() - t0, admitted, failures, held


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))] * 1000 if values else float("nan")


def report(label, lats, lost):
    print(f"    {label:<8} {len(lats):6d} CALLs  p50 {pct(lats, 50):7.1f}  p95 {pct(lats, 95):7.1f}  "
          f"p99 {pct(lats, 99):7.1f}  max {max(lats, default=0) * 1000:7.1f} ms  unanswered {lost}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=10000)
    parser.add_argument("--connected", type=int, default=500)
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between a connected station's CALLs")
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--sources", type=int, default=8, help="loopback source addresses")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds measured before and after the storm")
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--method", choices=["basic", "bearer", "token", "digest", "eap", "totp"], default="basic",
                        help="how the storm's stations authenticate")
    parser.add_argument("--baseline", action="store_true",
                        help="then run the same storm (Basic) against bench/baseline_csms.py, for a ratio")
    parser.add_argument("--profile", metavar="FILE",
                        help="sample our server with py-spy during the storm only (raw format, to FILE)")
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for the server (repeatable), e.g. CSMS_HANDSHAKES_AT_ONCE=0")
    args = parser.parse_args()
    server_env = dict(item.split("=", 1) for item in args.server_env)
    nofile = versus.raise_nofile()
    if args.stations + args.connected + 200 > nofile:
        raise SystemExit(f"RLIMIT_NOFILE hard limit {nofile} is too low")
    workdir = Path(tempfile.mkdtemp(prefix="chargegate-storm-"))
    atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    os.environ["CHARGEGATE_VAR_DIR"] = str(workdir)
    if args.postgres:
        os.environ["DATABASE_URL"], os.environ["REDIS_URL"] = versus.POSTGRES_URL, versus.REDIS_URL
        versus.fresh_postgres()
    else:
        os.environ.pop("DATABASE_URL", None)
        os.environ.pop("REDIS_URL", None)
    total = args.stations + args.connected
    port = versus.free_port()
    os.environ["PORT"] = str(port)  # PUBLIC_URL follows it: the Bearer tokens' issuer and audience
    versus.provision(total - 1)  # identities 0 .. total-1
    authorization = {"bearer": bearer_tokens, "token": token_headers, "totp": totp_headers}.get(
        args.method, lambda *_: None)(0, args.stations)
    {"digest": digest_policy, "eap": eap_policy}.get(args.method, lambda *_: None)(0, args.stations)
    conversation = {"digest": digest_connect, "eap": eap_connect}.get(args.method)
    sources = versus.sources_for(total, args.sources)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
          f"{'PostgreSQL + Redis' if args.postgres else 'embedded'}; {args.connected} connected stations, "
          f"a CALL each every {args.interval:g} s; storm of {args.stations:,}, {args.concurrency} in flight "
          f"from {len(sources)} addresses, method {args.method}; server settings {server_env or 'default'}",
          flush=True)
    with versus.chargegate_server(total, workdir, server_env, port) as (port, proc, _env):
        result = storm_against(port, proc, args, sources, authorization, conversation, args.profile)
    show(f"Chargegate, {args.method}", args.stations, *result)
    if args.baseline:
        # After ours, not before: our port was drawn before provisioning (the Bearer tokens
        # name it), and a storm's thousands of client sockets could be holding it by then.
        with versus.baseline_server(total - 1, workdir) as (base_port, base_proc):
            baseline = storm_against(base_port, base_proc, args, sources)
        show("baseline (bench/baseline_csms.py, Basic)", args.stations, *baseline)
        print(f"ratio: Chargegate {args.method} took {result[0] / baseline[0]:.2f}× the baseline's time, "
              f"{result[4] / max(len(result[1]), 1) / (baseline[4] / max(len(baseline[1]), 1)):.2f}× its "
              f"server CPU per handshake")


def storm_against(port, proc, args, sources, authorization=None, conversation=None, profile=None):
    """The connected stations, then the storm, against the server at `port`: (seconds,
    admission times, failed attempts, the connected stations' samples, server CPU s,
    storm start and end as wall-clock times)."""
    ctx = multiprocessing.get_context("spawn")
    ready, stop, results = ctx.Event(), ctx.Event(), ctx.Queue()
    worker = ctx.Process(target=connected_main,
                         args=(port, args.stations, args.connected, args.interval, ready, stop, results),
                         daemon=True)
    worker.start()
    if not ready.wait(300):
        raise SystemExit("the connected stations did not connect")
    time.sleep(args.settle)
    cpu0 = versus.cpu_seconds(proc.pid)
    wall0 = time.time()
    profiler = start_profiler(profile, proc.pid) if profile else None
    elapsed, admitted, failures, held = asyncio.run(
        storm(port, 0, args.stations, args.concurrency, sources, authorization, conversation))
    wall1 = time.time()
    cpu = versus.cpu_seconds(proc.pid) - cpu0
    if profiler:
        stop_profiler(profiler)
    time.sleep(args.settle)
    stop.set()
    samples = results.get(timeout=120)
    worker.join(30)
    return elapsed, admitted, failures, samples, cpu, wall0, wall1


def start_profiler(path: str, pid: int):
    """py-spy (not a dependency: `.venv/bin/pip install py-spy`) sampling the server with
    the GIL held, in py-spy's raw format (one stack and its count per line), for the storm
    only: the connected stations' start and the teardown stay out of it."""
    import subprocess

    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if not spy:
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    return subprocess.Popen([spy, "record", "--gil", "--rate", "200", "--format", "raw", "--output", path,
                             "--pid", str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_profiler(proc) -> None:
    import signal

    proc.send_signal(signal.SIGINT)  # py-spy writes its file when interrupted
    proc.wait(60)


def show(label, stations, elapsed, admitted, failures, samples, cpu, wall0, wall1):
    print(f"{label} storm: {len(admitted):,} of {stations:,} admitted in {elapsed:.1f} s "
          f"({len(admitted) / elapsed:.0f}/s), {failures} failed attempts retried, "
          f"server CPU {cpu:.1f} s ({cpu / max(len(admitted), 1) * 1000:.1f} ms per handshake)")
    step = 5.0
    buckets = [sum(1 for a in admitted if k * step <= a < (k + 1) * step) for k in range(int(elapsed // step) + 1)]
    print("  admitted per 5 s: " + ", ".join(str(b) for b in buckets))
    print("  connected stations' Heartbeat round trips, from the scheduled send time:")
    for label, lo, hi in (("before", 0, wall0), ("during", wall0, wall1), ("after", wall1, float("inf"))):
        inside = [lat for t, lat in samples if lo <= t < hi]
        report(label, [lat for lat in inside if lat is not None], sum(1 for lat in inside if lat is None))

if __name__ == "__main__":
    main()
