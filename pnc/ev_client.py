"""The EV reference client: plays the EV backend of the PnC registration flow
(`../shared/specs/ev-pnc-registration-flow.md`) against an eMSP's authorization server.

discovery → PKCE → PAR (the reference EV's body shape, or RFC 9126/9396's) → the
authorize URL for the driver's browser → the code, through a loopback redirect listener
(RFC 8252 §7.3) or a pasted redirect URL → the token (Authlib, with the verifier) → a
fresh key pair and CSR (`cryptography`) → `POST /pnc/<tenant>/csr` → the chain in a file.

A client of the server, not a part of it: it uses no Django and no database, so it runs
as `python manage.py pnc ev-register …` or `python -m pnc.ev_client …` anywhere.
It prints no secret, token, code or private key; the key goes to a file only the user
can read.
"""
import argparse
import html
import json
import os
import sys
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, rsa
from cryptography.x509.oid import NameOID

from . import emaid  # pure: no Django

TIMEOUT = 15  # seconds, per HTTP request
KEYS = ("p256", "p521", "ed448", "rsa")  # ISO 15118-2; ISO 15118-20; the compatibility profile
CHAIN_TYPE = "application/pem-certificate-chain"


class RegistrationFailed(Exception):
    """A step refused or broke; the message says which and why (never a secret)."""


@dataclass(frozen=True)
class Result:
    emaid: str
    serial_number: str
    not_after: str
    chain_path: str
    key_path: str
    certificates: int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("issuer", help="the eMSP's authorization server, e.g. http://127.0.0.1:8000/oauth/demo")
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", help="or set EV_CLIENT_SECRET (kept out of process lists)")
    parser.add_argument("--auth-method", choices=("client_secret_post", "client_secret_basic", "none"),
                        default="client_secret_post",
                        help="how the client authenticates (default: the secret in the body, as the reference EV)")
    parser.add_argument("--redirect-uri", default="http://127.0.0.1:8765/callback",
                        help="a loopback http URI is listened on (port 0: any free port)")
    parser.add_argument("--paste", action="store_true",
                        help="do not listen: paste the address the browser was sent to")
    parser.add_argument("--shape", choices=("reference", "rfc"), default="reference",
                        help="PAR body: the reference EV's {emsp_id, redirect_uri, authorization_detail} and "
                             "`bearer`, or RFC 9396's array and `Bearer`")
    parser.add_argument("--emsp-id", default="", help="the reference shape's emsp_id (default: the tenant)")
    parser.add_argument("--scope", default="ccsr")
    parser.add_argument("--start", help="contract start, RFC 3339 (default: now)")
    parser.add_argument("--end", help="contract end, RFC 3339 (default: a year after the start)")
    parser.add_argument("--currency", default="EUR")
    parser.add_argument("--max-amount", help="e.g. 234.56 (default: unlimited)")
    parser.add_argument("--max-transaction-amount", help="e.g. 100.00 (default: unlimited)")
    parser.add_argument("--key", choices=KEYS, default="p256",
                        help="the EV's key: p256 (ISO 15118-2, default), p521 or ed448 (ISO 15118-20), "
                             "rsa (the compatibility profile)")
    parser.add_argument("--rsa-bits", type=int, default=4096, help="with --key rsa (the reference EV: 4096)")
    parser.add_argument("--csr-endpoint", help="default: {server}/pnc/<tenant>/csr beside the issuer")
    parser.add_argument("--out", default="contract-chain.pem", help="where the certificate chain is written")
    parser.add_argument("--key-out", default="ev-key.pem", help="where the EV's private key is written (0600)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for the browser's redirect")


# --- the steps ----------------------------------------------------------------------------

def discover(issuer: str) -> dict:
    """The metadata at the discovery URL EVs use (spec §5.2), checked against the issuer."""
    meta = _json(requests.get(f"{issuer}/.well-known/openid-configuration", timeout=TIMEOUT), "discovery")
    if meta.get("issuer") != issuer:
        raise RegistrationFailed(f"discovery: the metadata names the issuer {meta.get('issuer')!r}, not {issuer!r}")
    for name in ("pushed_authorization_request_endpoint", "authorization_endpoint", "token_endpoint"):
        if not meta.get(name):
            raise RegistrationFailed(f"discovery: the server publishes no {name}")
    return meta


def contract_detail(opts) -> dict:
    detail = {"type": "pnc_contract_request"}
    period = {k: v for k, v in (("start", opts.start), ("end", opts.end)) if v}
    if period:
        detail["charging_period"] = period
    for field, amount in (("maximum_amount", opts.max_amount), ("maximum_transaction_amount",
                                                                 opts.max_transaction_amount)):
        if amount:
            detail[field] = {"currency": opts.currency, "amount": amount}
    return detail


def authorization_details(opts, redirect_uri: str, tenant: str) -> str:
    detail = contract_detail(opts)
    if opts.shape == "reference":  # spec §3.3.2: one object wrapping the detail
        return json.dumps({"emsp_id": opts.emsp_id or tenant, "redirect_uri": redirect_uri,
                           "authorization_detail": detail})
    return json.dumps([detail])  # RFC 9396 §2


def push(meta: dict, opts, secret: str | None, redirect_uri: str, challenge: str, state: str) -> str:
    body = {"response_type": "code", "client_id": opts.client_id, "redirect_uri": redirect_uri,
            "code_challenge": challenge, "code_challenge_method": "S256", "scope": opts.scope, "state": state,
            "authorization_details": authorization_details(opts, redirect_uri, tenant_of(meta["issuer"]))}
    auth = None
    if opts.auth_method == "client_secret_post":
        body["client_secret"] = secret
    elif opts.auth_method == "client_secret_basic":
        auth = (opts.client_id, secret)
    pushed = _json(requests.post(meta["pushed_authorization_request_endpoint"], data=body, auth=auth,
                                 timeout=TIMEOUT), "pushed authorization request", expect=201)
    if not pushed.get("request_uri"):
        raise RegistrationFailed("pushed authorization request: the answer has no request_uri")
    return pushed["request_uri"]


def authorize_url(meta: dict, client_id: str, request_uri: str) -> str:
    return f"{meta['authorization_endpoint']}?{urlencode({'client_id': client_id, 'request_uri': request_uri})}"


def check_callback(url: str, state: str, issuer: str) -> None:
    """The authorization response: our state, the right issuer (RFC 9207 against mix-up),
    a code — or the server's refusal, said plainly."""
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    if query.get("state") != state:
        raise RegistrationFailed("authorization response: the state does not match this registration")
    if "iss" in query and query["iss"] != issuer:
        raise RegistrationFailed(f"authorization response: from the issuer {query['iss']!r}, not {issuer!r}")
    if "error" in query:
        described = f": {query['error_description']}" if query.get("error_description") else ""
        raise RegistrationFailed(f"authorization refused: {query['error']}{described}")
    if not query.get("code"):
        raise RegistrationFailed("authorization response: no code")


def exchange(meta: dict, opts, secret: str | None, redirect_uri: str, state: str, verifier: str,
             callback: str) -> dict:
    """The token request (spec §5.2.1), by Authlib: code, redirect_uri, PKCE verifier."""
    session = OAuth2Session(opts.client_id, secret, redirect_uri=redirect_uri, state=state,
                            token_endpoint_auth_method=opts.auth_method, scope=opts.scope)
    try:
        token = session.fetch_token(meta["token_endpoint"], authorization_response=callback, code_verifier=verifier,
                                    timeout=TIMEOUT)
    except Exception as exc:  # Authlib's OAuthError, or a transport error
        raise RegistrationFailed(f"token request: {getattr(exc, 'description', None) or exc}") from None
    if not token.get("access_token"):
        raise RegistrationFailed("token request: no access token in the answer")
    return token


def generate_key(kind: str, rsa_bits: int = 4096):
    if kind == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "p521":
        return ec.generate_private_key(ec.SECP521R1())
    if kind == "ed448":
        return ed448.Ed448PrivateKey.generate()
    return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)


def make_csr(key, device_name: str = "Chargegate reference EV") -> bytes:
    """A PKCS#10 request (spec §5.3.1); the eMSP sets the certificate's subject itself."""
    algorithm = None if isinstance(key, ed448.Ed448PrivateKey) else hashes.SHA256()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, device_name)])
    return (x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, algorithm)
            .public_bytes(serialization.Encoding.PEM))


def request_certificate(endpoint: str, access_token: str, csr: bytes, scheme: str) -> str:
    """Spec §5.3.2, asking for the chain (leaf, Sub-CA 2, Sub-CA 1)."""
    response = requests.post(endpoint, data=csr, timeout=TIMEOUT, headers={
        "Content-Type": "application/pkcs10", "Authorization": f"{scheme} {access_token}", "Accept": CHAIN_TYPE})
    if response.status_code != 201:
        raise RegistrationFailed(f"certificate request: {_explain(response)}")
    return response.text


# --- the redirect -------------------------------------------------------------------------

def is_loopback(uri: str) -> bool:
    parts = urlsplit(uri)
    return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "::1")


class RedirectListener:
    """One HTTP listener on the loopback redirect URI's address, for one redirect
    (RFC 8252 §7.3). Port 0 binds any free port; `redirect_uri` then names it."""

    def __init__(self, redirect_uri: str):
        parts = urlsplit(redirect_uri)
        self.path = parts.path or "/"
        self.received: str | None = None
        self._done = threading.Event()
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                if urlsplit(self.path).path != listener.path or listener.received is not None:
                    self.send_error(404)
                    return
                listener.received = self.path
                page = ("<!doctype html><title>Chargegate EV</title><p>The EV has the answer; the registration "
                        "goes on in the terminal. You may close this tab.</p>")
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(page.encode())
                listener._done.set()

            def log_message(self, *args):  # the query holds the code: keep it off stderr
                pass

        family_host = parts.hostname
        self.server = HTTPServer((family_host, 80 if parts.port is None else parts.port), Handler)
        self.port = self.server.server_address[1]
        netloc = f"[{family_host}]:{self.port}" if ":" in family_host else f"{family_host}:{self.port}"
        self.redirect_uri = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def wait(self, timeout: float) -> str:
        try:
            if not self._done.wait(timeout):
                raise RegistrationFailed(f"no redirect reached {self.redirect_uri} within {timeout:g} s")
            return self.redirect_uri.rsplit(self.path, 1)[0] + self.received
        finally:
            self.close()

    def close(self) -> None:
        if self._thread.is_alive():
            self.server.shutdown()
            self.server.server_close()


# --- the whole registration ---------------------------------------------------------------

def register(opts, say=print, read_line=None, on_authorize_url=None) -> Result:
    """Run the registration; `say` prints progress, `read_line` reads a pasted URL,
    `on_authorize_url` is told the URL the driver must open (the test's browser)."""
    issuer = opts.issuer.rstrip("/")
    secret = opts.client_secret or os.environ.get("EV_CLIENT_SECRET")
    if opts.auth_method != "none" and not secret:
        raise RegistrationFailed(f"{opts.auth_method} needs the client secret (--client-secret or EV_CLIENT_SECRET)")
    meta = discover(issuer)
    say(f"discovered {issuer}")
    listener = None
    redirect_uri = opts.redirect_uri
    if not opts.paste:
        if not is_loopback(redirect_uri):
            raise RegistrationFailed("only a loopback http redirect URI (http://127.0.0.1:…) can be listened on; "
                                     "use --paste for another")
        try:
            listener = RedirectListener(redirect_uri)
        except OSError as exc:
            raise RegistrationFailed(f"cannot listen on {redirect_uri}: {exc.strerror}") from None
        redirect_uri = listener.redirect_uri
    try:
        verifier, state = generate_token(64), generate_token(20)
        request_uri = push(meta, opts, secret, redirect_uri, create_s256_code_challenge(verifier), state)
        url = authorize_url(meta, opts.client_id, request_uri)
        say("pushed the authorization request; within a minute, open this address in a browser, sign in as the "
            "driver and approve:")
        say(f"  {url}")
        if on_authorize_url:
            on_authorize_url(url)
        if listener:
            say(f"waiting for the browser's redirect to {redirect_uri} …")
            callback = listener.wait(opts.timeout)
        else:
            say("then paste the address the browser was sent to (it starts with the redirect URI):")
            callback = (read_line or sys.stdin.readline)().strip()
            if not callback:
                raise RegistrationFailed("no address was pasted")
    finally:
        if listener and listener.received is None:
            listener.close()
    check_callback(callback, state, meta["issuer"])
    token = exchange(meta, opts, secret, redirect_uri, state, verifier, callback)
    say(f"token received (scope {token.get('scope', '?')}, expires in {token.get('expires_in', '?')} s)")
    key = generate_key(opts.key, opts.rsa_bits)
    write_private(opts.key_out, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    scheme = "bearer" if opts.shape == "reference" else "Bearer"  # the reference EV sends it lower-case
    chain = request_certificate(opts.csr_endpoint or csr_endpoint(issuer), token["access_token"], make_csr(key),
                                scheme)
    with open(opts.out, "w") as fh:
        fh.write(chain)
    result = summarise(chain, opts.out, opts.key_out)
    say(f"contract certificate for EMAID {shown(result.emaid)}, serial {result.serial_number}, valid until "
        f"{result.not_after}; {result.certificates} certificates written to {result.chain_path}, "
        f"the EV's key to {result.key_path}")
    return result


def shown(contract_id: str) -> str:
    try:
        return emaid.hyphenated(contract_id)
    except (emaid.InvalidEmaid, IndexError):
        return contract_id


def tenant_of(issuer: str) -> str:
    return urlsplit(issuer).path.rstrip("/").rsplit("/", 1)[-1]


def csr_endpoint(issuer: str) -> str:
    """Chargegate's eMSP beside its authorization server: {server}/oauth/<t> → {server}/pnc/<t>/csr."""
    parts = urlsplit(issuer)
    base = parts.path.rstrip("/").rsplit("/oauth/", 1)[0]
    return urlunsplit((parts.scheme, parts.netloc, f"{base}/pnc/{tenant_of(issuer)}/csr", "", ""))


def write_private(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # also when the file was there before
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def summarise(chain: str, chain_path: str, key_path: str) -> Result:
    try:
        certificates = x509.load_pem_x509_certificates(chain.encode())
    except ValueError:
        raise RegistrationFailed("certificate request: the answer is not a PEM certificate chain") from None
    leaf = certificates[0]
    names = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return Result(emaid=names[0].value if names else "?", serial_number=format(leaf.serial_number, "x"),
                  not_after=leaf.not_valid_after_utc.isoformat(), chain_path=chain_path, key_path=key_path,
                  certificates=len(certificates))


def _json(response: requests.Response, step: str, expect: int = 200) -> dict:
    if response.status_code != expect:
        raise RegistrationFailed(f"{step}: {_explain(response)}")
    try:
        return response.json()
    except ValueError:
        raise RegistrationFailed(f"{step}: the answer is not JSON") from None


def _explain(response: requests.Response) -> str:
    """The server's own words: an OAuth error or a problem's detail."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    words = (body.get("error_description") or body.get("detail") or body.get("error") or body.get("title")
             if isinstance(body, dict) else None)
    return f"HTTP {response.status_code}" + (f": {html.unescape(str(words))}" if words else "")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pnc.ev_client", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    try:
        register(parser.parse_args(argv))
    except RegistrationFailed as exc:
        print(f"registration failed: {exc}", file=sys.stderr)
        return 1
    except requests.RequestException as exc:
        print(f"registration failed: cannot reach the server ({type(exc).__name__})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
