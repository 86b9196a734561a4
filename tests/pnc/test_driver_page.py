"""The driver's page (/my/): their own contracts and approvals, never anyone else's,
and revoking a contract or withdrawing an approval — after a confirmation — revokes
what it should: tokens, certificate, CRL entry."""
import re

import pytest
from cryptography import x509
from django.contrib.auth import get_user_model
from django.test import Client as DjangoClient

from csms.models import AuditEvent
from oauth import tokens
from oauth.models import AccessToken, RefreshToken
from pnc import emaid
from pnc.models import CertificateAuthority, Contract, IssuedCertificate
from tenants.models import Membership, Role
from tests.factories import make_tenant
from tests.oauth.conftest import DRIVER_PASSWORD, FormClient
from tests.pnc.conftest import access_token, approve, near_detail
from tests.pnc.test_csr import csr_for, p256, post


@pytest.fixture
def certified(browser, ev_client, pki):
    """The driver's contract with its certificate, and the EV's access token."""
    token = access_token(browser, ev_client, near_detail())
    assert post(csr_for(p256()), token).status_code == 201
    return Contract.objects.get(), token


def page(browser) -> str:
    response = browser.get("/my/")
    assert response.status_code == 200
    return response.content.decode()


def revoke_url(contract) -> str:
    return f"/my/{contract.tenant.slug}/contracts/{contract.emaid}/revoke"


def withdraw_url(contract) -> str:
    return f"/my/{contract.tenant.slug}/approvals/{contract.grant_id}/withdraw"


def test_the_driver_sees_their_contract_its_terms_certificate_and_client(browser, certified):
    contract, _ = certified
    text = page(browser)
    assert emaid.hyphenated(contract.emaid) in text and "Certificate Issued" in text
    assert "€234.56" in text and "€100.00" in text and "Contract period" in text
    assert re.search(r"valid until \d+ \w+ 20\d\d", text)
    assert "Example EV" in text and "<code>ccsr</code>" in text  # the approval, in force


def test_a_driver_lands_on_their_page_not_the_fleet(browser, certified):
    response = browser.get("/")
    assert response.status_code == 302 and response["Location"] == "/my/"
    assert "Charging stations" not in page(browser)


def test_others_contracts_are_not_shown_and_not_reachable(browser, certified, emsp, ev_client):
    contract, _ = certified
    other_user = get_user_model().objects.create_user("neighbour", password=DRIVER_PASSWORD)
    Membership.objects.create(user=other_user, tenant=emsp, role=Role.DRIVER)
    neighbour = FormClient()
    neighbour.login(username="neighbour", password=DRIVER_PASSWORD)
    assert contract.emaid not in page(neighbour) and "Example EV" not in page(neighbour)
    for url in (revoke_url(contract), withdraw_url(contract)):
        assert neighbour.get(url).status_code == 404
        assert neighbour.post(url, {"reason": "keyCompromise"}).status_code == 404
    assert Contract.objects.get().state == "certificate_issued"
    # Nor from a tenant the driver is not a customer of.
    make_tenant("elsewhere", is_emsp=True)
    assert browser.get(f"/my/elsewhere/contracts/{contract.emaid}/revoke").status_code == 404


def test_signing_in_is_required(certified):
    contract, _ = certified
    for url in ("/my/", revoke_url(contract)):
        response = DjangoClient().get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_revoking_asks_first_then_revokes_contract_certificate_and_tokens(browser, certified, pki):
    contract, token = certified
    confirm = browser.get(revoke_url(contract))
    assert confirm.status_code == 200 and b"cannot be undone" in confirm.content
    assert Contract.objects.get().state == "certificate_issued"  # a GET changes nothing
    done = browser.post(revoke_url(contract), {"reason": "keyCompromise"})
    assert done.status_code == 302 and done["Location"] == "/my/"
    assert Contract.objects.get().state == "revoked"
    cert = IssuedCertificate.objects.get()
    assert cert.revocation_reason == "keyCompromise"
    crl = x509.load_der_x509_crl(bytes(CertificateAuthority.objects.get(issuing=True).crl_der))
    assert crl.get_revoked_certificate_by_serial_number(int(cert.serial_number, 16)) is not None
    with pytest.raises(tokens.InvalidToken):
        tokens.verify_access_token(contract.tenant, token)
    assert AuditEvent.objects.get(action="contract.revoked").actor == "driver"
    assert "is revoked" in page(browser)


def test_a_bad_reason_is_400_and_a_second_revocation_409(browser, certified):
    contract, _ = certified
    assert browser.post(revoke_url(contract), {"reason": "boredom"}).status_code == 400
    assert Contract.objects.get().state == "certificate_issued"
    assert browser.post(revoke_url(contract), {"reason": "cessationOfOperation"}).status_code == 302
    again = browser.post(revoke_url(contract), {"reason": "cessationOfOperation"})
    assert again.status_code == 409 and b"revoked already" in again.content
    assert b"Revoke the contract" not in browser.get(revoke_url(contract)).content


def test_a_repeated_reason_is_400_not_read_as_its_last(browser, certified):
    contract, _ = certified
    repeated = browser.post(revoke_url(contract), "reason=keyCompromise&reason=cessationOfOperation",
                            content_type="application/x-www-form-urlencoded")
    assert repeated.status_code == 400
    assert Contract.objects.get().state == "certificate_issued"


def test_withdrawing_an_approval_revokes_its_tokens_contract_and_certificate(browser, certified):
    contract, token = certified
    assert RefreshToken.objects.filter(revoked__isnull=True).count() == 1
    confirm = browser.get(withdraw_url(contract))
    assert confirm.status_code == 200 and emaid.hyphenated(contract.emaid).encode() in confirm.content
    assert browser.post(withdraw_url(contract)).status_code == 302
    assert not AccessToken.objects.exists() and not RefreshToken.objects.filter(revoked__isnull=True).exists()
    contract.refresh_from_db()
    assert contract.state == "revoked"
    assert IssuedCertificate.objects.get().revocation_reason == "privilegeWithdrawn"
    text = page(browser)
    assert "is withdrawn" in text and "No approval of yours is in force" in text
    assert browser.get(withdraw_url(contract)).status_code == 404  # nothing left to withdraw


def test_withdrawing_an_unexchanged_approval_kills_its_code(browser, ev_client, pki):
    """Approved, but the EV has not fetched its token yet: the code dies with the approval."""
    from tests.oauth.conftest import REDIRECT, basic

    result = approve(browser, ev_client, near_detail())
    contract = Contract.objects.get()
    assert browser.post(withdraw_url(contract)).status_code == 302
    response = FormClient().post("/oauth/emsp/token", {
        "grant_type": "authorization_code", "code": result["code"], "redirect_uri": REDIRECT,
        "code_verifier": result["verifier"]}, HTTP_AUTHORIZATION=basic(ev_client.client_id, ev_client.plain_secret))
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert Contract.objects.get().state == "revoked"


def test_posts_need_the_csrf_token(certified):
    contract, _ = certified
    strict = DjangoClient(enforce_csrf_checks=True)
    strict.login(username="driver", password=DRIVER_PASSWORD)
    assert strict.post(revoke_url(contract), {"reason": "keyCompromise"}).status_code == 403
    assert Contract.objects.get().state == "certificate_issued"


def test_staff_keep_the_dashboard(db, emsp):
    staff = get_user_model().objects.create_user("op", password=DRIVER_PASSWORD)
    Membership.objects.create(user=staff, tenant=emsp, role=Role.OPERATOR)
    client = DjangoClient()
    client.login(username="op", password=DRIVER_PASSWORD)
    home = client.get("/", follow=True)  # their tenant's dashboard, under /t/<slug>/
    assert home.status_code == 200 and home.redirect_chain[-1][0] == "/t/emsp/"
    assert client.get("/my/").status_code == 200  # their own contracts, if they approved any


def test_withdrawing_an_approval_without_a_contract_is_audited(browser, ev_client, pki):
    """An approval of scopes only (no pnc_contract_request) creates no contract, so no
    contract transition records its withdrawal: the withdrawal itself is audited."""
    from tests.oauth.conftest import REDIRECT, basic, consent_path, pkce_pair

    _, challenge = pkce_pair()
    pushed = FormClient().post("/oauth/emsp/par", {
        "response_type": "code", "client_id": ev_client.client_id, "redirect_uri": REDIRECT, "scope": "ccsr",
        "code_challenge": challenge, "code_challenge_method": "S256"},
        HTTP_AUTHORIZATION=basic(ev_client.client_id, ev_client.plain_secret))
    assert pushed.status_code == 201, pushed.content
    consent = consent_path(browser.get("/oauth/emsp/authorize", {
        "client_id": ev_client.client_id, "request_uri": pushed.json()["request_uri"]})["Location"])
    assert browser.post(consent, {"decision": "approve"}).status_code == 303
    assert not Contract.objects.exists()
    [approval] = re.findall(r"/my/emsp/approvals/(\d+)/withdraw", page(browser))
    assert browser.post(f"/my/emsp/approvals/{approval}/withdraw").status_code == 302

    event = AuditEvent.objects.get(action="approval.withdrawn")
    assert event.actor == "driver" and event.outcome == "withdrawn" and event.tenant.slug == "emsp"
    assert event.detail == {"grant": int(approval), "client": ev_client.client_id, "scope": "ccsr",
                            "contract": None, "emaid": None}
    assert browser.get(f"/my/emsp/approvals/{approval}/withdraw").status_code == 404  # withdrawn indeed


def test_withdrawing_an_approval_with_a_contract_audits_both(browser, certified):
    contract, _ = certified
    assert browser.post(withdraw_url(contract)).status_code == 302
    withdrawn = AuditEvent.objects.get(action="approval.withdrawn")
    assert withdrawn.detail["contract"] == contract.pk and withdrawn.detail["emaid"] == contract.emaid
    revoked = AuditEvent.objects.get(action="contract.revoked")
    assert revoked.actor == "driver" and revoked.detail["reason"] == "privilegeWithdrawn"
