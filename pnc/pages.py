"""The driver's page (`/my/`): their own contracts and the approvals they gave, with a
way to revoke either — never the fleet. Every query is the signed-in user's, within a
tenant they belong to; anything else is 404. Destructive actions ask first (a GET shows
what will happen, the POST does it)."""
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from oauth import approvals
from tenants.models import Tenant

from . import authorization_details, contracts, emaid, revocation
from .models import Contract

# What a driver may say when revoking a contract, and the CRL reason it becomes.
REASONS = {
    "cessationOfOperation": "I no longer need this contract",
    "keyCompromise": "My car or its contract key may be in the wrong hands",
}


@dataclass(frozen=True)
class ContractView:
    contract: Contract
    emaid: str
    lines: list[tuple[str, str]]
    certificate: str  # in words
    revocable: bool


def _certificate_state(contract: Contract) -> str:
    certificate = next(iter(contract.certificates.all()), None)  # newest first
    if certificate is None:
        return "not issued yet" if contract.state == Contract.State.AUTHORIZED else "none issued"
    if certificate.revoked_at is not None:
        return f"revoked on {_day(certificate.revoked_at)}"
    if certificate.not_after <= timezone.now():
        return f"expired on {_day(certificate.not_after)}"
    return f"valid until {_day(certificate.not_after)}"


def _day(moment) -> str:
    return f"{moment.day} {moment:%B %Y}"  # 2 December 2027, as the consent screen writes dates


def _contract_view(contract: Contract) -> ContractView:
    return ContractView(contract, emaid.hyphenated(contract.emaid),
                        authorization_details.describe(contract.authorization_detail), _certificate_state(contract),
                        contract.state in revocation.STANDING)


def _tenants(user):
    return Tenant.objects.filter(memberships__user=user, is_emsp=True).order_by("name")


def _tenant(user, slug: str) -> Tenant:
    tenant = _tenants(user).filter(slug=slug).first()
    if tenant is None:
        raise Http404("no such eMSP for you")
    return tenant


def _own_contract(request, slug: str, text: str) -> Contract:
    tenant = _tenant(request.user, slug)
    try:
        wanted = emaid.normalise(text)
    except emaid.InvalidEmaid:
        raise Http404("not an EMAID") from None
    contract = (Contract.objects.for_tenant(tenant).filter(user=request.user, emaid=wanted)
                .select_related("tenant", "client").prefetch_related("certificates").first())
    if contract is None:
        raise Http404("no such contract of yours")
    return contract


def _own_approval(request, slug: str, pk: int):
    tenant = _tenant(request.user, slug)
    grant = approvals.in_force(request.user, tenant).filter(pk=pk).first()
    if grant is None:
        raise Http404("no such approval of yours in force")
    return tenant, grant


@login_required
def my_page(request):
    sections = []
    for tenant in _tenants(request.user):
        own = (Contract.objects.for_tenant(tenant).filter(user=request.user).select_related("client")
               .prefetch_related("certificates"))
        given = [approvals.describe(g) for g in approvals.in_force(request.user, tenant)]
        contract_of = dict(own.exclude(grant=None).values_list("grant_id", "emaid"))
        sections.append({"tenant": tenant, "contracts": [_contract_view(c) for c in own[:100]],
                         "approvals": [(a, emaid.hyphenated(contract_of[a.grant.pk]) if a.grant.pk in contract_of
                                        else None) for a in given[:100]]})
    return render(request, "pnc/my.html", {"sections": sections})


@login_required
@require_http_methods(["GET", "POST"])
def revoke_contract(request, tenant, emaid_text):
    contract = _own_contract(request, tenant, emaid_text)
    context = {"view": _contract_view(contract), "reasons": REASONS, "chosen": "cessationOfOperation"}
    if request.method == "GET":
        return render(request, "pnc/revoke_contract.html", context)
    reasons = request.POST.getlist("reason")  # one: `.get` would take the last of several
    reason = reasons[0] if len(reasons) == 1 else ""
    if reason not in REASONS:
        return render(request, "pnc/revoke_contract.html", {**context, "error": "Choose why you revoke it."},
                      status=400)
    try:
        revocation.revoke_contract(contract, request.user.get_username(), reason)
    except contracts.TransitionRefused:
        contract.refresh_from_db()
        return render(request, "pnc/revoke_contract.html",
                      {**context, "error": f"This contract is {contract.get_state_display().lower()} already."},
                      status=409)
    messages.success(request, f"Contract {emaid.hyphenated(contract.emaid)} is revoked, and its certificate with it.")
    return redirect("pnc-my")


@login_required
@require_http_methods(["GET", "POST"])
def withdraw_approval(request, tenant, pk):
    t, grant = _own_approval(request, tenant, pk)
    approval = approvals.describe(grant)
    if request.method == "GET":
        contract = Contract.objects.for_tenant(t).filter(grant=grant, state__in=revocation.STANDING).first()
        return render(request, "pnc/withdraw_approval.html", {
            "tenant": t, "approval": approval, "contract": contract and emaid.hyphenated(contract.emaid)})
    approvals.withdraw(grant, request.user.get_username())
    name = grant.application.name if grant.application else "the client"
    messages.success(request, f"Your approval for {name} is withdrawn: its access ends now.")
    return redirect("pnc-my")
