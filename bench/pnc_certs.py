"""Plug & Charge throughput: contract certificates issued per second, OCSP answers per second.

Usage:  .venv/bin/python bench/pnc_certs.py [--contracts 300] [--concurrency 8] [--ocsp-seconds 6]

On a fresh embedded database (var/bench-pnc), it makes an eMSP tenant with its MO PKI,
an EV client and a driver, and has the driver approve --contracts `pnc_contract_request`s
the real way (PAR, authorize, consent, code exchange: Django's test client in this
process, before anything is timed), and signs one P-256 CSR per contract. Then it starts
`python -m portal.serve` and, with --concurrency kept-alive clients (httpx):

  csr    POST /pnc/<tenant>/csr, each contract's CSR with its access token, once
         (the issuing is the measured work: token check, CSR check, signing, storing)
  ocsp   POST /pnc/<tenant>/ocsp with RFC 6960 requests for the issued certificates,
         for --ocsp-seconds

and prints requests per second, latency percentiles and the server's CPU per request.
It asserts nothing; a non-2xx answer is counted as an error.

With --token-checks there is no server and no CSR: it times only what /csr spends on the
access token, `oauth.tokens.verify_access_token` for each token (CPU per check,
time.process_time, after a warm-up tenth).

With --in-process there is no server: the CSRs go through Django's test client in this
process (the view, its middleware and the database, no HTTP), and it prints the CPU
time per certificate; --profile also runs them under cProfile and prints where the
time goes (our code's functions by cumulative time). That is how the CSR path was
profiled (docs/performance.md).
"""
import argparse
import base64
import hashlib
import json
import os
import secrets
import shutil
import statistics
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
VAR = REPO / "var" / "bench-pnc"
os.environ["CHARGEGATE_VAR_DIR"] = str(VAR)
os.environ.pop("DATABASE_URL", None)

from csms_load import free_port, pct, serve  # noqa: E402
from oauth_tokens import in_threads  # noqa: E402

TENANT = "bench-emsp"
REDIRECT = "https://ev.example/cb"
PASSWORD = "bench-driver-password-1234"


def detail() -> dict:
    now = datetime.now(UTC)
    return {"type": "pnc_contract_request",
            "charging_period": {"start": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                "end": (now + timedelta(days=300)).strftime("%Y-%m-%dT%H:%M:%SZ")},
            "maximum_amount": {"currency": "EUR", "amount": "234.56"}}


def prepare(count: int, base: str):
    """(access tokens, CSRs in PEM), one of each per approved contract."""
    import django

    django.setup()
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client as DjangoClient

    from oauth.models import GrantType
    from oauth.registration import ClientSpec, add_client
    from pnc import authorities
    from tenants.models import Membership, Role, Tenant

    call_command("migrate", verbosity=0)
    tenant = Tenant.objects.create(slug=TENANT, name="Benchmark eMSP", is_emsp=True,
                                   emsp_country_code="DE", emsp_provider_id="8AA")
    authorities.initialise(tenant, "bench")
    ev, secret = add_client(tenant, ClientSpec(
        client_id="bench-ev", name="Bench EV", redirect_uris=[REDIRECT], grant_types=[GrantType.AUTHORIZATION_CODE],
        scopes=["ccsr"], auth_method="client_secret_basic"))
    user = get_user_model().objects.create_user("bench-driver", password=PASSWORD)
    Membership.objects.create(user=user, tenant=tenant, role=Role.DRIVER)
    host = urlsplit(base).netloc
    basic = "Basic " + base64.b64encode(f"bench-ev:{secret}".encode()).decode()
    form = "application/x-www-form-urlencoded"
    browser = DjangoClient(HTTP_HOST=host)
    browser.login(username="bench-driver", password=PASSWORD)
    machine = DjangoClient(HTTP_HOST=host)
    tokens, csrs = [], []
    for _ in range(count):
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        pushed = machine.post(f"/oauth/{TENANT}/par", urlencode({
            "response_type": "code", "client_id": "bench-ev", "redirect_uri": REDIRECT, "scope": "ccsr",
            "code_challenge": challenge, "code_challenge_method": "S256",
            "authorization_details": json.dumps([detail()])}), content_type=form, HTTP_AUTHORIZATION=basic)
        assert pushed.status_code == 201, pushed.content
        answer = browser.get(f"/oauth/{TENANT}/authorize",
                             {"client_id": "bench-ev", "request_uri": pushed.json()["request_uri"]})
        page = urlsplit(answer["Location"]).path
        decided = browser.post(page, urlencode({"decision": "approve"}), content_type=form)
        code = parse_qs(urlsplit(decided["Location"]).query)["code"][0]
        token = machine.post(f"/oauth/{TENANT}/token", urlencode({
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
            "code_verifier": verifier}), content_type=form, HTTP_AUTHORIZATION=basic)
        assert token.status_code == 200, token.content
        tokens.append(token.json()["access_token"])
        key = ec.generate_private_key(ec.SECP256R1())
        csr = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ev")]))
               .sign(key, hashes.SHA256()))
        csrs.append(csr.public_bytes(serialization.Encoding.PEM))
    return tokens, csrs


def run(name, work, concurrency, server_pid, seconds=None):
    """`work(session)` returns a response, or None when there is nothing left to send."""
    import httpx

    latencies, errors = [], []
    stop = time.perf_counter() + seconds if seconds else None
    results = []

    def worker():
        with httpx.Client(timeout=30) as session:
            while stop is None or time.perf_counter() < stop:
                t0 = time.perf_counter()
                response = work(session)
                if response is None:
                    return
                latencies.append(time.perf_counter() - t0)
                if response.status_code >= 300:
                    errors.append(response.status_code)
                else:
                    results.append(response)

    elapsed, cpu, _own = in_threads(worker, concurrency, server_pid)
    print(f"{name:<6} {len(latencies) / elapsed:8.1f} req/s   p50 {pct(latencies, 50):6.1f} ms   "
          f"p95 {pct(latencies, 95):6.1f} ms   p99 {pct(latencies, 99):6.1f} ms   "
          f"mean {statistics.mean(latencies) * 1000:6.1f} ms   server CPU {cpu / len(latencies) * 1000:5.2f} ms/req   "
          f"errors {len(errors)}   ({len(latencies)} requests)", flush=True)
    return results


def in_process(tokens, csrs, base: str, profile: bool) -> None:
    """CPU per certificate through the view in this process; with `profile`, cProfile's
    view of a third of them (after a warm-up tenth)."""
    import cProfile
    import pstats

    from django.test import Client as DjangoClient

    client = DjangoClient(HTTP_HOST=urlsplit(base).netloc)

    def issue(items):
        for token, csr in items:
            response = client.post(f"/pnc/{TENANT}/csr", csr, content_type="application/pkcs10",
                                   HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT="application/pem-certificate-chain")
            assert response.status_code == 201, response.content

    items = list(zip(tokens, csrs, strict=True))
    warm, rest = items[:len(items) // 10], items[len(items) // 10:]
    measured, profiled = (rest[:len(rest) // 2], rest[len(rest) // 2:]) if profile else (rest, [])
    issue(warm)
    started = time.process_time()
    issue(measured)
    print(f"in process: {(time.process_time() - started) / len(measured) * 1000:.2f} ms CPU per certificate "
          f"({len(measured)} certificates)", flush=True)
    if profiled:
        profiler = cProfile.Profile()
        profiler.runcall(issue, profiled)
        stats = pstats.Stats(profiler).sort_stats("cumulative")
        stats.print_stats(rf"{REPO}/(pnc|oauth|lib|portal)/", 25)


def token_checks(tokens) -> None:
    """CPU per access-token check, as /csr makes it (docs/performance.md)."""
    from oauth import tokens as access_tokens
    from tenants.models import Tenant

    tenant = Tenant.objects.get(slug=TENANT)
    warm, measured = tokens[:len(tokens) // 10], tokens[len(tokens) // 10:]
    for token in warm:
        access_tokens.verify_access_token(tenant, token)
    started = time.process_time()
    for token in measured:
        access_tokens.verify_access_token(tenant, token)
    print(f"token checks: {(time.process_time() - started) / len(measured) * 1000:.3f} ms CPU per check "
          f"({len(measured)} checks)", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contracts", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--ocsp-seconds", type=float, default=6)
    parser.add_argument("--in-process", action="store_true", help="no server: CPU per certificate in this process")
    parser.add_argument("--profile", action="store_true", help="with --in-process: where the time goes (cProfile)")
    parser.add_argument("--token-checks", action="store_true", help="no server, no CSR: CPU per access-token check")
    args = parser.parse_args()
    import logging

    shutil.rmtree(VAR, ignore_errors=True)
    VAR.mkdir(parents=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    os.environ["PUBLIC_URL"] = base  # the tokens' issuer and audience: the server's own
    started = time.perf_counter()
    tokens, csrs = prepare(args.contracts, base)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # django.setup() logs every request at INFO
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; embedded; {args.contracts} contracts "
          f"approved and CSRs signed in {time.perf_counter() - started:.0f} s; {args.concurrency} clients", flush=True)
    if args.token_checks:
        return token_checks(tokens)
    if args.in_process:
        return in_process(tokens, csrs, base, args.profile)

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509 import ocsp

    server = serve(port)
    try:
        pending = iter(list(zip(tokens, csrs, strict=True)))
        lock = threading.Lock()

        def post_csr(session):
            with lock:
                item = next(pending, None)
            if item is None:
                return None
            token, csr = item
            return session.post(f"{base}/pnc/{TENANT}/csr", content=csr, headers={
                "Authorization": f"Bearer {token}", "Content-Type": "application/pkcs10",
                "Accept": "application/pem-certificate-chain"})

        issued = run("csr", post_csr, args.concurrency, server.pid)
        requests = []
        for response in issued:
            leaf, issuer = x509.load_pem_x509_certificates(response.content)[:2]
            requests.append(ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, hashes.SHA1()).build()
                            .public_bytes(serialization.Encoding.DER))
        counter = iter(range(10 ** 9))

        def post_ocsp(session):
            with lock:
                i = next(counter)
            return session.post(f"{base}/pnc/{TENANT}/ocsp", content=requests[i % len(requests)],
                                headers={"Content-Type": "application/ocsp-request"})

        if requests:
            run("ocsp", post_ocsp, args.concurrency, server.pid, seconds=args.ocsp_seconds)
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
