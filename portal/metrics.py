"""`GET /metrics`: this process's Prometheus metrics (the station handshakes of
csms/handshake_metrics.py, and prometheus-client's process and Python collectors).

Off unless `METRICS_TOKEN` is set, and then only with `Authorization: Bearer <token>`:
the figures name tenants and show who is failing to authenticate, and "only from
loopback" would not hold behind a reverse proxy on the same host. Per process: behind a
load balancer, scrape each web process (each pod) rather than the balanced address
(docs/deployment.md, "Metrics").
"""
import hmac

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest


@require_GET
def metrics(request):
    token = settings.METRICS_TOKEN
    if not token:
        return HttpResponse("metrics are off: set METRICS_TOKEN to serve them\n", status=404,
                            content_type="text/plain; charset=utf-8")
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), token.encode()):
        response = HttpResponse("send Authorization: Bearer <METRICS_TOKEN>\n", status=401,
                                content_type="text/plain; charset=utf-8")
        response["WWW-Authenticate"] = 'Bearer realm="Chargegate metrics"'
        return response
    response = HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
