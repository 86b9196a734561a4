"""Contracts: the driver's approval of a pnc_contract_request on the consent screen
creates one, with an EMAID the eMSP assigns; its lifecycle is audited."""
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from csms.models import AuditEvent
from oauth.models import Grant
from pnc import contracts, emaid
from pnc.models import Contract
from tests.pnc.conftest import PNC_DETAIL, approve


def test_approving_creates_the_contract_with_an_emaid_from_the_tenant(browser, ev_client, driver):
    result = approve(browser, ev_client)
    assert "code" in result
    contract = Contract.objects.get()
    assert contract.emaid.startswith("DE8AA") and len(contract.emaid) == 15
    assert emaid.is_valid(contract.emaid)
    assert contract.user == driver and contract.client == ev_client
    assert contract.grant == Grant.objects.get()
    assert contract.starts_at == datetime(2030, 7, 1, tzinfo=UTC)
    assert contract.ends_at == datetime(2031, 7, 1, tzinfo=UTC)
    assert (contract.currency, contract.maximum_amount, contract.maximum_transaction_amount) == (
        "EUR", Decimal("234.56"), Decimal("100.00"))
    assert contract.state == Contract.State.AUTHORIZED
    event = AuditEvent.objects.get(action="contract.authorized")
    assert (event.actor, event.outcome, event.detail["emaid"]) == ("driver", "authorized", contract.emaid)


def test_unlimited_contract_has_no_limits_and_no_currency(browser, ev_client):
    approve(browser, ev_client, {"type": "pnc_contract_request",
                                 "charging_period": {"start": "2030-01-01T00:00:00Z", "end": "2030-02-01T00:00:00Z"}})
    contract = Contract.objects.get()
    assert (contract.currency, contract.maximum_amount, contract.maximum_transaction_amount) == ("", None, None)


def test_each_approval_is_its_own_contract_with_its_own_emaid(browser, ev_client):
    approve(browser, ev_client)
    approve(browser, ev_client)
    assert len(set(Contract.objects.values_list("emaid", flat=True))) == 2


def test_denying_creates_no_contract(browser, ev_client):
    assert approve(browser, ev_client, decision="deny")["error"] == "access_denied"
    assert not Contract.objects.exists()


def test_an_emsp_without_provider_id_refuses_the_approval_and_issues_no_code(browser, ev_client, emsp):
    emsp.emsp_provider_id = ""
    emsp.save()
    result = approve(browser, ev_client)
    assert result["error"] == "server_error"
    assert "provider id" in result["error_description"]
    assert "code" not in result
    assert not Grant.objects.exists() and not Contract.objects.exists()


def test_lifecycle_transitions_are_audited_and_final_states_stay(browser, ev_client):
    approve(browser, ev_client)
    contract = Contract.objects.get()
    contract = contracts.transition(contract, Contract.State.CERTIFICATE_ISSUED, "ev", serial="01")
    contract = contracts.transition(contract, Contract.State.REVOKED, "cli")
    assert contract.state == Contract.State.REVOKED
    for target in (Contract.State.CERTIFICATE_ISSUED, Contract.State.EXPIRED, Contract.State.AUTHORIZED):
        with pytest.raises(contracts.TransitionRefused):
            contracts.transition(contract, target, "cli")
    actions = list(AuditEvent.objects.filter(action__startswith="contract.").order_by("at", "id")
                   .values_list("action", "actor", "outcome"))  # (the client's registration is audited too)
    assert actions == [("contract.authorized", "driver", "authorized"),
                       ("contract.certificate_issued", "ev", "certificate_issued"),
                       ("contract.revoked", "cli", "revoked")]


def test_stored_detail_is_the_canonical_one_shown_at_consent(browser, ev_client):
    approve(browser, ev_client)
    detail = Contract.objects.get().authorization_detail
    assert detail["charging_period"] == {"start": "2030-07-01T00:00:00Z", "end": "2031-07-01T00:00:00Z"}
    assert detail["maximum_amount"] == PNC_DETAIL["maximum_amount"]
