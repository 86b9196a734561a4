"""The driver's page in Chromium against a live server: sign in, land on /my/, revoke a
contract through its confirmation page."""
import pytest

from pnc import emaid
from pnc.models import Contract, IssuedCertificate
from tests.browser import chromium as chromium_browser
from tests.oauth.conftest import DRIVER_PASSWORD
from tests.pnc.conftest import access_token, near_detail
from tests.pnc.test_csr import csr_for, p256, post

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_driver_revokes_a_contract_in_chromium(csms, browser, ev_client, pki):
    assert post(csr_for(p256()), access_token(browser, ev_client, near_detail())).status_code == 201
    shown = emaid.hyphenated(Contract.objects.get().emaid)
    with chromium_browser() as chromium:
        page = chromium.new_page()
        page.goto(f"{csms.http}/")
        page.fill("input[name=username]", "driver")
        page.fill("input[name=password]", DRIVER_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("h1:has-text('My Plug & Charge')")
        assert shown in page.inner_text("table.contracts") and "valid until" in page.inner_text("table.contracts")
        page.click("text=Revoke…")
        page.wait_for_selector(f"h1:has-text('Revoke contract {shown}?')")
        page.check("input[value=keyCompromise]")
        page.click("button:has-text('Revoke the contract')")
        page.wait_for_selector("[role=status]")
        assert "is revoked" in page.inner_text("[role=status]")
        assert "revoked on" in page.inner_text("table.contracts")
    assert Contract.objects.get().state == Contract.State.REVOKED
    assert IssuedCertificate.objects.get().revocation_reason == "keyCompromise"
