"""The EV reference client (`pnc ev-register`, pnc/ev_client.py) against a live server
on loopback: discovery, PKCE, PAR in both body shapes, the driver's consent (in
Chromium through Playwright, or a scripted browser session), the redirect caught by
the client's loopback listener or pasted, Authlib's token request, the CSR, and the
chain written to a file and verified with cryptography."""
import argparse
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from oauth.models import GrantType
from oauth.registration import ClientSpec, add_client
from pnc import emaid, ev_client
from pnc.models import Contract, IssuedCertificate
from tests import browser
from tests.oauth.conftest import DRIVER_PASSWORD
from tests.oauth.live_driver import approve
from tests.pnc.test_csr import verify_chain

pytestmark = pytest.mark.django_db(transaction=True)
SECRET_ENV = "EV_CLIENT_SECRET"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def car(emsp, pki):
    """The EV backend's client as `make run` seeds demo-ev: a loopback redirect URI,
    its secret sent in the body (client_secret_post), as the reference EV does."""
    client, secret = add_client(emsp, ClientSpec(
        client_id="car", name="Reference EV", redirect_uris=["http://127.0.0.1:8765/callback"],
        grant_types=[GrantType.AUTHORIZATION_CODE], scopes=["ccsr"], auth_method="client_secret_post"))
    client.plain_secret = secret
    return client


def options(server, car, tmp_path, *extra) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    ev_client.add_arguments(parser)
    return parser.parse_args([f"{server.http}/oauth/emsp", "--client-id", car.client_id,
                              "--client-secret", car.plain_secret, "--redirect-uri", "http://127.0.0.1:0/callback",
                              "--out", str(tmp_path / "chain.pem"), "--key-out", str(tmp_path / "key.pem"),
                              "--max-amount", "234.56", "--end", "2027-01-01T00:00:00Z", "--timeout", "30", *extra])


class Running:
    """The client's registration in a thread; the authorize URL it prints comes out of
    `url()`, its result (or failure) out of `result()`."""

    def __init__(self, opts):
        self._urls, self.said, self.outcome = queue.Queue(), [], None
        self.thread = threading.Thread(target=self._run, args=(opts,), daemon=True)
        self.thread.start()

    def _run(self, opts):
        try:
            self.outcome = ev_client.register(opts, say=self.said.append, on_authorize_url=self._urls.put)
        except Exception as exc:  # handed to the test
            self.outcome = exc
            self._urls.put(None)

    def url(self) -> str:
        url = self._urls.get(timeout=30)
        assert url, self.outcome
        return url

    def result(self):
        self.thread.join(60)
        assert not self.thread.is_alive()
        return self.outcome


def browse_to(location: str) -> None:
    """The driver's browser following the consent's redirect to the EV's listener."""
    assert requests.get(location, timeout=10).status_code == 200


def check_chain(result, pki, key_type):
    leaf, sub2, sub1 = x509.load_pem_x509_certificates(Path(result.chain_path).read_bytes())
    root = x509.load_pem_x509_certificate(pki[0].certificate_pem.encode())
    assert verify_chain(leaf, [sub2, sub1], root).chain[-1] == root
    key = serialization.load_pem_private_key(Path(result.key_path).read_bytes(), password=None)
    assert isinstance(key, key_type) and key.public_key() == leaf.public_key()
    assert os.stat(result.key_path).st_mode & 0o777 == 0o600
    assert emaid.normalise(result.emaid) == result.emaid and result.emaid.startswith("DE8AA")
    return leaf


def test_reference_shape_with_the_loopback_listener(csms, driver, car, pki, tmp_path):
    run = Running(options(csms, car, tmp_path))
    browse_to(approve(csms.http, run.url(), "driver", DRIVER_PASSWORD))
    result = run.result()
    assert isinstance(result, ev_client.Result), result
    check_chain(result, pki, ec.EllipticCurvePrivateKey)
    contract = Contract.objects.get()
    assert contract.state == Contract.State.CERTIFICATE_ISSUED and contract.emaid == result.emaid
    assert str(contract.maximum_amount) == "234.5600"
    assert IssuedCertificate.objects.get().serial_number == result.serial_number
    said = "\n".join(run.said)
    assert car.plain_secret not in said and "code=" not in said and "PRIVATE" not in said


@pytest.fixture
def chromium(csms, driver, car, pki):
    with browser.chromium() as started:
        yield started


def test_rfc_shape_and_an_rsa_key_with_the_driver_in_chromium(csms, emsp, car, pki, tmp_path, request):
    """The compatibility profile takes the reference EV's RSA key; the driver approves
    in a real browser, which the consent's redirect takes to the EV's listener."""
    emsp.pnc_key_profile = "compatible"
    emsp.save()
    opts = options(csms, car, tmp_path, "--shape", "rfc", "--key", "rsa", "--rsa-bits", "2048")
    chromium = request.getfixturevalue("chromium")  # after the rows: Playwright's loop shuns the ORM
    run = Running(opts)
    page = chromium.new_page()
    page.goto(run.url())
    page.fill("input[name=username]", "driver")
    page.fill("input[name=password]", DRIVER_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("section.authorization-detail")
    assert "€234.56" in page.inner_text("main")
    page.click("button[value=approve]")
    page.wait_for_selector("text=You may close this tab")
    page.close()
    result = run.result()
    assert isinstance(result, ev_client.Result), result
    check_chain(result, pki, rsa.RSAPrivateKey)


def test_a_denial_is_reported_plainly(csms, driver, car, tmp_path):
    run = Running(options(csms, car, tmp_path))
    browse_to(approve(csms.http, run.url(), "driver", DRIVER_PASSWORD, decision="deny"))
    failure = run.result()
    assert isinstance(failure, ev_client.RegistrationFailed) and "access_denied" in str(failure)
    assert not (tmp_path / "key.pem").exists()


def test_a_wrong_secret_fails_at_the_pushed_request(csms, car, tmp_path):
    opts = options(csms, car, tmp_path)
    opts.client_secret = "wrong"
    with pytest.raises(ev_client.RegistrationFailed, match="pushed authorization request: HTTP 401"):
        ev_client.register(opts, say=lambda _: None)


def test_a_tampered_state_or_foreign_issuer_is_refused():
    with pytest.raises(ev_client.RegistrationFailed, match="state"):
        ev_client.check_callback("http://127.0.0.1/cb?code=x&state=other", "mine", "https://as")
    with pytest.raises(ev_client.RegistrationFailed, match="issuer"):
        ev_client.check_callback("http://127.0.0.1/cb?code=x&state=mine&iss=https://evil", "mine", "https://as")


def test_the_command_with_a_pasted_redirect_as_the_readme_runs_it(csms, driver, car, pki, tmp_path):
    """`manage.py pnc ev-register … --paste`, a separate process reading the URL the
    driver's browser was sent to from stdin (nothing listens on the redirect URI)."""
    env = {**os.environ, SECRET_ENV: car.plain_secret, "DJANGO_SETTINGS_MODULE": "portal.settings"}
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "pnc", "ev-register", f"{csms.http}/oauth/emsp", "--client-id", "car",
         "--paste", "--out", str(tmp_path / "chain.pem"), "--key-out", str(tmp_path / "key.pem")],
        cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = None
    for line in proc.stdout:
        if "/authorize?" in line:
            url = line.strip()
            break
    assert url, proc.stderr.read()
    location = approve(csms.http, url, "driver", DRIVER_PASSWORD)
    out, err = proc.communicate(location + "\n", timeout=60)
    assert proc.returncode == 0, err
    assert "contract certificate for EMAID DE-8AA-" in out and car.plain_secret not in out + err
    assert len(x509.load_pem_x509_certificates((tmp_path / "chain.pem").read_bytes())) == 3
