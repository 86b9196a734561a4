"""Chargegate settings.

Everything that differs between a laptop and production comes from the environment;
the defaults are the *embedded* mode: SQLite, the in-memory channel layer and Celery
tasks run eagerly in-process, so `make run` needs neither Redis nor PostgreSQL.
"""
import os
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url

from lib.timestamps import RFC3339_UTC_FORMAT
from portal.logging import REFUSAL_LOGGERS

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("CHARGEGATE_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = env_bool("DEBUG", False)
PORT = int(os.environ.get("PORT", "8000"))
PUBLIC_URL = os.environ.get("PUBLIC_URL", f"http://127.0.0.1:{PORT}").rstrip("/")
# `GET /metrics` (portal/metrics.py) is served only with this bearer token; unset: off.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")

SECRET_KEY = os.environ.get("SECRET_KEY", "")
SECRET_KEY_IS_DEVELOPMENT_KEY = not SECRET_KEY
if not SECRET_KEY:
    if PUBLIC_URL.startswith("https://"):
        # Served over TLS means production: refuse to sign sessions with a known key.
        raise RuntimeError("SECRET_KEY must be set when PUBLIC_URL is https://")
    # Embedded mode only: a key that is stable per checkout, never shipped. A server
    # bound beyond the loopback refuses to start with it (portal/startup.py).
    SECRET_KEY = "embedded-insecure-" + str(BASE_DIR)
_public_host = urlsplit(PUBLIC_URL).hostname or "127.0.0.1"
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h] or [
    _public_host,
    "127.0.0.1",
    "localhost",
]
CSRF_TRUSTED_ORIGINS = [PUBLIC_URL]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    # Swagger UI's assets, served from our static files (/api/docs/ loads nothing from a CDN).
    "drf_spectacular_sidecar",
    "oauth2_provider",
    # `request.htmx`: the portal answers an htmx request with the part it replaces.
    "django_htmx",
    "tenants",
    "csms",
    "oauth",
    "pnc",
    "portal",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # A chunked body's length, before anything parses it (portal.body_length).
    "portal.body_length.ChunkedBodyLengthMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Throttled sign-ins (429) and a full hashing gate (503), with Retry-After.
    "portal.middleware.CredentialRefusalMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "portal.urls"
ASGI_APPLICATION = "portal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.navigation",
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "")
# WAL lets the web process, management commands and workers share the file; the timeout
# rides out short write locks instead of failing. IMMEDIATE: a transaction takes the
# write lock when it begins, so one that read first never fails to upgrade ("database
# is locked") after another's commit.
SQLITE_OPTIONS = {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE"}
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=600,
                                                  conn_health_checks=True)}
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": VAR_DIR / "chargegate.sqlite3"}}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Any SQLite database, embedded or named by DATABASE_URL=sqlite://..., gets the same
    # options (an explicit OPTIONS entry wins).
    DATABASES["default"]["OPTIONS"] = {**SQLITE_OPTIONS, **DATABASES["default"].get("OPTIONS", {})}
# Consumers reach the database through Channels' worker thread, which closes connections
# older than this around every call; reconnecting per message would dominate its cost.
# HTTP requests close theirs when they finish (portal/db_connections.py).
DATABASES["default"]["CONN_MAX_AGE"] = 600
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Tests run live uvicorn processes against the test database, so it must be a file
    # they can share, not an in-memory database; per test process, so concurrent runs
    # in one checkout do not trample each other.
    DATABASES["default"]["TEST"] = {"NAME": VAR_DIR / f"test-chargegate-{os.getpid()}.sqlite3"}
if os.environ.get("CHARGEGATE_DB_NAME"):
    # Set by the test suite for the servers it starts: use the test database.
    DATABASES["default"]["NAME"] = os.environ["CHARGEGATE_DB_NAME"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- channel layer and Celery ------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # channels_redis, riding out a Redis outage without dropping sockets (see there).
            "BACKEND": "csms.channel_layer.ResilientRedisChannelLayer",
            "CONFIG": {
                # A connect to an unreachable host fails in seconds instead of hanging; reads
                # wait longer than channels_redis's 5 s blocking pop.
                "hosts": [{"address": REDIS_URL, "socket_connect_timeout": 5, "socket_timeout": 15}],
                "prefix": os.environ.get("CHANNEL_LAYER_PREFIX", "chargegate"),
            },
        }
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = False
else:
    # One process: channels' in-memory layer, without its per-message scans (csms/local_channel_layer.py).
    CHANNEL_LAYERS = {"default": {"BACKEND": "csms.local_channel_layer.LocalChannelLayer"}}
    CELERY_BROKER_URL = "memory://"
    CELERY_TASK_ALWAYS_EAGER = True
# The cache holds the throttle's counters: shared through Redis across processes, in
# process memory in embedded mode (one process). The throttle's known-good marks have an
# alias of their own (lib/throttle.py says why).
# A Redis that does not answer fails a handshake's throttle check in seconds, and the
# throttle then allows the attempt (lib/throttle.py), instead of holding it forever.
_CACHE_PREFIX = os.environ.get("CHANNEL_LAYER_PREFIX", "chargegate")


def _cache(name: str, max_entries: int) -> dict:
    if REDIS_URL:
        return {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                "KEY_PREFIX": f"{_CACHE_PREFIX}:{name}",
                "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2}}
    # In process memory, culled least recently used first once full: Django's default
    # of 300 entries let a flood of failures push out what the throttle had counted.
    return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": name,
            "OPTIONS": {"MAX_ENTRIES": max_entries}}


# Digest's (nonce, nc) pairs and TOTP slots seen (csms/auth/keys.py): only a right
# response writes one, held for its nonce's or slot's life, in an alias of its own so no
# flood of failures culls them. EAP's open rounds, which anyone can open, have their own.
CACHES = {"default": _cache("default", 200_000), "known_good": _cache("known-good", 1_000_000),
          "auth_replay": _cache("auth-replay", 200_000), "eap_rounds": _cache("eap-rounds", 200_000)}
# One Redis may serve several deployments (or test runs): each gets its own queue.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE", "celery")
# A task outlives its worker: acknowledged once it has run, so one whose worker is killed
# mid-way is delivered again, to another worker or the restarted one (issue 9 drills).
# Every task may run twice that way: each is idempotent (a second run finds its work
# done or refused: one open key change per station, campaigns and reapers under locks).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Redis hands a task whose worker vanished to another after this long (it must exceed
# the longest task: ours take milliseconds to seconds); workers look for such tasks every
# 10 s (kombu's default looks only every 100 s).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": float(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "300")),
    "unacked_restore_interval": 10, "unacked_restore_throttle": 1}
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "reap-orphaned-calls": {"task": "csms.tasks.reap_orphaned_calls", "schedule": 60.0},
    "reap-stale-connections": {"task": "csms.tasks.reap_stale_connections", "schedule": 30.0},
    "retry-failed-key-changes": {"task": "csms.tasks.retry_failed_key_changes", "schedule": 60.0},
    "rotate-expiring-keys": {"task": "csms.tasks.rotate_expiring_keys", "schedule": 3600.0},
    "advance-campaigns": {"task": "csms.tasks.advance_campaigns", "schedule": 15.0},
    "purge-expired-oauth-records": {"task": "oauth.tasks.purge_expired_oauth_records", "schedule": 600.0},
    "promote-next-signing-keys": {"task": "oauth.tasks.promote_next_signing_keys", "schedule": 60.0},
    "announce-pending-revocations": {"task": "oauth.tasks.announce_pending_revocations", "schedule": 30.0},
    "expire-ended-contracts": {"task": "pnc.tasks.expire_ended_contracts", "schedule": 600.0},
}

# --- auth -------------------------------------------------------------------------------
# Every hash runs through one process-wide gate (lib/hashing.py); the first hasher sets
# the parameters of new user password hashes, and any stored argon2 hash still verifies.
PASSWORD_HASHERS = [
    "lib.hashing.Argon2Hasher",
    "lib.hashing.PBKDF2Hasher",
]
AUTHENTICATION_BACKENDS = ["portal.authentication.ThrottledModelBackend"]
AUTH_HASHING = {
    # At most this many argon2 runs at once: peak memory is CONCURRENCY × m (46 MiB for
    # users, 19 MiB for keys and client secrets; 100 MiB for a user hash from before).
    "CONCURRENCY": int(os.environ.get("AUTH_HASH_CONCURRENCY", str(max(1, min(os.cpu_count() or 1, 8))))),
    # A request that cannot get a slot within this, or finds this many already waiting,
    # gets 503 + Retry-After rather than a pile of waiting threads.
    "WAIT_SECONDS": 5.0,
    "MAX_WAITING": 64,
}
# Failed credential checks, throttled (lib/throttle.py; the rules are in its docstring
# and docs/security.md). AUTH_THROTTLE=off exists for load tests and the test suite.
AUTH_THROTTLE = {
    "ENABLED": env_bool("AUTH_THROTTLE", True),
    "WINDOW_SECONDS": int(os.environ.get("AUTH_THROTTLE_WINDOW_SECONDS", "300")),
    "KNOWN_GOOD_SECONDS": 30 * 24 * 3600,
    "users": {"PAIR": 5, "SOURCE": 50, "SUBJECT": 20, "LANE_SECONDS": 30},
    "clients": {"PAIR": 10, "SOURCE": 100, "SUBJECT": 50, "LANE_SECONDS": 5},
    "stations": {"PAIR": 10, "SOURCE": 100, "SUBJECT": 30, "LANE_SECONDS": 5},
}
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Also serve what the finders find (static/, the apps'), not only what collectstatic
# copied: a server started without it (the tests' live servers, a hand-run
# `python -m portal.serve`) still has the portal's CSS, htmx and charts. Read once at start.
WHITENOISE_USE_FINDERS = True

SESSION_COOKIE_SECURE = PUBLIC_URL.startswith("https://")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- OAuth authorization servers ---------------------------------------------------------
# 32 random bytes, base64: seals the tenants' signing keys at rest. Unset (embedded
# mode): derived from SECRET_KEY. Set it in production, and keep it apart from backups.
OAUTH_KEY_ENCRYPTION_KEY = os.environ.get("OAUTH_KEY_ENCRYPTION_KEY", "")
OAUTH = {
    "DEFAULT_SIGNING_ALG": os.environ.get("OAUTH_SIGNING_ALG", "ES256"),
    # The longest a token may live: a rotated-out signing key stays published this long.
    "MAX_TOKEN_LIFETIME_SECONDS": 3600,
    "ACCESS_TOKEN_SECONDS": 600,
    # A charging station's access token (Bearer, docs/station-auth.md): presented once per
    # connection, so it can be short.
    "STATION_TOKEN_SECONDS": int(os.environ.get("OAUTH_STATION_TOKEN_SECONDS", "300")),
    "REFRESH_TOKEN_SECONDS": 30 * 24 * 3600,
    "AUTHORIZATION_CODE_SECONDS": 60,
    "PAR_SECONDS": 60,
    # From opening a request_uri to the driver's decision (login included).
    "INTERACTION_SECONDS": 600,
    # JWT assertions (RFC 7523): clock skew allowed, and the longest validity accepted.
    "ASSERTION_LEEWAY_SECONDS": int(os.environ.get("OAUTH_ASSERTION_LEEWAY_SECONDS", "30")),
    # An hour: what common clients (Authlib, Nimbus) sign by default; the jti is kept
    # that long, so a longer bound only costs storage, a shorter one refuses real clients.
    "ASSERTION_MAX_LIFETIME_SECONDS": int(os.environ.get("OAUTH_ASSERTION_MAX_LIFETIME_SECONDS", "3600")),
    # A rotated-in signing key is published this long before it signs, so relying parties
    # that cache the JWKS (a day is common) know it before they meet it (oauth.signing_keys).
    "KEY_PUBLISH_AHEAD_SECONDS": int(os.environ.get("OAUTH_KEY_PUBLISH_AHEAD_SECONDS", "86400")),
    # A station token's revocation whose announcement (closing its connection) did not
    # complete this long after it is announced again (oauth.revocation.announce_pending).
    "REVOCATION_RETRY_SECONDS": 30,
}
# django-oauth-toolkit: our swapped models; its engine settings are unused (the endpoints
# are ours) except those its models read.
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth.Client"
OAUTH2_PROVIDER_GRANT_MODEL = "oauth.Grant"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "oauth.AccessToken"
OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL = "oauth.RefreshToken"
OAUTH2_PROVIDER_ID_TOKEN_MODEL = "oauth.IDToken"
OAUTH2_PROVIDER = {
    "PKCE_REQUIRED": True,
    "CLIENT_SECRET_HASHER": "argon2",
    # RFC 9700 §4.14: refresh tokens stored as checksums only.
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
}

# --- REST ------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Users of the portal: session (browser) or HTTP Basic (scripts, over TLS), and the
    # clients of the tenant's own authorization server with their access tokens (verified
    # against the tenant in the URL; what they may do: csms.api_access). Listed here, in
    # the project, because csms may not import oauth. Basic first: DRF takes the first
    # class's challenge for its 401.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.BasicAuthentication",
        "rest_framework.authentication.SessionAuthentication",
        "oauth.token_authentication.BearerTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["lib.api.TimestampJSONRenderer"],
    # DRF's own three, with JSON nested too deeply refused (400), not a RecursionError.
    "DEFAULT_PARSER_CLASSES": ["lib.api.JSONBodyParser", "rest_framework.parsers.FormParser",
                               "rest_framework.parsers.MultiPartParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Every API error is RFC 9457 problem+json (docs/api.md).
    "EXCEPTION_HANDLER": "lib.api.problem_exception_handler",
    # Times as everywhere else (lib.timestamps): RFC 3339, UTC (TIME_ZONE), `Z`, whole seconds.
    "DATETIME_FORMAT": RFC3339_UTC_FORMAT,
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Chargegate API",
    "VERSION": "1",
    "DESCRIPTION": "Per tenant, under /api/v1/tenants/<tenant>/: the operator API — stations, imports, key "
                   "changes, campaigns, onboarding, station authentication policy and the audit log (portal "
                   "users by session or Basic, or the tenant's own access tokens with scopes operator:read, "
                   "operator:write, operator:admin) — and the eMSP's Plug & Charge contracts, certificates, CAs and CRLs (the tenant's own access "
                   "tokens, scopes emsp:read and emsp:write). Errors are RFC 9457 problem+json. See docs/api.md.",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a `state`: each its own enum name.
    "ENUM_NAME_OVERRIDES": {
        "CampaignStateEnum": "csms.models.RotationCampaign.State",
        "CampaignMemberStateEnum": "csms.models.CampaignMember.State",
        "CredentialChangeStateEnum": "csms.models.CredentialChange.State",
    },
}

# Machine endpoints (the AS back channel: PAR, token, introspection, revocation) run on a
# pool of their own with persistent connections (portal/machine_http.py). When all its
# threads are busy and MAX_WAITING requests wait, the next one gets 503 + Retry-After.
# SQLite admits one writer at a time: more threads than two only queue on its lock, and
# its busy-wait sleeps make the tail (p99 443 ms with 8 threads, 48 ms with 2).
WEB_MACHINE_HTTP = {
    "THREADS": int(os.environ.get("WEB_MACHINE_THREADS",
                                  "2" if DATABASES["default"]["ENGINE"].endswith("sqlite3") else "8")),
    "MAX_WAITING": int(os.environ.get("WEB_MACHINE_MAX_WAITING", "64")),
}

# --- CSMS -------------------------------------------------------------------------------
CSMS = {
    # How long an EAP round (a Request awaiting its Response, csms/auth/eap.py) stays open.
    "EAP_ROUND_SECONDS": int(os.environ.get("CSMS_EAP_ROUND_SECONDS", "30")),
    # How often a process writes the authentication decisions it collected (csms/auth_audit.py).
    "AUTH_AUDIT_FLUSH_SECONDS": float(os.environ.get("CSMS_AUTH_AUDIT_FLUSH_SECONDS", "1")),
    # How long the CSMS waits for a station's answer to one of its CALLs.
    "CALL_TIMEOUT_SECONDS": float(os.environ.get("CSMS_CALL_TIMEOUT_SECONDS", "30")),
    # Each process looks, in one pass for all the stations it holds (csms/held.py), for
    # queued work, a newer connection and key-change housekeeping on this period: the
    # channel-layer events are the fast path, this pass makes a lost one (or the
    # process-local in-memory layer) delay work instead of losing it.
    "RECONCILE_SECONDS": float(
        os.environ.get("CSMS_RECONCILE_SECONDS", "60" if REDIS_URL else "3")
    ),
    "BOOT_RETRY_INTERVAL": 60,
    # How long a station that accepted a settling Reset is given to carry it out (see
    # csms.credentials.reset_patience).
    "RESET_PATIENCE_SECONDS": float(os.environ.get("CSMS_RESET_PATIENCE_SECONDS", "600")),
    # Each server process records a heartbeat this often; the stations of a process
    # silent for three beats are marked offline (csms.liveness).
    "NODE_BEAT_SECONDS": float(os.environ.get("CSMS_NODE_BEAT_SECONDS", "15")),
    # Threads (and so database connections) per process for station work; see csms/db.py.
    "DB_THREADS": int(os.environ.get("CSMS_DB_THREADS", "8")),
    # A station socket's log lines (connected, disconnected, authentication failed, refused
    # before the key check): at most this many of each kind per 10 s, and this many of them
    # for one client address, the rest counted on the next line (csms.consumers).
    "LOG_LINES_PER_INTERVAL": int(os.environ.get("CSMS_LOG_LINES_PER_INTERVAL", "50")),
    "LOG_LINES_PER_PEER": int(os.environ.get("CSMS_LOG_LINES_PER_PEER", "5")),
    # A connection keeps its station's row between messages and reloads it after this
    # long (and at every BootNotification, after every key-change event, and at once on
    # a `station.changed` event): an operator's change reaches a connected station
    # within this time even where no channel-layer event reaches it.
    "STATION_FRESH_SECONDS": float(os.environ.get("CSMS_STATION_FRESH_SECONDS", "5")),
    # Everyone watching a tenant's dashboard shares its figures for this long
    # (csms.posture.shared_summary): at 100,000 stations they are some 190 ms of database
    # work, and every open dashboard asks for them every 5 s. 0: computed per request.
    "DASHBOARD_CACHE_SECONDS": float(os.environ.get("CSMS_DASHBOARD_CACHE_SECONDS", "4")),
    # Pure-state timestamps (last seen, last Heartbeat) are taken at most this often per
    # connection, and when it closes, and written for all stations of a process in one
    # transaction every STAMP_FLUSH_SECONDS (csms/stamps.py; issue 9: a commit per
    # Heartbeat was most of a Heartbeat's cost).
    "STAMP_SECONDS": float(os.environ.get("CSMS_STAMP_SECONDS", "30")),
    "STAMP_FLUSH_SECONDS": float(os.environ.get("CSMS_STAMP_FLUSH_SECONDS", "1")),
    # A connection's last frames (no payloads; csms/protocol/recent.py) are written from
    # memory this often when they changed, for all stations of a process in one
    # transaction, and when it closes (csms/recent_frames.py): what a station's page shows
    # may be this much behind while it is connected.
    "RECENT_FLUSH_SECONDS": float(os.environ.get("CSMS_RECENT_FLUSH_SECONDS", "5")),
    # Frames a station may send per second, sustained, and in a burst (a reboot's round of
    # StatusNotifications). Beyond that its connection reads no further frame until the
    # budget refills, so a flooding station is slowed and TCP holds the rest back
    # (csms/flood.py). 0 turns the budget off.
    "FRAMES_PER_SECOND": float(os.environ.get("CSMS_FRAMES_PER_SECOND", "10")),
    "FRAME_BURST": int(os.environ.get("CSMS_FRAME_BURST", "60")),
    # On SIGTERM a web process closes its station sockets spread over this long, so they
    # reconnect to the other nodes gradually (csms/drain.py). Keep it below the stop
    # timeout of what runs the process (Kubernetes' terminationGracePeriodSeconds, 30 s
    # by default, minus the preStop pause; compose's stop_grace_period).
    "DRAIN_SECONDS": float(os.environ.get("CSMS_DRAIN_SECONDS", "20")),
}

# --- logging ----------------------------------------------------------------------------
# Our code never logs credentials; portal.logging also redacts any header a library logs.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"redact": {"()": "portal.logging.RedactCredentials"},
                "refusals": {"()": "portal.logging.RefusalsInOneLine"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain",
                             "filters": ["redact"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"},
                # A refused request (4xx) is one WARNING line, without its traceback.
                **{name: {"filters": ["refusals"]} for name in REFUSAL_LOGGERS}},
}
