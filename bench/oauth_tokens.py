"""Load benchmark for the authorization server's token endpoint and a protected API.

Usage:  .venv/bin/python bench/oauth_tokens.py [--seconds 10] [--concurrency 8] [--only NAME ...]

Starts its own uvicorn process against the configured database (embedded SQLite by
default; set DATABASE_URL for PostgreSQL), registers what it needs in tenant
`bench-as`, then, one scenario at a time, keeps `--concurrency` clients busy for
`--seconds` and prints requests per second, latency percentiles and the server's CPU
time per request.

The load generator shares the machine's cores with the server, so it does as little as
it can in the timed phase: every assertion is signed beforehand (each with a fresh jti,
valid for 5 minutes; `--assertions` per scenario, and a client that runs out stops,
which the output says), and each client keeps one HTTP connection alive (httpx).

  client_credentials   client_secret_basic (an argon2id check per request)
  jwt-bearer           RFC 7523 §2.1 assertion (RS256 verify, jti stored)
  private_key_jwt      RFC 7523 §2.2 with client_credentials (ES256 verify, jti stored)
  par                  pushed authorization request with a pnc_contract_request
  osdm-identity        GET of the OSDM endpoint with a bearer token (JWT + record check)

It asserts nothing.
"""
import argparse
import json
import logging
import os
import platform
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
if not os.environ.get("DATABASE_URL"):
    os.environ.setdefault("CHARGEGATE_VAR_DIR", str(REPO / "var" / "bench"))

from csms_load import free_port, pct, serve  # noqa: E402  (same server start-up as the CSMS benchmark)

SECRET = "bench-client-secret-" + "x" * 40
CHALLENGE = "Vun1_GO-sLNaY6BqfUZnumUV0QDzMj2TlLfpmuVoFXs"
DETAIL = {"type": "pnc_contract_request", "charging_period": {"start": "", "end": ""},
          "maximum_amount": {"currency": "EUR", "amount": "234.56"}}


def prepare():
    import django

    django.setup()
    from django.core.management import call_command
    from joserfc.jwk import ECKey, RSAKey

    from oauth import client_auth
    from oauth.models import Client, GrantType, TrustedKey
    from oauth.registration import ClientSpec, TrustSpec, add_client, add_trust
    from tenants.models import Tenant

    call_command("migrate", verbosity=0)
    Tenant.objects.filter(slug="bench-as").delete()
    tenant = Tenant.objects.create(slug="bench-as", name="Benchmark AS", is_emsp=True, is_osdm_provider=True)
    rsa, ec = RSAKey.generate_key(2048), ECKey.generate_key("P-256")
    specs = [
        ClientSpec("bench-cc", "", [], [GrantType.CLIENT_CREDENTIALS], ["uic_osdm"], "client_secret_basic"),
        ClientSpec("bench-seed", "", [], [GrantType.JWT_BEARER], ["uic_osdm"], "client_secret_basic"),
        ClientSpec("bench-ev", "", ["https://ev.example/cb"], [GrantType.AUTHORIZATION_CODE], ["ccsr"],
                   "client_secret_basic"),
        ClientSpec("bench-pkj", "", [], [GrantType.CLIENT_CREDENTIALS], ["uic_osdm"], "private_key_jwt",
                   jwks_text=json.dumps({"keys": [{**ec.as_dict(private=False), "kid": "pkj", "alg": "ES256"}]})),
    ]
    for spec in specs:
        add_client(tenant, spec)
    Client.objects.filter(tenant=tenant, client_id__in=["bench-cc", "bench-ev"]).update(
        client_secret=client_auth.hash_secret(SECRET))
    add_trust(Client.objects.get(tenant=tenant, client_id="bench-seed"),
              TrustSpec("https://consumer.example/", "CONSUMER_1", "seed", rsa.as_pem(private=False).decode(),
                        ["RS256"], ["uic_osdm"]))
    assert TrustedKey.objects.filter(tenant=tenant).count() == 2
    return rsa, ec


def assertion(key, alg, kid, iss, sub, aud):
    from joserfc import jwt
    now = int(time.time())
    return jwt.encode({"alg": alg, "kid": kid, "typ": "JWT"},
                      {"iss": iss, "sub": sub, "aud": aud, "iat": now, "exp": now + 300, "jti": uuid.uuid4().hex,
                       "scope": "uic_osdm"}, key, algorithms=[alg])


def presigned(count, *args):
    """`count` assertions, signed before the timed phase, handed out once each."""
    return iter([assertion(*args) for _ in range(count)])


class Exhausted(Exception):
    pass


def take(tokens):
    try:
        return next(tokens)  # next() on a list iterator is atomic under the GIL
    except StopIteration:
        raise Exhausted from None


def cpu_seconds(pid):
    """utime + stime of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def in_threads(worker, concurrency: int, server_pid: int) -> tuple[float, float, float]:
    """`worker` in `concurrency` threads until all return: (wall seconds, the server's CPU
    seconds, this load generator's CPU seconds) over that time."""
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    cpu, own, started = cpu_seconds(server_pid), time.process_time(), time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, cpu_seconds(server_pid) - cpu, time.process_time() - own


def run(name, seconds, concurrency, make_request, server_pid):
    import httpx

    latencies, failures, exhausted = [], [], []
    stop = time.perf_counter() + seconds

    def worker():
        with httpx.Client(timeout=30) as session:  # one kept-alive connection per client
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                try:
                    response = make_request(session)
                except Exhausted:
                    exhausted.append(1)
                    return
                latencies.append(time.perf_counter() - t0)
                if response.status_code >= 300:
                    failures.append(response.status_code)

    elapsed, cpu, own = in_threads(worker, concurrency, server_pid)
    print(f"{name:<20} {len(latencies) / elapsed:8.1f} req/s   p50 {pct(latencies, 50):6.1f} ms   "
          f"p95 {pct(latencies, 95):6.1f} ms   p99 {pct(latencies, 99):6.1f} ms   "
          f"mean {statistics.mean(latencies) * 1000:6.1f} ms   server CPU {cpu / len(latencies) * 1000:5.2f} ms/req   "
          f"load generator CPU {own / len(latencies) * 1000:5.2f} ms/req   "
          f"errors {len(failures)}"
          + (f"   ({len(exhausted)} clients ran out of pre-signed assertions)" if exhausted else ""))


SCENARIOS = ("client_credentials", "jwt-bearer", "private_key_jwt", "par", "osdm-identity")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--assertions", type=int, default=15000, help="pre-signed per assertion scenario")
    parser.add_argument("--only", nargs="*", choices=SCENARIOS, help="run these scenarios only")
    args = parser.parse_args()
    rsa, ec = prepare()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # django.setup() logs every request at INFO
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    token_url = f"{base}/oauth/bench-as/token"
    os.environ["PUBLIC_URL"] = base  # the server's issuer, so assertion audiences match
    server = serve(port)
    try:
        import requests
        print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; "
              f"database {'PostgreSQL' if os.environ.get('DATABASE_URL') else 'SQLite'}; "
              f"{args.concurrency} clients, {args.seconds:g} s per scenario")
        only = args.only or SCENARIOS
        bearer = presigned(args.assertions if "jwt-bearer" in only else 0, rsa, "RS256", "seed",
                           "https://consumer.example/", "CONSUMER_1", token_url)
        pkj = presigned(args.assertions if "private_key_jwt" in only else 0, ec, "ES256", "pkj", "bench-pkj",
                        "bench-pkj", token_url)
        token = requests.post(token_url, data={"grant_type": "client_credentials"},
                              auth=("bench-cc", SECRET), timeout=30).json()["access_token"]
        scenarios = {
            "client_credentials": lambda s: s.post(token_url, data={"grant_type": "client_credentials"},
                                                   auth=("bench-cc", SECRET)),
            "jwt-bearer": lambda s: s.post(token_url, data={
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "scope": "uic_osdm",
                "assertion": take(bearer)}),
            "private_key_jwt": lambda s: s.post(token_url, data={
                "grant_type": "client_credentials",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": take(pkj)}),
            "par": lambda s: s.post(f"{base}/oauth/bench-as/par", data={
                "response_type": "code", "client_id": "bench-ev", "redirect_uri": "https://ev.example/cb",
                "code_challenge": CHALLENGE, "code_challenge_method": "S256", "scope": "ccsr",
                "authorization_details": json.dumps([DETAIL])}, auth=("bench-ev", SECRET)),
            "osdm-identity": lambda s: s.get(f"{base}/api/v1/tenants/bench-as/osdm/identity",
                                             headers={"Authorization": f"Bearer {token}"}),
        }
        for name in only:
            run(name, args.seconds, args.concurrency, scenarios[name], server.pid)
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
