"""The portal's Plug & Charge pages (eMSP tenants): the contracts drivers approved, and
one contract with its certificates and its revocation (the CA page and its operations:
pnc/authority_pages.py). The list is filtered by the REST API's own `ContractFilter`,
and revoking calls `revocation.revoke_contract`, as the API's revoke and
`manage.py pnc contract revoke` do (the contract, its certificate, the CRL, the tokens).

Viewers read; operators revoke; administrators manage the CAs (the section's role rule
is in oauth/page_access.py)."""
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from rest_framework.exceptions import ValidationError

from tenants.access import tenant_page
from tenants.confirmation import ask_first
from tenants.models import Role

from . import authorization_details, contracts, emaid, profile, revocation
from .api import ContractFilter, certificate_state
from .models import Contract

PAGE_SIZE = 50


def pnc_page(role: str = Role.VIEWER):
    """An eMSP's page (`pnc ca init` and the eMSP API take eMSPs only); 404 elsewhere."""
    return tenant_page(role, applies=lambda tenant: tenant.is_emsp)


def contract_of(tenant, text: str) -> Contract:
    try:
        wanted = emaid.normalise(text)
    except emaid.InvalidEmaid:
        raise Http404("not an EMAID") from None
    contract = (Contract.objects.for_tenant(tenant).filter(emaid=wanted).select_related("user")
                .prefetch_related("certificates__issuer").first())
    if contract is None:
        raise Http404("no such contract")
    return contract


def _words(errors) -> str:
    return " ".join(str(message) for problems in errors.values() for message in problems)


@pnc_page()
def contract_list(request, tenant):
    query = request.GET.copy()
    query.pop("page", None)
    found = ContractFilter(query, queryset=Contract.objects.for_tenant(tenant).select_related("user"))
    try:
        error = "" if found.is_valid() else _words(found.errors)
        rows = Contract.objects.none() if error else found.qs  # newest first (Contract.Meta)
    except ValidationError as exc:  # the EMAID filter's own check (the API answers 400 with it)
        error, rows = _words(exc.detail), Contract.objects.none()
    return render(request, "pnc/portal/contract_list.html", {
        "tenant": tenant, "page": Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page")),
        "query": query.urlencode(), "error": error, "states": Contract.State.choices,
        "chosen_states": request.GET.getlist("state"), "emaid_text": request.GET.get("emaid", "")},
        status=400 if error else 200)


@pnc_page()
def contract_detail(request, tenant, emaid_text):
    contract = contract_of(tenant, emaid_text)
    certificates = [(c, certificate_state(c)) for c in contract.certificates.all()]
    return render(request, "pnc/portal/contract_detail.html", {
        "tenant": tenant, "contract": contract, "emaid": emaid.hyphenated(contract.emaid),
        "terms": authorization_details.describe(contract.authorization_detail), "certificates": certificates,
        "revocable": contract.state in revocation.STANDING, "reasons": profile.REASONS})


@require_POST
@pnc_page(Role.OPERATOR)
def contract_revoke(request, tenant, emaid_text):
    contract = contract_of(tenant, emaid_text)
    shown, detail = emaid.hyphenated(contract.emaid), reverse("pnc-contract-detail", args=[tenant.slug, emaid_text])
    reason = request.POST.get("reason", "unspecified")
    if reason not in profile.REASONS:
        messages.error(request, f"Not revoked: the reason must be one of {', '.join(profile.REASONS)}.")
        return redirect(detail)
    asked = ask_first(request, tenant, f"Revoke contract {shown} ({reason})?",
                      "Its certificate is revoked with it (the CRL is republished and OCSP answers revoked at "
                      "once) and the tokens of its authorization stop working. This cannot be undone.",
                      action_url=reverse("pnc-contract-revoke", args=[tenant.slug, emaid_text]),
                      cancel_url=detail, title=shown)
    if asked:
        return asked
    try:
        revocation.revoke_contract(contract, request.user.get_username(), reason)
    except contracts.TransitionRefused as exc:
        messages.error(request, f"Not revoked: {exc}.")
    else:
        messages.success(request, f"Contract {shown} is revoked, and its certificate with it.")
    return redirect(detail)
