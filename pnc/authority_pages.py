"""The portal's page of the tenant's MO certificate authorities: their state, CRLs and
OCSP for every staff member, and for administrators the operations `manage.py pnc ca`
offers — create or import the hierarchy, roll it over (at once or staged), activate a
staged Sub-CA 2, retire what a rollover replaced. Each button calls the function the
command calls (`authorities`, `retirement`, `pki_files`), which also audits it.

Rolling over, activating and retiring ask first (`tenants.confirmation.ask_first`). An
uploaded private key is read, sealed and forgotten: never written back into a page, a
message, the audit trail or a log (the import view's locals are hidden from error
reports)."""
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_POST

from tenants.confirmation import ask_first
from tenants.models import Role

from . import authorities, pki_files, profile, retirement, revocation
from .models import CertificateAuthority
from .portal_pages import pnc_page

Level = authorities.Level
# A root, two sub-CAs and their keys take a few KiB of PEM (RSA-4096 ones under 20 KiB).
MAX_UPLOAD_BYTES = 64 * 1024
LEVEL_WORDS = {Level.SUB_CA_2: "Sub-CA 2", Level.SUB_CA_1: "Sub-CA 1 (and a Sub-CA 2 under it)",
               Level.ROOT: "the root (a whole new hierarchy)"}


def _page(tenant) -> str:
    return reverse("pnc-authorities", args=[tenant.slug])


def _authority_of(tenant, key_id: str) -> CertificateAuthority:
    row = CertificateAuthority.objects.for_tenant(tenant).filter(key_id=key_id.lower()).first()
    if row is None:
        raise Http404("no such CA")
    return row


def _cards(tenant, rows) -> list[dict]:
    issuing = next((row for row in rows if row.issuing), None)
    in_use = retirement.in_use(rows)
    return [{"ca": ca, "key_sealed": bool(ca.private_key_sealed),
             "crl_url": authorities.crl_url(tenant, ca.key_id) if ca.crl_served_here else None,
             # publish_crl() sets the next update one validity ahead of its publication.
             "crl_published": ca.crl_next_update - revocation.CRL_VALIDITY if ca.crl_next_update else None,
             "staged": authorities.is_staged(ca, issuing),
             "retirable": ca.retired_at is None and ca.pk not in in_use}
            for ca in rows]


def _status(request, tenant, import_error: str = "", status: int = 200):
    rows = authorities.hierarchy(tenant)
    return render(request, "pnc/portal/authorities.html", {
        "tenant": tenant, "rows": _cards(tenant, rows), "ocsp_url": authorities.ocsp_url(tenant),
        "levels": [(level.value, LEVEL_WORDS[level]) for level in (Level.SUB_CA_2, Level.SUB_CA_1, Level.ROOT)],
        "import_error": import_error, "max_upload_kib": MAX_UPLOAD_BYTES // 1024}, status=status)


@pnc_page()
def authority_status(request, tenant):
    return _status(request, tenant)


@require_POST
@pnc_page(Role.ADMIN)
def initialise(request, tenant):
    try:
        rows = authorities.initialise(tenant, request.user.get_username())
    except authorities.AuthorityExists as exc:
        messages.error(request, f"Not created: {exc}.")
    else:
        messages.success(request, f"The MO PKI is created: Root → Sub-CA 1 → Sub-CA 2; {rows[-1].subject} "
                                  "issues contract certificates.")
    return redirect(_page(tenant))


def _declared_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:  # not a number: Django reads such a body as empty, and so the form says what is missing
        return 0


@csrf_exempt  # a multipart body is parsed to find the token: its length is checked first (below)
@require_POST
@pnc_page(Role.ADMIN)
def import_upload(request, tenant):
    """The uploaded PEM files' certificates and keys, as `pnc ca import --pem` takes them."""
    if _declared_length(request) > MAX_UPLOAD_BYTES:
        return _status(request, tenant, f"Not imported: the files may be at most {MAX_UPLOAD_BYTES // 1024} KiB "
                                        "together.", status=413)
    return _import_checked(request, tenant)


@csrf_protect
@sensitive_post_parameters("password")
@sensitive_variables()
def _import_checked(request, tenant):
    uploads = request.FILES.getlist("certificates") + request.FILES.getlist("keys")
    if not request.FILES.getlist("certificates"):
        return _status(request, tenant, "Not imported: choose the file with the root, Sub-CA 1 and Sub-CA 2 "
                                        "certificates.", status=400)
    password = request.POST.get("password", "").encode() or None
    try:
        certificates, keys = pki_files.pems([(upload.name, upload.read()) for upload in uploads], password)
        rows = authorities.import_hierarchy(tenant, certificates, keys, request.user.get_username())
    except (pki_files.Unreadable, profile.RefusedHierarchy, authorities.AuthorityExists) as exc:
        return _status(request, tenant, f"Not imported: {exc}.", status=400)
    held = [row.get_level_display() for row in rows if row.private_key_sealed]
    messages.success(request, f"The MO PKI is imported; {rows[-1].subject} issues contract certificates. "
                              f"Keys sealed here: {', '.join(held)}.")
    return redirect(_page(tenant))


ROLLOVER_QUESTION = {Level.SUB_CA_2: "Roll over Sub-CA 2", Level.SUB_CA_1: "Roll over Sub-CA 1 and Sub-CA 2",
                     Level.ROOT: "Roll over the whole hierarchy, root included"}
WHAT_ISSUES = {
    Level.SUB_CA_2: "A new Sub-CA 2, signed by the current Sub-CA 1, issues every new contract certificate from now on.",
    Level.SUB_CA_1: "A new Sub-CA 1 under the same root, and a new Sub-CA 2 under it, which issues every new "
                    "contract certificate from now on.",
    Level.ROOT: "A new root, Sub-CA 1 and Sub-CA 2 issue every new contract certificate from now on, under a root "
                "that no station or CPO has yet: they refuse the new certificates until they install it.",
}


def rollover_consequence(level: str, staged: bool) -> str:
    """What the confirmation says a rollover does, in the words of docs/pnc.md."""
    if staged:
        return ("The new CAs are made and published at once, but the Sub-CA 2 that issues now goes on issuing "
                "until you activate the new one." + (
                    " Give relying parties the new root (the API's cas/, pnc ca show --pem) before you do."
                    if level == Level.ROOT else ""))
    return (WHAT_ISSUES[Level(level)] + " The Sub-CA 2 that issues now stops issuing, but keeps its key and goes on "
            "signing its CRL and OCSP answers, so the certificates issued under it still validate. This cannot be "
            "undone.")


@require_POST
@pnc_page(Role.ADMIN)
def rollover(request, tenant):
    level, staged = request.POST.get("level", ""), request.POST.get("staged") == "yes"
    if level not in Level.values:
        messages.error(request, f"Not rolled over: the level must be one of {', '.join(Level.values)}.")
        return redirect(_page(tenant))
    asked = ask_first(request, tenant, f"{ROLLOVER_QUESTION[Level(level)]}{', staged' if staged else ''}?",
                      rollover_consequence(level, staged), action_url=reverse("pnc-ca-rollover", args=[tenant.slug]),
                      cancel_url=_page(tenant), title="MO PKI rollover")
    if asked:
        return asked
    try:
        rows = authorities.rollover(tenant, level, request.user.get_username(), staged=staged)
    except authorities.NoAuthority as exc:
        messages.error(request, f"Not rolled over: {exc}.")
    else:
        messages.success(request, f"New: {', '.join(row.subject for row in rows)}. " + (
            f"{rows[-1].subject} is staged: activate it once relying parties have what they need." if staged
            else f"{rows[-1].subject} issues contract certificates now."))
    return redirect(_page(tenant))


@require_POST
@pnc_page(Role.ADMIN)
def activate(request, tenant, key_id):
    row = _authority_of(tenant, key_id)
    asked = ask_first(request, tenant, f"Issue from {row.subject}?",
                      "It signs every new contract certificate from now on, and the Sub-CA 2 that issues now stops "
                      "(it keeps its CRL and OCSP). Stations and CPOs that do not trust its root yet refuse the new "
                      "certificates.", action_url=reverse("pnc-ca-activate", args=[tenant.slug, row.key_id]),
                      cancel_url=_page(tenant), title=row.subject)
    if asked:
        return asked
    try:
        authorities.activate(tenant, row.key_id, request.user.get_username())
    except authorities.NotActivatable as exc:
        messages.error(request, f"Not activated: {exc}.")
    else:
        messages.success(request, f"{row.subject} issues contract certificates now.")
    return redirect(_page(tenant))


@require_POST
@pnc_page(Role.ADMIN)
def retire(request, tenant, key_id):
    row = _authority_of(tenant, key_id)
    family = retirement.with_descendants(row)
    below = f" and the {len(family) - 1} CA(s) below it" if len(family) > 1 else ""
    asked = ask_first(request, tenant, f"Retire {row.subject}{below}?",
                      "Their private keys are erased for good, after each signs a final CRL, which stays served. "
                      "They can never sign again: OCSP about what they signed answers “unauthorized”. Refused "
                      "while a certificate they issued is still valid. This cannot be undone.",
                      action_url=reverse("pnc-ca-retire", args=[tenant.slug, row.key_id]),
                      cancel_url=_page(tenant), title=row.subject)
    if asked:
        return asked
    try:
        retired = retirement.retire(tenant, row.key_id, request.user.get_username())
    except retirement.RetireRefused as exc:
        messages.error(request, f"Not retired: {exc}.")
    else:
        messages.success(request, f"Retired, keys erased: {', '.join(r.subject for r in retired)}.")
    return redirect(_page(tenant))
