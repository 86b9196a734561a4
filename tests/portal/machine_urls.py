"""A URLconf for tests/portal/test_machine_http.py: one machine endpoint that waits
until the test lets it answer, and one that fails."""
import threading

from django.http import JsonResponse
from django.urls import path

from lib.machine_endpoint import machine_endpoint

release = threading.Event()


@machine_endpoint
def slow(request):
    release.wait(10)
    return JsonResponse({"body": request.body.decode()})


@machine_endpoint
def broken(request):
    raise RuntimeError("a bug in a view")


urlpatterns = [path("slow", slow), path("broken", broken)]
