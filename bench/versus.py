"""Chargegate against a central system written directly on the `ocpp` library (issue 9).

    .venv/bin/python bench/versus.py [--stations 200] [--seconds 10] [--concurrency 50]
    .venv/bin/python bench/versus.py --postgres          # PostgreSQL + Redis for Chargegate
    .venv/bin/python bench/versus.py --stations 10000 --active 500   # 10,000 idle connections

One invocation, one load generator, two servers one after the other on the same machine:

* baseline: bench/baseline_csms.py, `ocpp.v16.ChargePoint` with `@on` handlers behind a
  `websockets` server, Basic auth against an in-memory dict, nothing stored;
* Chargegate as `make run` serves it: `migrate`, then `python -m portal.serve` (embedded
  SQLite and in-memory channel layer, or with --postgres DATABASE_URL and REDIS_URL), with
  AUTH_THROTTLE=off because every station connects from 127.0.0.x. Its stations are in
  tenant `bench`, B00000 .. B<N-1>, with keys of origin "generated" (one PBKDF2 hash
  shared by all of them; csms.auth.keys), as `station add` would give them.

Stations are asyncio + `websockets` clients that send real OCPP-J 1.6 text frames with
HTTP Basic (20-byte keys), no permessage-deflate; the load generator runs in a process of
its own, and so does a probe station (B<N>) that sends a Heartbeat every 50 ms during the
measured phases: its round trip is the outside proxy for the server's event-loop lag.
For each server, phases in this order:

1. connect: N handshakes with --concurrency in flight; handshakes/s and latency;
2. boot: every station sends one BootNotification, all at once;
3. idle: N connections open, nothing sent for --idle-seconds: RSS per connection
   ((RSS now - RSS with only the probe connected) / N) and idle server CPU;
4. Heartbeat closed loop for --seconds: each of the --active stations sends its next
   CALL when the previous one is answered; round trips/s, p50/p95/p99;
5. MeterValues closed loop, the same with a 1.6 MeterValues of one sampledValue set
   with five measurands;
6. open loop at half of peak: Heartbeats at 50 % of the round trips/s that server reached
   in phase 4, on a fixed schedule spread over the stations; latency is counted from the
   scheduled send time, so a server that falls behind is charged for the wait.

Server CPU is utime + stime from /proc/<pid>/stat of the server and its descendants
(plus what its exited children used); with --postgres, the PostgreSQL backends that serve
the benchmark database are counted on a row of their own (Redis is not: it is shared).
RSS is VmRSS of the server's processes. It prints a
markdown table with the ratios Chargegate / baseline of the same run, and asserts
nothing (pytest collects tests/ only). --keep keeps the temporary directory with the
server logs.
"""
import argparse
import asyncio
import atexit
import contextlib
import json
import multiprocessing
import os
import platform
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
sys.path.insert(0, str(BENCH))
from drill_common import basic, free_port, pct, start_server, stop_server  # noqa: E402

KEY = bytes.fromhex("5ab1e0c0ffee00112233445566778899aabbccdd")
TENANT = "bench"
POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/chargegate_bench_versus"
REDIS_URL = "redis://127.0.0.1:6379/5"
PROBE_HZ = 20
CLK_TCK = os.sysconf("SC_CLK_TCK")


def identity(i: int) -> str:
    return f"B{i:05d}"


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


# --- a server's processes, read from /proc ------------------------------------------------

def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # fields 3.. (state, ppid, ...)


def process_tree(root: int) -> list[int]:
    children = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (fields := _stat(int(entry.name))):
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def cpu_seconds(root: int) -> float:
    """utime + stime of `root` and its live descendants, plus its reaped children's."""
    ticks = 0
    for pid in process_tree(root):
        if fields := _stat(pid):
            ticks += int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if pid == root else 0)
    return ticks / CLK_TCK


def rss_mib(root: int) -> float:
    total = 0
    for pid in process_tree(root):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


def database_cpu(name: str) -> float:
    """utime + stime of the PostgreSQL backends serving database `name` (their process
    titles name it); they are not the server's children, so cpu_seconds misses them."""
    ticks = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            title = Path(f"/proc/{entry.name}/cmdline").read_bytes()
            if title.startswith(b"postgres: ") and f" {name} ".encode() in title and (fields := _stat(int(entry.name))):
                ticks += int(fields[11]) + int(fields[12])
    return ticks / CLK_TCK


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- stations ------------------------------------------------------------------------------

def meter_values(n: int, energy: float) -> list:
    """An OCPP 1.6 MeterValues CALL: one periodic sampledValue set, five measurands."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    sampled = [
        {"value": f"{energy:.1f}", "context": "Sample.Periodic", "format": "Raw",
         "measurand": "Energy.Active.Import.Register", "location": "Outlet", "unit": "Wh"},
        {"value": f"{7360 + random.uniform(-50, 50):.1f}", "context": "Sample.Periodic",
         "measurand": "Power.Active.Import", "location": "Outlet", "unit": "W"},
        {"value": f"{32 + random.uniform(-0.5, 0.5):.2f}", "context": "Sample.Periodic",
         "measurand": "Current.Import", "phase": "L1", "location": "Outlet", "unit": "A"},
        {"value": f"{230 + random.uniform(-3, 3):.1f}", "context": "Sample.Periodic",
         "measurand": "Voltage", "phase": "L1-N", "location": "Outlet", "unit": "V"},
        {"value": f"{20 + random.uniform(-1, 1):.1f}", "context": "Sample.Periodic",
         "measurand": "Temperature", "location": "Body", "unit": "Celsius"},
    ]
    return [2, f"mv{n}", "MeterValues", {"connectorId": 1, "meterValue": [{"timestamp": now, "sampledValue": sampled}]}]


def digest_answer(refused, login: str, key: bytes, target: str) -> str:
    """The Authorization header answering the Digest challenges of a refused handshake
    (`websockets.InvalidStatus.response`) with a 1.6 key, whose hex text is Digest's
    password (csms/auth/digest.passwords), as the reference client writes it."""
    from lib.http_auth import parse_challenges
    from stationclient.authorization import Secrets, write

    challenges = [c for v in refused.headers.get_all("WWW-Authenticate") for c in parse_challenges(v.encode("latin-1"))]
    written = write("digest", Secrets(login=login, password=key.hex().encode("ascii")), challenges, target=target,
                    now=time.time(), random=os.urandom(16))
    return dict(written.headers)["Authorization"]


async def connect(port: int, i: int, source: str, timeout: float = 300, authorization: str | None = None):
    import websockets

    return await websockets.connect(
        f"ws://127.0.0.1:{port}/ocpp/{TENANT}/{identity(i)}", subprotocols=["ocpp1.6"],
        additional_headers={"Authorization": authorization or basic(identity(i), KEY)}, open_timeout=timeout,
        ping_interval=None, compression=None, local_addr=(source, 0), max_size=None)


async def call(ws, frame: str, timeout: float = 120) -> bool:
    await ws.send(frame)
    reply = await asyncio.wait_for(ws.recv(), timeout)
    return reply.lstrip("[ ").startswith("3")


def sources_for(n: int, wanted: int) -> list[str]:
    """Loopback source addresses: each holds about 28,000 ephemeral ports."""
    count = max(wanted, 1 + n // 20000)
    return [f"127.0.0.{1 + k}" for k in range(count)]


def summary(latencies: list, seconds: float, errors: int = 0, **extra) -> dict:
    out = {"n": len(latencies), "errors": errors, "seconds": seconds,
           "rate": len(latencies) / seconds if seconds else 0.0, **extra}
    if latencies:
        out.update(p50=pct(latencies, 50), p95=pct(latencies, 95), p99=pct(latencies, 99),
                   max=max(latencies) * 1000)
    return out


class Meter:
    """Server CPU, database CPU (PostgreSQL only), load generator CPU and wall time of one phase."""

    def __init__(self, pid: int, database: str | None = None):
        self.pid, self.database = pid, database

    def _db(self):
        return database_cpu(self.database) if self.database else 0.0

    def __enter__(self):
        self.t0, self.cpu0, self.own0, self.db0 = time.monotonic(), cpu_seconds(self.pid), own_cpu(), self._db()
        return self

    def __exit__(self, *exc):
        self.t1 = time.monotonic()
        self.server_cpu = cpu_seconds(self.pid) - self.cpu0
        self.loadgen_cpu = own_cpu() - self.own0
        self.db_cpu = self._db() - self.db0

    def result(self, **figures) -> dict:
        return {"window": (self.t0, self.t1), "wall": self.t1 - self.t0, "server_cpu": self.server_cpu,
                "db_cpu": self.db_cpu, "loadgen_cpu": self.loadgen_cpu, **figures}


# --- the load generator (a process of its own) ----------------------------------------------

async def load(port: int, pid: int, opts: dict, probe_on) -> dict:
    n, active_n, seconds = opts["stations"], opts["active"], opts["seconds"]
    sources = sources_for(n, opts["sources"])
    out = {}
    await asyncio.sleep(1.0)
    out["rss_before"] = rss_mib(pid)

    # 1. connect
    probe_on.set()
    sem = asyncio.Semaphore(opts["concurrency"])
    stations, handshakes, failures = {}, [], {}

    async def open_one(i):
        async with sem:
            t0 = time.perf_counter()
            try:
                stations[i] = await connect(port, i, sources[i % len(sources)])
            except Exception as exc:
                key = getattr(getattr(exc, "response", None), "status_code", None) or type(exc).__name__
                failures[str(key)] = failures.get(str(key), 0) + 1
                return
            handshakes.append(time.perf_counter() - t0)

    with Meter(pid, opts.get("database")) as m:
        await asyncio.gather(*(open_one(i) for i in range(n)))
    out["connect"] = m.result(**summary(handshakes, m.t1 - m.t0, sum(failures.values()), failures=failures))
    ws_list = [stations[i] for i in sorted(stations)]

    # 2. boot
    boot_frame = json.dumps([2, "boot", "BootNotification", {
        "chargePointVendor": "Bench", "chargePointModel": "Versus", "firmwareVersion": "1.0"}])
    boots, boot_errors = [], 0

    async def boot(ws):
        nonlocal boot_errors
        t0 = time.perf_counter()
        try:
            ok = await call(ws, boot_frame)
        except Exception:
            ok = False
        if ok:
            boots.append(time.perf_counter() - t0)
        else:
            boot_errors += 1

    with Meter(pid, opts.get("database")) as m:
        await asyncio.gather(*(boot(ws) for ws in ws_list))
    out["boot"] = m.result(**summary(boots, m.t1 - m.t0, boot_errors))

    # 3. idle
    probe_on.clear()
    await asyncio.sleep(2.0)
    with Meter(pid, opts.get("database")) as m:
        await asyncio.sleep(opts["idle_seconds"])
    rss_idle = rss_mib(pid)
    out["idle"] = m.result(rss=rss_idle, connections=len(ws_list),
                           rss_per_connection_kib=(rss_idle - out["rss_before"]) * 1024 / max(len(ws_list), 1))

    active = ws_list[:active_n] if active_n else ws_list

    async def closed_loop(make_frame) -> dict:
        latencies, errors = [], 0
        stop = time.monotonic() + seconds

        async def station(k, ws):
            nonlocal errors
            j = 0
            while time.monotonic() < stop:
                j += 1
                frame = make_frame(k, j)
                t0 = time.perf_counter()
                try:
                    ok = await call(ws, frame)
                except Exception:
                    errors += 1
                    return
                if ok:
                    latencies.append(time.perf_counter() - t0)
                else:
                    errors += 1

        with Meter(pid, opts.get("database")) as m:
            await asyncio.gather(*(station(k, ws) for k, ws in enumerate(active)))
        return m.result(**summary(latencies, m.t1 - m.t0, errors))

    # 4. Heartbeat, 5. MeterValues
    probe_on.set()
    await asyncio.sleep(0.5)
    out["heartbeat"] = await closed_loop(lambda k, j: f'[2,"hb{j}","Heartbeat",{{}}]')
    await asyncio.sleep(0.5)
    energy = [random.uniform(1e5, 1e6) for _ in active]

    def mv_frame(k, j):
        energy[k] += 12.5
        return json.dumps(meter_values(j, energy[k]))

    out["meter_values"] = await closed_loop(mv_frame)
    await asyncio.sleep(0.5)

    # 6. open loop at half of the Heartbeat peak
    target = max(out["heartbeat"]["rate"] * 0.5, 1.0)
    period = len(active) / target
    latencies, errors, late = [], 0, 0
    start = time.monotonic() + 0.2
    end = start + seconds

    async def scheduled(k, ws):
        nonlocal errors, late
        due, j = start + k * period / len(active), 0
        while due < end:
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                late += 1
            j += 1
            try:
                ok = await call(ws, f'[2,"ol{j}","Heartbeat",{{}}]')
            except Exception:
                errors += 1
                return
            if ok:
                latencies.append(time.monotonic() - due)
            else:
                errors += 1
            due += period

    with Meter(pid, opts.get("database")) as m:
        await asyncio.gather(*(scheduled(k, ws) for k, ws in enumerate(active)))
    out["open_loop"] = m.result(**summary(latencies, seconds, errors, target=target, late=late))
    probe_on.clear()

    await asyncio.gather(*(ws.close() for ws in ws_list), return_exceptions=True)
    out["loadgen_sources"] = len(sources)
    return out


def loadgen_main(port, pid, opts, probe_on, results):
    try:
        results.put(("ok", asyncio.run(load(port, pid, opts, probe_on))))
    except BaseException as exc:  # reported, not raised: the parent prints it
        results.put(("error", repr(exc)))


async def probe(port: int, i: int, on, stop, ready) -> list:
    """A station of its own that sends a Heartbeat every 1/PROBE_HZ s while `on` is set;
    (send time, round trip) pairs."""
    ws = await connect(port, i, "127.0.0.1", timeout=60)
    await call(ws, json.dumps([2, "boot", "BootNotification", {"chargePointVendor": "Bench", "chargePointModel": "Probe"}]))
    await call(ws, '[2,"w1","Heartbeat",{}]')
    await call(ws, json.dumps(meter_values(0, 1000.0)))  # warms up the server's MeterValues path too
    ready.set()
    samples, j, due = [], 0, time.monotonic()
    while not stop.is_set():
        if not on.is_set():
            await asyncio.sleep(0.05)
            due = time.monotonic()
            continue
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        j += 1
        t0 = time.monotonic()
        try:  # no short timeout: a round trip longer than a phase is what it measures
            await call(ws, f'[2,"p{j}","Heartbeat",{{}}]', timeout=600)
        except Exception:
            samples.append((t0, None))
            break
        samples.append((t0, time.monotonic() - t0))
        due = max(due + 1 / PROBE_HZ, time.monotonic())
    with contextlib.suppress(Exception):
        await ws.close()
    return samples


def probe_main(port, i, on, stop, ready, results):
    try:
        results.put(asyncio.run(probe(port, i, on, stop, ready)))
    except BaseException as exc:
        ready.set()
        results.put([("error", repr(exc))])


def drive(port: int, pid: int, opts: dict) -> dict:
    """The probe and the load generator, each in a process of its own, against one server."""
    ctx = multiprocessing.get_context("spawn")
    on, stop, ready, probe_q, load_q = ctx.Event(), ctx.Event(), ctx.Event(), ctx.Queue(), ctx.Queue()
    prober = ctx.Process(target=probe_main, args=(port, opts["stations"], on, stop, ready, probe_q), daemon=True)
    prober.start()
    ready.wait(120)
    loader = ctx.Process(target=loadgen_main, args=(port, pid, opts, on, load_q), daemon=True)
    loader.start()
    while True:
        try:
            status, out = load_q.get(timeout=5)
            break
        except Exception:
            if not loader.is_alive():
                status, out = "error", f"load generator exited with {loader.exitcode}"
                break
    stop.set()
    samples = probe_q.get(timeout=120)
    loader.join(30)
    prober.join(30)
    if status != "ok":
        raise SystemExit(f"load generator failed: {out}")
    if samples and samples[0][0] == "error":
        raise SystemExit(f"probe failed: {samples[0][1]}")
    for phase in ("connect", "boot", "heartbeat", "meter_values", "open_loop"):
        t0, t1 = out[phase]["window"]
        # every probe round trip that overlaps the phase, so one that spans it is seen too
        inside = [lat for t, lat in samples if t <= t1 and (t + (lat or 0) >= t0)]
        lost = sum(1 for lat in inside if lat is None)
        out[phase]["probe"] = summary([lat for lat in inside if lat is not None], t1 - t0, lost)
    return out


# --- the servers -----------------------------------------------------------------------------

def wait_for_port(port: int, proc: subprocess.Popen, seconds: float = 30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.1)
    raise SystemExit("server did not start")


@contextlib.contextmanager
def baseline_server(n: int, logdir: Path):
    port = free_port()
    with open(logdir / "baseline.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, str(BENCH / "baseline_csms.py"), "--port", str(port), "--stations", str(n),
             "--key", KEY.hex()], cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_port(port, proc)
            yield port, proc
        finally:
            stop_server(proc)


def fresh_postgres():
    import psycopg

    admin = POSTGRES_URL.rsplit("/", 1)[0] + "/postgres"
    name = POSTGRES_URL.rsplit("/", 1)[1]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


def provision(n: int):
    """migrate, then tenant `bench` with N + 1 stations (the last is the probe) holding
    generated keys: one salted hash of KEY, computed once, shared by all."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections
    from django.utils import timezone

    from csms.auth.keys import hash_key
    from csms.models import KeyOrigin, Station, StationCredential
    from tenants.models import Tenant

    call_command("migrate", "--noinput", verbosity=0)
    tenant, _ = Tenant.objects.get_or_create(slug=TENANT, defaults={"name": "Benchmark"})
    digest = hash_key(KEY, generated=True)
    now = timezone.now()
    stations = Station.objects.bulk_create(
        [Station(tenant=tenant, identity=identity(i)) for i in range(n + 1)], batch_size=1000)
    StationCredential.objects.bulk_create(
        [StationCredential(tenant=tenant, station=s, current_hash=digest, current_origin=KeyOrigin.GENERATED,
                           current_since=now) for s in stations], batch_size=1000)
    connections.close_all()


@contextlib.contextmanager
def chargegate_server(n: int, logdir: Path, extra_env: dict | None = None, port: int | None = None):
    port = port or free_port()
    # CSMS_FRAMES_PER_SECOND=0: each simulated station sends its next frame as soon as the
    # last is answered, hundreds a second, where a real one sends a few a minute; the
    # per-connection frame budget (csms/flood.py, 10/s) would measure itself instead.
    env = {"PORT": str(port), "AUTH_THROTTLE": "off", "CSMS_FRAMES_PER_SECOND": "0"}
    if n + 1 > 4000:  # portal.serve's default cap on open sockets is 4096
        env["WEB_MAX_CONNECTIONS"] = str(n + 1000)
    env.update(extra_env or {})
    with open(logdir / "chargegate.log", "ab") as log:
        proc = start_server(port, env=env, log=log)
        try:
            yield port, proc, env
        finally:
            stop_server(proc)


# --- the report ------------------------------------------------------------------------------

def fmt(value, digits=0):
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def triple(s: dict, keys=("p50", "p95", "p99")) -> str:
    return " / ".join(fmt(s.get(k), 1 if s.get(k, 0) < 10 else 0) for k in keys)


def ratio(a, b) -> str:
    if a is None or b is None or not b:
        return "–"
    return f"{a / b:.2f}×"


def ratios(a: dict, b: dict, keys=("p50", "p95", "p99")) -> str:
    return " / ".join(ratio(a.get(k), b.get(k)) for k in keys)


def rows(b: dict, c: dict, opts: dict) -> list[tuple[str, str, str, str]]:
    n, conc = opts["stations"], opts["concurrency"]
    out = []

    def row(label, fb, fc, rt):
        out.append((label, fb, fc, rt))

    def calls(name, title):
        sb, sc = b[name], c[name]
        row(f"{title}: round trips/s", fmt(sb["rate"]), fmt(sc["rate"]), ratio(sc["rate"], sb["rate"]))
        row(f"{title}: p50 / p95 / p99 ms", triple(sb), triple(sc), ratios(sc, sb))
        row(f"{title}: server CPU s (ms per call)", f"{sb['server_cpu']:.1f} ({1000 * sb['server_cpu'] / max(sb['n'], 1):.2f})",
            f"{sc['server_cpu']:.1f} ({1000 * sc['server_cpu'] / max(sc['n'], 1):.2f})",
            ratio(sc["server_cpu"] / max(sc["n"], 1), sb["server_cpu"] / max(sb["n"], 1)) + " per call")
        row(f"{title}: probe p50 / p99 / max ms (loop-lag proxy)", triple(sb["probe"], ("p50", "p99", "max")),
            triple(sc["probe"], ("p50", "p99", "max")), ratios(sc["probe"], sb["probe"], ("p50", "p99", "max")))

    cb, cc = b["connect"], c["connect"]
    row(f"connect: handshakes/s ({conc} in flight)", fmt(cb["rate"], 1), fmt(cc["rate"], 1), ratio(cc["rate"], cb["rate"]))
    row("connect: handshake p50 / p95 / p99 ms", triple(cb), triple(cc), ratios(cc, cb))
    row("connect: failed handshakes", fmt(cb["errors"]), fmt(cc["errors"]), "")
    row("connect: server CPU s (ms per handshake)", f"{cb['server_cpu']:.1f} ({1000 * cb['server_cpu'] / max(cb['n'], 1):.1f})",
        f"{cc['server_cpu']:.1f} ({1000 * cc['server_cpu'] / max(cc['n'], 1):.1f})",
        ratio(cc["server_cpu"] / max(cc["n"], 1), cb["server_cpu"] / max(cb["n"], 1)) + " per handshake")
    row("connect: probe p50 / p99 / max ms", triple(cb["probe"], ("p50", "p99", "max")),
        triple(cc["probe"], ("p50", "p99", "max")), ratios(cc["probe"], cb["probe"], ("p50", "p99", "max")))
    bb, bc = b["boot"], c["boot"]
    row(f"BootNotification, all {n} at once: p50 / p95 / p99 ms", triple(bb), triple(bc), ratios(bc, bb))
    ib, ic = b["idle"], c["idle"]
    row("RSS MiB: probe only / with all connections", f"{b['rss_before']:.0f} / {ib['rss']:.0f}",
        f"{c['rss_before']:.0f} / {ic['rss']:.0f}", ratio(ic["rss"], ib["rss"]))
    row(f"RSS per connection KiB ({ib['connections']:,} / {ic['connections']:,} idle)",
        fmt(ib["rss_per_connection_kib"], 1), fmt(ic["rss_per_connection_kib"], 1),
        ratio(ic["rss_per_connection_kib"], ib["rss_per_connection_kib"]))
    row(f"idle: server CPU % of a core over {opts['idle_seconds']:g} s", fmt(100 * ib["server_cpu"] / ib["wall"], 1),
        fmt(100 * ic["server_cpu"] / ic["wall"], 1), "")
    calls("heartbeat", f"Heartbeat closed loop ({opts['active_label']})")
    calls("meter_values", f"MeterValues closed loop ({opts['active_label']})")
    ob, oc = b["open_loop"], c["open_loop"]
    row("open loop at ½ of own Heartbeat peak: target / achieved per s", f"{ob['target']:,.0f} / {ob['rate']:,.0f}",
        f"{oc['target']:,.0f} / {oc['rate']:,.0f}", ratio(oc["rate"], ob["rate"]))
    row("open loop: p50 / p95 / p99 ms (from the scheduled time)", triple(ob), triple(oc), ratios(oc, ob))
    row("open loop: CALLs sent behind their schedule (previous one not yet answered)",
        f"{ob['late']:,} of {ob['n']:,}", f"{oc['late']:,} of {oc['n']:,}", "")
    row("open loop: server CPU s", f"{ob['server_cpu']:.1f}", f"{oc['server_cpu']:.1f}", ratio(oc["server_cpu"], ob["server_cpu"]))
    row("open loop: probe p50 / p99 / max ms", triple(ob["probe"], ("p50", "p99", "max")),
        triple(oc["probe"], ("p50", "p99", "max")), ratios(oc["probe"], ob["probe"], ("p50", "p99", "max")))
    row("load generator CPU s: connect / Heartbeat / MeterValues",
        " / ".join(f"{b[p]['loadgen_cpu']:.1f}" for p in ("connect", "heartbeat", "meter_values")),
        " / ".join(f"{c[p]['loadgen_cpu']:.1f}" for p in ("connect", "heartbeat", "meter_values")), "")
    if c["heartbeat"]["db_cpu"] or b["heartbeat"]["db_cpu"]:
        phases = ("connect", "idle", "heartbeat", "meter_values", "open_loop")
        row("PostgreSQL backends CPU s: connect / idle / Heartbeat / MeterValues / open loop",
            " / ".join(f"{b[p]['db_cpu']:.1f}" for p in phases), " / ".join(f"{c[p]['db_cpu']:.1f}" for p in phases), "")
    errors_b = sum(b[p]["errors"] for p in ("boot", "heartbeat", "meter_values", "open_loop"))
    errors_c = sum(c[p]["errors"] for p in ("boot", "heartbeat", "meter_values", "open_loop"))
    row("CALLs not answered with a CALLRESULT", fmt(errors_b), fmt(errors_c), "")
    return out


def print_report(results: dict, opts: dict, backend: str, started: str, load_before: tuple):
    names = list(results)
    print()
    print(f"Started {started} UTC on {platform.node()}: {platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}; load average before {load_before[0]:.1f}, "
          f"after {os.getloadavg()[0]:.1f}")
    print(f"Chargegate: one `python -m portal.serve` process, {backend}, AUTH_THROTTLE=off, generated keys. "
          f"{opts['stations']:,} stations + 1 probe, {opts['concurrency']} handshakes in flight, "
          f"{opts['seconds']:g} s per load phase.")
    if len(names) < 2:
        for name in names:
            print(json.dumps(results[name], indent=1, default=str))
        return
    table = rows(results["baseline"], results["chargegate"], opts)
    print()
    print("| measure | baseline (`ocpp` + `websockets`) | Chargegate | Chargegate / baseline |")
    print("|---|---|---|---|")
    for label, fb, fc, rt in table:
        print(f"| {label} | {fb} | {fc} | {rt} |")
    failures = {k: results[k]["connect"].get("failures") for k in names if results[k]["connect"].get("failures")}
    if failures:
        print(f"\nfailed handshakes: {failures}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stations", type=int, default=200, help="simulated stations (plus one probe)")
    parser.add_argument("--active", type=int, default=0,
                        help="stations that send in the load phases (default: all)")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per load phase")
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=50, help="handshakes in flight")
    parser.add_argument("--sources", type=int, default=1, help="loopback source addresses (127.0.0.1..)")
    parser.add_argument("--postgres", action="store_true",
                        help=f"Chargegate on {POSTGRES_URL} (recreated) and {REDIS_URL} (flushed)")
    parser.add_argument("--servers", default="baseline,chargegate", help="which to run, in this order")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, database)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers on the way out
    nofile = raise_nofile()
    if args.stations + 200 > nofile:  # per process: the server and the load generator each hold N
        raise SystemExit(f"RLIMIT_NOFILE hard limit {nofile} is too low for {args.stations} stations")
    opts = {"stations": args.stations, "active": args.active, "seconds": args.seconds,
            "idle_seconds": args.idle_seconds, "concurrency": args.concurrency, "sources": args.sources,
            "active_label": f"{args.active or args.stations:,} stations"}

    workdir = Path(tempfile.mkdtemp(prefix="chargegate-versus-"))
    if args.keep:
        print(f"logs and database in {workdir}")
    else:
        atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    os.environ["CHARGEGATE_VAR_DIR"] = str(workdir)
    if args.postgres:
        os.environ["DATABASE_URL"], os.environ["REDIS_URL"] = POSTGRES_URL, REDIS_URL
        backend = "PostgreSQL + Redis"
    else:
        os.environ.pop("DATABASE_URL", None)
        os.environ.pop("REDIS_URL", None)
        backend = "embedded SQLite + in-memory channel layer"

    started, load_before = f"{datetime.now(UTC):%Y-%m-%d %H:%M}", os.getloadavg()
    results = {}
    for name in [s.strip() for s in args.servers.split(",") if s.strip()]:
        t0 = time.monotonic()
        if name == "baseline":
            with baseline_server(args.stations, workdir) as (port, proc):
                results[name] = drive(port, proc.pid, opts)
        elif name == "chargegate":
            if args.postgres:
                fresh_postgres()
            provision(args.stations)
            database = POSTGRES_URL.rsplit("/", 1)[1] if args.postgres else None
            with chargegate_server(args.stations, workdir) as (port, proc, env):
                results[name] = drive(port, proc.pid, {**opts, "database": database})
        else:
            raise SystemExit(f"unknown server {name!r}")
        print(f"{name}: done in {time.monotonic() - t0:.0f} s", flush=True)
    print_report(results, opts, backend, started, load_before)


if __name__ == "__main__":
    main()
