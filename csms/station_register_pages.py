"""Registering stations in the portal: one at a time (`station add`'s rules, through the
REST API's serializer and `api.register`) or a CSV file (`station import`'s, through
`station_import.check_file`), and the import's progress.

A file is checked whole before anything is written; its problems are listed by line.
A good file is imported in the background (csms/import_jobs.py) and its page shows a
progress bar that htmx refreshes until the import ends. A key typed or uploaded is never
written back into a page; a generated one is shown once."""
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from rest_framework import exceptions

from lib.api import Conflict
from tenants.access import tenant_page
from tenants.models import Role

from . import api, import_jobs, station_import
from .api_imports import ImportRequestSerializer, csv_text
from .models import RegistrationStatus, Station
from .pages import flat_errors
from .protocol.versions import SUPPORTED
from .station_credential_pages import shown_once

MAX_ROWS = 20_000  # a file in the background may be larger than a REST request's (api_imports.MAX_ROWS)
KEY_CHOICES = {"generate": "generate_key", "key": "key", "master": "master_key"}


def register_form(request, tenant, errors=None, status=200):
    values = {k: v for k, v in request.POST.items() if k in ("identity", "registration_setting", "key_choice")}
    return render(request, "csms/station_register.html", {
        "tenant": tenant, "errors": errors or {}, "values": values, "protocols": list(SUPPORTED),
        "chosen_protocols": request.POST.getlist("allowed_protocols") or list(SUPPORTED),
        "registrations": RegistrationStatus.choices}, status=status)


@tenant_page(Role.OPERATOR)
def register(request, tenant):
    """GET: the form. POST: the station with its first key (generated: shown once)."""
    if request.method != "POST":
        return register_form(request, tenant)
    choice = KEY_CHOICES.get(request.POST.get("key_choice", ""), "")
    data = {"identity": request.POST.get("identity", ""),
            "registration_setting": request.POST.get("registration_setting", RegistrationStatus.ACCEPTED),
            "allowed_protocols": request.POST.getlist("allowed_protocols"),
            "generate_key": choice == "generate_key"}
    if choice in ("key", "master_key"):
        data[choice] = request.POST.get(choice, "").strip()
    body = api.RegistrationSerializer(data=data)
    if not body.is_valid():
        return register_form(request, tenant, flat_errors(body.errors), status=400)
    try:
        shown = api.register(tenant, body.validated_data, request.user.get_username())
    except Conflict as exc:
        return register_form(request, tenant, {"identity": [str(exc.detail)]}, status=409)
    station = Station.objects.for_tenant(tenant).select_related("tenant", "credential").get(
        identity=shown["identity"])
    if "key" in shown:
        return shown_once(request, station, title="Key", secret=shown["key"], method="basic",
                          facts=[("Identity", station.identity), ("Registration", station.registration_status)])
    messages.success(request, f"{station.identity} registered.")
    return redirect(reverse("station-detail", args=[tenant.slug, station.identity]))


def import_form(request, tenant, errors=None, problems=(), status=200):
    return render(request, "csms/station_import.html", {
        "tenant": tenant, "errors": errors or {}, "problems": problems, "max_rows": MAX_ROWS,
        "values": {k: request.POST.get(k) for k in ("keys_are_random", "skip_existing")}}, status=status)


@tenant_page(Role.OPERATOR)
def import_csv(request, tenant):
    """GET: the form. POST: the file checked whole; its problems by line (nothing
    written), or the import started and its progress page."""
    if request.method != "POST":
        return import_form(request, tenant)
    data = {name: request.POST[name] for name in ("master_key",) if request.POST.get(name, "").strip()}
    data.update({name: request.POST.get(name) == "yes" for name in ("keys_are_random", "skip_existing")})
    if "file" not in request.FILES:
        return import_form(request, tenant, {"file": ["choose a CSV file"]}, status=400)
    data["file"] = request.FILES["file"]
    body = ImportRequestSerializer(data=data)
    if not body.is_valid():
        return import_form(request, tenant, flat_errors(body.errors), status=400)
    options = body.validated_data
    try:
        checked = station_import.check_file(tenant, csv_text(options), options.get("master_key"), max_rows=MAX_ROWS,
                                            keys_are_random=options["keys_are_random"],
                                            skip_existing=options["skip_existing"], name=options["file"].name)
    except exceptions.ValidationError as exc:  # too large, not UTF-8 (csv_text)
        return import_form(request, tenant, flat_errors(exc.detail), status=400)
    except station_import.FileRefused as exc:
        return import_form(request, tenant, {"file": [str(exc)]}, status=400)
    if checked.errors:
        return import_form(request, tenant, problems=station_import.shown_errors(checked.errors), status=400)
    try:
        job_id = import_jobs.start(tenant, checked, options.get("master_key"),
                                   keys_are_random=options["keys_are_random"], actor=request.user.get_username())
    except import_jobs.ImportsBusy as exc:
        busy = import_form(request, tenant, {"file": [f"Not started: {exc}."]}, status=503)
        busy["Retry-After"] = str(exc.retry_after)
        return busy
    return redirect(reverse("station-import-job", args=[tenant.slug, job_id]))


@tenant_page()
def import_job(request, tenant, job_id):
    job = import_jobs.status(tenant, job_id)
    if job is None:
        raise Http404("No such import")
    context = {"tenant": tenant, "job": job, "job_id": job_id}
    if request.htmx and request.htmx.target == "import-live":
        return render(request, "csms/_station_import_live.html", context)
    return render(request, "csms/station_import_job.html", context)
