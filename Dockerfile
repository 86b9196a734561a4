# Chargegate production image. See docs/deployment.md.
#
#   docker build -t chargegate .
#   docker run --env-file .env -p 127.0.0.1:8000:8000 chargegate
#
# The same image runs every role; only the command differs (docker-compose.yml):
# the web server (default, `python -m portal.serve`), `python manage.py migrate`, `celery -A portal worker|beat`.
FROM python:3.11-slim

# PYTHONPATH: run from the source tree in /app, not from the installed copy. Settings
# locate templates/, static/ and var/ relative to the checkout, and app templates and
# migrations live beside the code; `pip install .` below provides the dependencies.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app

RUN groupadd --system --gid 10001 chargegate \
 && useradd --system --uid 10001 --gid chargegate --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin chargegate

WORKDIR /app

# Dependencies first, read from pyproject.toml, so this layer survives code changes.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

# The code stays owned by root: the service user can read it, not change it.
# collectstatic gets a throwaway SECRET_KEY for that one command; no layer keeps it.
# var/ is the only writable place in /app (SQLite in embedded mode); the collected
# static files under it stay root-owned.
COPY . .
RUN pip install . \
 && rm -rf build ./*.egg-info \
 && SECRET_KEY=collectstatic-only-not-a-secret python manage.py collectstatic --noinput \
 && chown chargegate:chargegate /app/var

USER chargegate

EXPOSE 8000

# Plain HTTP on loopback, from inside the container. The Host header is the public
# one, so the probe passes ALLOWED_HOSTS however that is configured.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.parse, urllib.request as r; port = os.environ.get('PORT') or '8000'; host = urllib.parse.urlsplit(os.environ.get('PUBLIC_URL', '')).netloc or '127.0.0.1'; r.urlopen(r.Request(f'http://127.0.0.1:{port}/healthz', headers={'Host': host}), timeout=4)"]

# portal.serve is uvicorn with a request-head deadline, 414/431 answers, a socket cap
# and the OCPP frame limit as --ws-max-size (docs/security.md); it takes uvicorn's options.
# sh -c so that PORT and FORWARDED_ALLOW_IPS expand; exec so the server gets SIGTERM.
# Trusting every forwarder ("*") is only right while nothing but the TLS-terminating
# proxy can reach this port; narrow it with FORWARDED_ALLOW_IPS otherwise.
CMD ["sh", "-c", "exec python -m portal.serve --host 0.0.0.0 --port ${PORT:-8000} --proxy-headers --forwarded-allow-ips=\"${FORWARDED_ALLOW_IPS:-*}\""]
