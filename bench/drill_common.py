"""What the issue-8 drills (bench/drill_*.py) and the load benchmarks share.

A drill starts the server as `make run` serves it (`python -m portal.serve --host
127.0.0.1 --port N`, after `migrate`, `collectstatic` and `demo`), on a free loopback
port, with a fresh embedded SQLite database in a temporary directory. It then measures
a victim (something a legitimate client does) alone, during an attack, and after it,
and prints the latency percentiles of each phase, the ratios attack / baseline, what
the attacker's requests got, and the server's resident memory (/proc/<pid>/status).

The attacker runs in a process of its own, so its work does not slow the loop that
times the victim; the machine's cores are still shared by all three processes, which
is part of what is measured. Drills print numbers and assert nothing; they are not
tests (pytest collects only tests/). The temporary directory is removed at exit unless
DRILL_KEEP is set; server settings can be given in the environment (AUTH_*, CSMS_*,
WEB_* ones are shown in each drill's header).
"""
import asyncio
import atexit
import base64
import contextlib
import multiprocessing
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

# The published demo credentials (README.md, portal/management/commands/demo.py).
AL1000 = ("AL1000", bytes.fromhex("0001020304050607FFFFFFFFFFFFFFFFFFFFFFFF"))
DEMO_CLIENT = ("demo-osdm", "chargegate-demo-client-secret")
VICTIM_ADDRESS = "127.0.0.1"
ATTACKER_ADDRESS = "127.0.0.2"  # all of 127.0.0.0/8 reaches a server on 127.0.0.1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values, p):
    """The p-th percentile of `values` (seconds), in milliseconds."""
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] * 1000


def start_server(port: int, args=(), env=None, log=None) -> subprocess.Popen:
    """`python -m portal.serve` on 127.0.0.1:`port`, returned once /healthz answers."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "portal.serve", "--host", "127.0.0.1", "--port", str(port), *args],
        # A short drain on stop (csms/drain.py): the stop is not measured, and a drill's
        # stations are still connected when it ends.
        cwd=REPO, env={**os.environ, "CSMS_DRAIN_SECONDS": "1", **(env or {})}, stdout=log,
        stderr=subprocess.STDOUT if log else None)
    for _ in range(300):
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("server did not start")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def memory_mib(pid: int) -> tuple[float, float]:
    """(resident, peak resident) memory of a process, in MiB."""
    status = Path(f"/proc/{pid}/status").read_text()

    def field_(name):
        return int(re.search(rf"^{name}:\s+(\d+) kB", status, re.M).group(1)) / 1024
    return field_("VmRSS"), field_("VmHWM")


def basic(user: str | bytes, password: str | bytes) -> str:
    user = user.encode() if isinstance(user, str) else user
    password = password.encode() if isinstance(password, str) else password
    return "Basic " + base64.b64encode(user + b":" + password).decode("ascii")


# --- the site: a fresh database, seeded as `make run` seeds it --------------------------------

class Site:
    """A temporary embedded database with the demo data, and servers on it."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="chargegate-drill-"))
        if os.environ.get("DRILL_KEEP"):
            print(f"database and server logs in {self.dir}")
        else:
            atexit.register(shutil.rmtree, self.dir, ignore_errors=True)
        os.environ["CHARGEGATE_VAR_DIR"] = str(self.dir)
        os.environ.pop("DATABASE_URL", None)
        os.environ.pop("REDIS_URL", None)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", "--noinput", verbosity=0)
        call_command("collectstatic", "--noinput", verbosity=0)
        with contextlib.redirect_stdout(open(os.devnull, "w")):
            call_command("demo")
        self.close_db()

    @staticmethod
    def close_db():
        from django.db import connections
        connections.close_all()

    def add_stations(self, prefix: str, n: int, key: bytes, protocols=("ocpp1.6", "ocpp2.0.1")) -> list[str]:
        """`n` more stations in tenant demo, all with `key` (hashed once)."""
        from csms.auth.keys import hash_key
        from csms.models import Station, StationCredential
        from tenants.models import Tenant

        tenant = Tenant.objects.get(slug="demo")
        digest = hash_key(key)
        stations = Station.objects.bulk_create([
            Station(tenant=tenant, identity=f"{prefix}{i:04d}", allowed_protocols=list(protocols))
            for i in range(n)])
        StationCredential.objects.bulk_create([
            StationCredential(tenant=tenant, station=s, current_hash=digest, current_origin="installed")
            for s in stations])
        self.close_db()
        return [s.identity for s in stations]

    @contextlib.contextmanager
    def serve(self, **env):
        """A server process on a free port; its output goes to a log in the temp dir."""
        port = free_port()
        env = {"PORT": str(port), **{k: str(v) for k, v in env.items()}}
        with open(self.dir / f"server-{port}.log", "ab") as log:
            proc = start_server(port, env=env, log=log)
            try:
                yield Server(port, proc, env)
            finally:
                stop_server(proc)


@dataclass
class Server:
    port: int
    proc: subprocess.Popen
    env: dict

    def memory(self) -> tuple[float, float]:
        return memory_mib(self.proc.pid)


# --- clients ----------------------------------------------------------------------------------

async def http(port: int, method: str, path: str, headers=None, body: bytes = b"",
               source: str = VICTIM_ADDRESS, timeout: float = 30) -> int:
    """One HTTP/1.1 request on a new connection from `source`; its status code.

    A few lines of asyncio rather than a client library: a new connection per request,
    as a new client's would be, from a chosen loopback address (the throttle keys on it)."""
    async def exchange():
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        try:
            head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close",
                    f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in (headers or {}).items())]
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
            status_line = await reader.readline()
            if not status_line:
                raise ConnectionError("closed without an answer")
            await reader.read()  # to the end: Connection: close
            return int(status_line.split()[1])
        finally:
            writer.close()
    return await asyncio.wait_for(exchange(), timeout)


def form(fields: dict) -> tuple[dict, bytes]:
    from urllib.parse import urlencode
    return {"Content-Type": "application/x-www-form-urlencoded"}, urlencode(fields).encode()


async def token_request(port: int, client_id: str, secret: str, source=VICTIM_ADDRESS, tenant="demo") -> int:
    headers, body = form({"grant_type": "client_credentials", "scope": "uic_osdm"})
    headers["Authorization"] = basic(client_id, secret)
    return await http(port, "POST", f"/oauth/{tenant}/token", headers, body, source=source)


async def connect_station(port: int, identity: str, password: bytes, protocol="ocpp1.6",
                          source=VICTIM_ADDRESS, timeout: float = 30):
    """An open OCPP-J connection, as a station opens it (HTTP Basic, raw key bytes)."""
    import websockets
    return await websockets.connect(
        f"ws://127.0.0.1:{port}/ocpp/demo/{identity}", subprotocols=[protocol], open_timeout=timeout,
        additional_headers={"Authorization": basic(identity, password)}, ping_interval=None,
        local_addr=(source, 0), max_size=None)


async def handshake(port: int, identity: str, password: bytes, protocol="ocpp1.6",
                    source=VICTIM_ADDRESS, timeout: float = 30) -> int:
    """The status of one station handshake (101 when it connected; closed at once)."""
    import websockets
    try:
        ws = await connect_station(port, identity, password, protocol, source, timeout)
    except websockets.InvalidStatus as exc:
        return exc.response.status_code
    await ws.close()
    return 101


class HeartbeatVictim:
    """A connected, booted station whose Heartbeat round trips are timed; it reconnects
    if the connection is lost (counted as an error)."""

    def __init__(self, port, identity=AL1000[0], key=AL1000[1], protocol="ocpp1.6"):
        self.port, self.identity, self.key, self.protocol = port, identity, key, protocol
        self.ws, self.n = None, 0

    async def __call__(self) -> str:
        import json
        if self.ws is None:
            self.ws = await connect_station(self.port, self.identity, self.key, self.protocol)
        self.n += 1
        try:
            await self.ws.send(json.dumps([2, f"hb{self.n}", "Heartbeat", {}]))
            answer = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
        except Exception:
            ws, self.ws = self.ws, None
            with contextlib.suppress(Exception):
                await ws.close()
            raise
        return "ok" if answer[:2] == [3, f"hb{self.n}"] else f"answer {answer[0]}"

    async def close(self):
        if self.ws is not None:
            await self.ws.close()


# --- measuring --------------------------------------------------------------------------------

@dataclass
class Sample:
    latencies: list = field(default_factory=list)
    outcomes: Counter = field(default_factory=Counter)


def outcome_of(result) -> str:
    return str(result) if result is not None else "ok"


async def measure(victims: dict, seconds: float, pause: float = 0.05) -> dict[str, Sample]:
    """Each victim called in a loop (one at a time, `pause` apart) for `seconds`."""
    samples = {name: Sample() for name in victims}
    stop = time.monotonic() + seconds

    async def loop(name, victim):
        sample = samples[name]
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            try:
                result = await asyncio.wait_for(victim(), 60)
            except Exception as exc:  # a victim's failure is a result, not a crash
                result = type(exc).__name__
            sample.latencies.append(time.perf_counter() - t0)
            sample.outcomes[outcome_of(result)] += 1
            await asyncio.sleep(pause)

    await asyncio.gather(*(loop(name, victim) for name, victim in victims.items()))
    return samples


async def peak_memory(server: Server, done: asyncio.Event) -> float:
    """Highest resident memory seen (sampled every 50 ms) until `done` is set."""
    peak = 0.0
    while not done.is_set():
        peak = max(peak, server.memory()[0])
        await asyncio.sleep(0.05)
    return max(peak, server.memory()[0])


def _attacker_main(attack, kwargs, stop, results):
    counts = Counter()

    async def main():
        task = asyncio.create_task(attack(counts, **kwargs))
        while not stop.is_set() and not task.done():
            await asyncio.sleep(0.1)
        task.cancel()
        with contextlib.suppress(BaseException):
            await task

    started = time.monotonic()
    asyncio.run(main())
    counts["_seconds"] = round(time.monotonic() - started, 1)
    results.put(dict(counts))


@contextlib.contextmanager
def attacker(attack, **kwargs):
    """`attack(counts, **kwargs)` running in a process of its own until the block ends;
    yields a dict that holds the attacker's counts afterwards."""
    ctx = multiprocessing.get_context("spawn")
    stop, results = ctx.Event(), ctx.Queue()
    proc = ctx.Process(target=_attacker_main, args=(attack, kwargs, stop, results), daemon=True)
    proc.start()
    counts = {}
    try:
        yield counts
    finally:
        stop.set()
        try:
            counts.update(results.get(timeout=60))
        except Exception:
            counts["_lost"] = 1
        proc.join(10)
        if proc.is_alive():
            proc.kill()


async def phase(server: Server, victims: dict, seconds: float):
    done = asyncio.Event()
    peak = asyncio.create_task(peak_memory(server, done))
    samples = await measure(victims, seconds)
    done.set()
    return samples, await peak


async def run_drill(server: Server, victims: dict, attack, attack_kwargs: dict, seconds: float,
                    ramp: float = 2.0, after: float | None = None) -> dict:
    """Baseline, attack (after `ramp` seconds of it), after; prints and returns the figures."""
    results = {"rss_start": server.memory()[0]}
    results["baseline"] = await phase(server, victims, seconds)
    with attacker(attack, **attack_kwargs) as counts:
        await asyncio.sleep(ramp)
        results["attack"] = await phase(server, victims, seconds)
    results["attacker"] = counts
    if after:
        results["after"] = await phase(server, victims, after)
    results["rss_end"], results["hwm"] = server.memory()
    report(results)
    return results


# --- printing ---------------------------------------------------------------------------------

def machine_line() -> str:
    return (f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()} {os.cpu_count()} cpus, "
            f"Python {platform.python_version()}, embedded SQLite, 1 server process (python -m portal.serve)")


def header(title: str, server: Server, **settings):
    print(f"\n== {title}")
    print(f"   {machine_line()}")
    inherited = {k: v for k, v in os.environ.items() if k.startswith(("AUTH_", "CSMS_", "WEB_"))}
    shown = {k: v for k, v in {**inherited, **server.env}.items() if k != "PORT"}
    print(f"   server env: {' '.join(f'{k}={v}' for k, v in shown.items()) or '(defaults)'}"
          + (f"; {', '.join(f'{k} {v}' for k, v in settings.items())}" if settings else ""))


def _row(label, sample: Sample):
    lat = sample.latencies
    outcomes = " ".join(f"{k}:{v}" for k, v in sorted(sample.outcomes.items()))
    return (f"   {label:<22} {len(lat):>5} {pct(lat, 50):>9.1f} {pct(lat, 95):>9.1f} {pct(lat, 99):>9.1f} "
            f"{max(lat) * 1000:>9.1f}   {outcomes}")


def report(results: dict):
    phases = [p for p in ("baseline", "attack", "after") if p in results]
    names = results["baseline"][0].keys()
    print(f"   {'victim / phase':<22} {'n':>5} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9} {'max ms':>9}   outcomes")
    for name in names:
        print(f"   {name}")
        for p in phases:
            print(_row(f"  {p}", results[p][0][name]))
        a, b = results["baseline"][0][name].latencies, results["attack"][0][name].latencies
        ratios = [pct(b, q) / max(pct(a, q), 1e-6) for q in (50, 95, 99)] + [max(b) / max(max(a), 1e-9)]
        print(f"   {'  attack / baseline':<22} {'':>5} " + " ".join(f"{r:>8.1f}x" for r in ratios))
    counts = dict(results["attacker"])
    seconds = counts.pop("_seconds", None)
    total = sum(v for k, v in counts.items() if not k.startswith("_"))
    rate = f", {total / seconds:.0f}/s over {seconds:g} s" if seconds else ""
    print(f"   attacker: {total} attempts{rate}: "
          + " ".join(f"{k}:{v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])))
    peaks = " / ".join(f"{p} {results[p][1]:.0f}" for p in phases)
    print(f"   server RSS MiB: start {results['rss_start']:.0f}, peak {peaks}, "
          f"end {results['rss_end']:.0f} (VmHWM {results['hwm']:.0f})")


def common_args(parser, duration=10.0, attackers=None):
    parser.add_argument("--duration", type=float, default=duration, help="seconds per phase")
    if attackers is not None:
        parser.add_argument("--attackers", type=int, default=attackers, help="concurrent attack clients")
    return parser


def credential_args(parser):
    """--throttle and --sources, for the drills that guess credentials."""
    parser.add_argument("--throttle", default="on,off", help="AUTH_THROTTLE values to run with, comma-separated")
    parser.add_argument("--sources", type=int, default=1, help="attacker addresses (1: 127.0.0.2)")
    args = parser.parse_args()
    args.throttle = [t.strip() for t in args.throttle.split(",")]
    args.sources = attacker_sources(args.sources)
    return args


def attacker_sources(n: int) -> list[str]:
    """`n` attacker addresses: 127.0.0.2, or n addresses in 127.1.0.0/16."""
    return [ATTACKER_ADDRESS] if n <= 1 else [f"127.1.{i // 250}.{1 + i % 250}" for i in range(n)]
