"""Contracts: created when a driver approves a `pnc_contract_request`, moved through
their lifecycle, every transition audited (`tenants.audit`, the platform's audit trail:
who, what, when, outcome — never key material)."""
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from oauth.signals import ApprovalRefused
from tenants import audit as audit_trail

from . import emaid
from .authorization_details import TYPE
from .models import Contract

State = Contract.State
# Where each state may go; anything else is refused (a revoked contract stays revoked).
TRANSITIONS = {
    State.AUTHORIZED: {State.CERTIFICATE_ISSUED, State.REVOKED, State.EXPIRED},
    State.CERTIFICATE_ISSUED: {State.REVOKED, State.EXPIRED},
    State.REVOKED: set(),
    State.EXPIRED: set(),
}
EMAID_ATTEMPTS = 5


class TransitionRefused(Exception):
    pass


def record_event(tenant_id: int, actor: str, action: str, outcome: str, detail: dict) -> None:
    """One entry of the audit trail (the CAs' own entries: pnc.ca_audit)."""
    audit_trail.record(tenant_id, actor, action, outcome, **detail)


def audit(contract: Contract, actor: str, action: str, **detail) -> None:
    record_event(contract.tenant_id, actor, action, contract.state,
                 {"contract": contract.pk, "emaid": contract.emaid, **detail})


def audit_withdrawal(grant, actor: str, contract: Contract | None) -> None:
    """`approval.withdrawn`: the driver ended an approval. Written for every withdrawal,
    also of an approval that created no contract (or whose contract had already ended),
    where no contract transition would record it."""
    record_event(grant.tenant_id, actor, "approval.withdrawn", "withdrawn", {
        "grant": grant.pk, "client": grant.application.client_id if grant.application_id else "",
        "scope": grant.scope, "contract": contract.pk if contract else None,
        "emaid": contract.emaid if contract else None})


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)  # canonical details: 2023-07-01T00:00:00Z


def _terms(detail: dict) -> dict:
    """The contract's columns from a canonical pnc_contract_request."""
    limits = {key: detail.get(key) for key in ("maximum_amount", "maximum_transaction_amount")}
    currencies = {limit["currency"] for limit in limits.values() if limit}
    return {
        "starts_at": _parse(detail["charging_period"]["start"]),
        "ends_at": _parse(detail["charging_period"]["end"]),
        "currency": currencies.pop() if currencies else "",  # normalise() made them one currency
        **{key: Decimal(limit["amount"]) if limit else None for key, limit in limits.items()},
    }


def create_for_approval(grant) -> Contract | None:
    """The contract of an approved authorization that carries a pnc_contract_request
    (the type is unique per request), with a fresh EMAID; None for other approvals."""
    details = [d for d in grant.authorization_details if d.get("type") == TYPE]
    if not details:
        return None
    tenant = grant.tenant
    if not (tenant.emsp_country_code and tenant.emsp_provider_id):
        raise ApprovalRefused("this eMSP cannot assign contract ids yet (its EMAID provider id is not set)")
    for _ in range(EMAID_ATTEMPTS):
        try:
            with transaction.atomic():
                contract = Contract.objects.create(
                    tenant=tenant, user=grant.user, client=grant.application,
                    client_id_text=grant.application.client_id, grant=grant, authorization_detail=details[0],
                    emaid=emaid.compose(tenant.emsp_country_code, tenant.emsp_provider_id, emaid.random_instance()),
                    **_terms(details[0]))
        except IntegrityError:
            continue  # an EMAID already taken (one in 10^14): draw another
        audit(contract, grant.user.get_username(), "contract.authorized", client=contract.client_id_text)
        return contract
    raise ApprovalRefused("no free contract id could be assigned; try again")


def on_authorization_approved(sender, grant, **kwargs) -> None:
    create_for_approval(grant)


def transition(contract: Contract, to: str, actor: str, **detail) -> Contract:
    """Move the contract to `to` if its current state allows, atomically (a concurrent
    change wins or loses as a whole), and audit it. Returns the contract in its new state."""
    to = State(to)
    now = timezone.now()
    allowed_from = [state for state, targets in TRANSITIONS.items() if to in targets]
    with transaction.atomic():
        moved = Contract.objects.filter(pk=contract.pk, state__in=allowed_from).update(
            state=to, state_changed_at=now)
        if not moved:
            contract.refresh_from_db()  # what it became meanwhile, for the message
            raise TransitionRefused(f"a contract that is {contract.state} cannot become {to}")
        contract.state, contract.state_changed_at = to, now  # what the update wrote: no read back
        audit(contract, actor, f"contract.{to}", **detail)
    return contract


def expire_due(now: datetime | None = None) -> int:
    """Contracts past their end become expired (audited as the system's doing)."""
    now = now or timezone.now()
    count = 0
    for contract in Contract.objects.filter(state__in=[State.AUTHORIZED, State.CERTIFICATE_ISSUED],
                                            ends_at__lte=now):
        try:
            transition(contract, State.EXPIRED, "system", reason="contract period ended")
        except TransitionRefused:
            continue  # revoked meanwhile
        count += 1
    return count
