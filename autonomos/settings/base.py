"""Settings shared by every environment. Values come from the environment (django-environ).

Environment-specific modules (local, production, test) import from here and override.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
env_file = BASE_DIR / ".env"
if env_file.exists():
    environ.Env.read_env(str(env_file))


def _positive_int(name: str, default: int) -> int:
    """An integer setting that must be > 0; a bad value is a configuration error, not a crash later."""
    try:
        value = env.int(name, default=default)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"{name} must be an integer") from exc
    if value <= 0:
        raise ImproperlyConfigured(f"{name} must be > 0, got {value}")
    return value


def _non_negative_int(name: str, default: int) -> int:
    """An integer setting that must be >= 0."""
    try:
        value = env.int(name, default=default)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"{name} must be an integer") from exc
    if value < 0:
        raise ImproperlyConfigured(f"{name} must be >= 0, got {value}")
    return value


# Per-install secrets (autonomos/core/secrets.py), with no default here: `make run` (and local settings)
# create var/secrets.env (AUTONOMOS_SECRETS_FILE) with mode 600; like .env it never overrides a real
# environment variable. Production refuses to start without good ones (production.py).
SECRETS_FILE = BASE_DIR / env("AUTONOMOS_SECRETS_FILE", default="var/secrets.env")
if SECRETS_FILE.exists():
    environ.Env.read_env(str(SECRETS_FILE))
SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
# The SECRET_KEY before the last rotation (`manage.py rotate_secrets --secret-key`): sessions and signed
# values made with it stay valid until the next rotation.
SECRET_KEY_FALLBACKS = env.list("DJANGO_SECRET_KEY_FALLBACKS", default=[])
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS", default=["localhost", ".localhost", "127.0.0.1", "testserver", ".testserver"]
)

# --- Tenancy ----------------------------------------------------------------------------------
TENANT_BASE_DOMAIN = env("TENANT_BASE_DOMAIN", default="localhost")
TENANT_MODEL = "tenants.Tenant"
TENANT_DOMAIN_MODEL = "tenants.Domain"
PUBLIC_SCHEMA_NAME = "public"
SHOW_PUBLIC_IF_NO_TENANT_FOUND = False
# Seconds a process keeps the tenant of a host and the user of a token (tenants/caching.py);
# a change made in the process clears them at once, other processes see it within this time.
TENANT_CACHE_SECONDS = env.float("TENANT_CACHE_SECONDS", default=5.0)
AUTH_USER_CACHE_SECONDS = env.float("AUTH_USER_CACHE_SECONDS", default=5.0)

SHARED_APPS = [
    "django_tenants",
    "tenants",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Django's admin with the platform's site: staff on the public host, roles on a tenant's host.
    "autonomos.core.admin_apps.PlatformAdminConfig",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "axes",  # login lockouts of the public host (platform staff on its admin)
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served from here (no CDN: the CSP allows 'self' only)
    "csp",
    "channels",
    # Beat's schedules live in the public schema; each tenant's periodic task carries its tenant in
    # its headers (dcl/schedules/, docs/adr/0017-schedules-and-freshness.md).
    "django_celery_beat",
]
# Users, sessions and token blacklists live in each tenant's schema: a user id means nothing
# outside its tenant, which is why the JWT carries the tenant id (tenants/auth.py).
TENANT_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "autonomos.core.admin_apps.PlatformAdminConfig",
    "rest_framework_simplejwt.token_blacklist",
    "axes",  # login lockouts of a tenant's users, in its own schema: usernames repeat across tenants
    "tenants.members",
    "tenants.money",
    "connectors",
    "aam",
    "dcl",
    "agents",
]
INSTALLED_APPS = list(SHARED_APPS) + [app for app in TENANT_APPS if app not in SHARED_APPS]

MIDDLEWARE = [
    "tenants.middleware.TenantHostMiddleware",
    "autonomos.core.middleware.RequestSizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "autonomos.core.roles.RoleMiddleware",
    "autonomos.core.middleware.SessionTenantMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a login that axes locked out into the lockout page (autonomos/core/login.py).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "autonomos.urls"
PUBLIC_SCHEMA_URLCONF = "autonomos.urls_public"
WSGI_APPLICATION = "autonomos.wsgi.application"
ASGI_APPLICATION = "autonomos.asgi.application"

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
                "autonomos.core.context_processors.tenant",
                "autonomos.core.context_processors.role",
            ],
        },
    },
]

# --- Databases --------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/autonomos")}
DATABASES["default"]["ENGINE"] = "django_tenants.postgresql_backend"
# --- Serving (docs/adr/0008-api-serving.md) ---------------------------------------------------
# uvicorn worker processes (scripts/run.sh) and, in each, the threads that run sync requests.
WEB_CONCURRENCY = _positive_int("WEB_CONCURRENCY", 2)
WEB_THREADS = _positive_int("WEB_THREADS", 16)

# Connections come from a psycopg pool per process: Django closes its connection at the end of
# each request, which hands it back to the pool instead of hanging up (CONN_MAX_AGE > 0 under ASGI
# left one open connection behind per finished request thread). django-tenants sets the
# search_path again on the first cursor after every checkout, so a pooled connection never carries
# one tenant's schema into another tenant's request (tests/core/test_db_pool.py).
DATABASE_POOL = env.bool("DATABASE_POOL", default=True)
if DATABASE_POOL:
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=1),
        # A thread holds at most one connection: more than WEB_THREADS would never be used by the web.
        "max_size": _positive_int("DATABASE_POOL_MAX_SIZE", WEB_THREADS),
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=10.0),
        "max_idle": 300,
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASE_ROUTERS = ["django_tenants.routers.TenantSyncRouter"]
# One `SET search_path` per connection checkout and tenant switch instead of one per cursor:
# django-tenants forgets the path it set whenever the connection is closed (returned to the pool),
# rolled back or switched to another tenant, so the next cursor sets it again.
TENANT_LIMIT_SET_CALLS = env.bool("TENANT_LIMIT_SET_CALLS", default=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")

CACHES = {
    "default": {
        # Django's RedisCache with one connection pool per process (autonomos/core/cache.py).
        "BACKEND": "autonomos.core.cache.SharedRedisCache",
        "LOCATION": REDIS_URL,
        # Every cache key carries the tenant hash tag (autonomos/core/redis.py).
        "KEY_FUNCTION": "autonomos.core.redis.cache_key",
    }
}

# --- Auth -------------------------------------------------------------------------------------
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Permissions of tenant users come from their role alone (autonomos/core/roles.py).
# Axes first: a locked-out account is refused before any password is checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "autonomos.core.roles.RoleBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

# Proxies in front of Django that append the address they got a request from to X-Forwarded-For.
# 0: none, the client is REMOTE_ADDR and X-Forwarded-For (any client can send one) is ignored.
# DRF's NUM_PROXIES, axes and the login throttles all follow it (autonomos/core/client_address.py).
TRUSTED_PROXY_COUNT = _non_negative_int("TRUSTED_PROXY_COUNT", 0)

# --- Login limits (autonomos/core/login.py) ---------------------------------------------------
# The token endpoint, the dashboard login and the admin login share two rate limits per tenant:
# DEFAULT_THROTTLE_RATES "auth" per client address and "auth_account" per username tried. Axes
# locks an account out after AXES_FAILURE_LIMIT failed logins within AXES_COOLOFF_TIME (its records
# live in the tenant's schema); an admin lifts it in the admin (Axes > Access attempts) or with
# `manage.py tenant_command axes_reset_username <username> --schema <slug>`.
AXES_FAILURE_LIMIT = _positive_int("AXES_FAILURE_LIMIT", 5)
# Minutes a lockout lasts after the last failure; 0 = until an admin lifts it.
AXES_COOLOFF_TIME = timedelta(minutes=_non_negative_int("AXES_COOLOFF_MINUTES", 15)) or None
# Per account (whatever the address) and per address + account. The account's count includes every
# pair's, so with one limit the account rule trips first; the pair rule is what axes' own check
# (axes.W006) asks for.
AXES_LOCKOUT_PARAMETERS = ["username", ["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Failures during a lockout do not extend it (they never reach the password check).
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_CLIENT_IP_CALLABLE = "autonomos.core.client_address.client_address"
AXES_LOCKOUT_CALLABLE = "autonomos.core.login.lockout_response"
AXES_VERBOSE = False  # no start-up banner in every process; failures and lockouts are still logged

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenants.auth.TenantJWTAuthentication",
        "tenants.auth.TenantSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["autonomos.core.parsers.BoundedJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "autonomos.core.pagination.Pagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "autonomos.core.api.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "auth": env("AUTH_THROTTLE_RATE", default="20/min"),  # logins and token refreshes per client address
        "auth_account": env("AUTH_ACCOUNT_THROTTLE_RATE", default="10/min"),  # logins per username tried
        "user": env("USER_THROTTLE_RATE", default="2000/min"),
    },
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
}

# JSON bodies nested deeper than this are refused with 400 before parsing (autonomos/core/parsers.py):
# Python's json module recurses once per level and a deep body raised RecursionError (a 500).
API_JSON_MAX_DEPTH = _positive_int("API_JSON_MAX_DEPTH", 64)

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=_positive_int("JWT_ACCESS_MINUTES", 5)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=_positive_int("JWT_REFRESH_DAYS", 7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": env("JWT_SIGNING_KEY", default=""),  # its own key, never SECRET_KEY (checked at start-up)
    "AUTH_HEADER_TYPES": ("Bearer",),
    "TOKEN_OBTAIN_SERIALIZER": "tenants.auth.TenantTokenObtainPairSerializer",
    "TOKEN_REFRESH_SERIALIZER": "tenants.auth.TenantTokenRefreshSerializer",
}

# A refresh token rotates, but never past this many days after the login that began it (tenants/auth.py).
JWT_REFRESH_ABSOLUTE_DAYS = _positive_int("JWT_REFRESH_ABSOLUTE_DAYS", 14)

SPECTACULAR_SETTINGS = {
    "TITLE": "AutonomOS API",
    "DESCRIPTION": (
        "Connect business systems, map them onto one canonical model, materialize unified views, run agents."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # Swagger UI from drf-spectacular-sidecar's static files, not a CDN (Content-Security-Policy).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "autonomos.core.openapi.add_error_responses",
    ],
    # aam drift/review: several choice sets share the field names kind, status, decision
    "ENUM_NAME_OVERRIDES": {
        "ConnectionKindEnum": "connectors.models.Connection.Kind",
        "DriftKindEnum": "aam.models.DriftEvent.Kind",
        "DriftStatusEnum": "aam.models.DriftEvent.Status",
        "ReviewKindEnum": "aam.models.ReviewItem.Kind",
        "ReviewStatusEnum": "aam.models.ReviewItem.Status",
        "ReviewDecisionEnum": "aam.models.ReviewDecision.Decision",
        "ReviewDecideEnum": "aam.api.drift_serializers.DECIDE_CHOICES",
        # the ontology endpoint: a field's type and a value set's kind (aam/ontology.py)
        "FieldTypeEnum": "aam.ontology.FIELD_TYPES",
        "ValueSetKindEnum": "aam.ontology.VALUE_SET_KINDS",
        # entity resolution's decisions and review items (dcl/api/resolution.py)
        "MatchDecisionKindEnum": "dcl.models.MatchDecision.Kind",
        "MatchDecisionOriginEnum": "dcl.models.MatchDecision.Origin",
        "MatchReviewStatusEnum": "dcl.models.MatchReview.Status",
        # FOCUS 1.2: CommitmentDiscountStatus and CapacityReservationStatus share their values (ADR 0030)
        "UsedUnusedEnum": ["Used", "Unused"],
    },
}

# --- Channels, Celery -------------------------------------------------------------------------
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [env("CHANNELS_REDIS_URL", default=REDIS_URL)], "prefix": "asgi"},
    }
}

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A pool process past this resident size (KiB) is replaced after its task: the backstop behind the
# memory given back after each task (autonomos/celery.py); 1 GiB by default, 0 for none.
CELERY_WORKER_MAX_MEMORY_PER_CHILD = env.int("CELERY_WORKER_MAX_MEMORY_PER_CHILD", default=1024 * 1024) or None
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=30 * 60)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=35 * 60)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_EXPIRES = 3600
# Beat reads its schedules from the database (django-celery-beat): the static ones of
# autonomos/celery.py and one per scheduled connection (dcl/schedules/).
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
DJANGO_CELERY_BEAT_TZ_AWARE = True

# --- Connection schedules (dcl/schedules/) ----------------------------------------------------
# The shortest interval a connection may be scheduled at (seconds); a cron runs at most once a minute.
SCHEDULE_MIN_INTERVAL_SECONDS = _positive_int("SCHEDULE_MIN_INTERVAL_SECONDS", 1)
# A failed scheduled run is retried after base * 2**(attempt-1) seconds, at most max seconds, at most
# SCHEDULE_MAX_RETRIES times; then it raises an alert (event, and Slack when SLACK_WEBHOOK_URL is set).
SCHEDULE_RETRY_BASE_SECONDS = _positive_int("SCHEDULE_RETRY_BASE_SECONDS", 30)
SCHEDULE_RETRY_MAX_SECONDS = _positive_int("SCHEDULE_RETRY_MAX_SECONDS", 15 * 60)
SCHEDULE_MAX_RETRIES = _non_negative_int("SCHEDULE_MAX_RETRIES", 4)
# A run recorded as running longer than this while no sync lease is held stopped without finishing
# (its worker was killed): the connection's health says failed. The sync task's hard time limit.
CONNECTION_RUN_STALE_SECONDS = _positive_int("CONNECTION_RUN_STALE_SECONDS", 3700)

# --- Events -----------------------------------------------------------------------------------
EVENTS_STREAM_MAXLEN = _positive_int("EVENTS_STREAM_MAXLEN", 500)
SSE_MAX_SECONDS = _positive_int("SSE_MAX_SECONDS", 300)

# --- AAM / DCL --------------------------------------------------------------------------------
AAM_BATCH_CHUNK_SIZE = _positive_int("AAM_BATCH_CHUNK_SIZE", 200)
AAM_REDIS_STREAM_MAXLEN = _positive_int("AAM_REDIS_STREAM_MAXLEN", 1000)
AAM_IDEMPOTENCY_TTL = _positive_int("AAM_IDEMPOTENCY_TTL", 86400)
AAM_MAX_SAMPLES_PER_TABLE = _positive_int("AAM_MAX_SAMPLES_PER_TABLE", 8)
AAM_AUTO_APPLY_THRESHOLD = env.float("AAM_AUTO_APPLY_THRESHOLD", default=0.85)
if not 0.0 < AAM_AUTO_APPLY_THRESHOLD <= 1.0:
    raise ImproperlyConfigured("AAM_AUTO_APPLY_THRESHOLD must be in (0, 1]")
DATA_DIR = Path(env("AUTONOMOS_DATA_DIR", default=str(BASE_DIR / "var" / "data")))

# --- Pipeline (aam ingest → Redis Streams → dcl) ----------------------------------------------
# Seconds a producer waits for the DCL consumer to make room in a full stream before failing.
AAM_BACKPRESSURE_TIMEOUT = env.float("AAM_BACKPRESSURE_TIMEOUT", default=300.0)
# Lease of the per-connection sync lock (renewed while the sync runs).
AAM_SYNC_LOCK_SECONDS = _positive_int("AAM_SYNC_LOCK_SECONDS", 120)
# Records per driver page (drivers clamp it to what their API allows). Every page costs a fixed number of Arrow
# compute calls per column: 20,000 instead of 5,000 saves the producer 0.8 CPU-s per million records.
AAM_SYNC_PAGE_SIZE = _positive_int("AAM_SYNC_PAGE_SIZE", 20000)
# Pages a sync reads ahead of the one it publishes, in a thread (0: none; aam/ingest/readahead.py).
AAM_SYNC_READ_AHEAD = env.int("AAM_SYNC_READ_AHEAD", default=1)
DCL_WRITER_LOCK_TIMEOUT = env.float("DCL_WRITER_LOCK_TIMEOUT", default=300.0)
# A person's value decision updates the view rows carrying that value at once, waiting at most this
# long for the DuckDB writer (a running sync); else the next sync's materialization shows it.
DCL_VALUE_APPLY_LOCK_SECONDS = env.float("DCL_VALUE_APPLY_LOCK_SECONDS", default=10.0)
# Canonical values in the views (ADR 0014). Off only to measure what they cost: `bench_ingest
# --values both` runs the same sync with and without them and prints the difference.
DCL_CANONICAL_VALUES = env.bool("DCL_CANONICAL_VALUES", default=True)
DCL_DUCKDB_THREADS = _positive_int("DCL_DUCKDB_THREADS", 2)
# DuckDB's buffer pool keeps the store's blocks up to this limit, so the consumer's RSS levels off at
# about this plus ~400 MB (Python, Arrow batches in flight): 384 MB keeps it under 800 MB.
DCL_DUCKDB_MEMORY_LIMIT = env("DCL_DUCKDB_MEMORY_LIMIT", default="384MB")
DCL_DUCKDB_CHECKPOINT_THRESHOLD = env("DCL_DUCKDB_CHECKPOINT_THRESHOLD", default="256MB")
DCL_DUCKDB_ROW_GROUP_SIZE = _positive_int("DCL_DUCKDB_ROW_GROUP_SIZE", 16384)
if DCL_DUCKDB_ROW_GROUP_SIZE % 2048:
    raise ImproperlyConfigured("DCL_DUCKDB_ROW_GROUP_SIZE must be a multiple of 2048 (DuckDB's vector size)")
# FSST (DuckDB's string compression) costs the consumer a third of its insert CPU for a 2x smaller
# store; the store is a staging area rebuilt from the sources, so ingest speed wins ("" keeps it).
DCL_DUCKDB_DISABLED_COMPRESSION = env("DCL_DUCKDB_DISABLED_COMPRESSION", default="fsst")
# Sessions that build a new view table's indexes at once (PostgreSQL also uses its parallel workers).
DCL_PG_INDEX_SESSIONS = _positive_int("DCL_PG_INDEX_SESSIONS", 2)
# Incremental views (ADR 0022): a materialization publishes only the entities whose records changed;
# a view where more than this share of its records changed is rebuilt whole instead (a fresh copy
# and index build beats an upsert of most rows). DCL_INCREMENTAL=false rebuilds every view each time.
DCL_INCREMENTAL = env.bool("DCL_INCREMENTAL", default=True)
# Seconds between two key-range comparisons of a PostgreSQL/MongoDB object with the DCL for deletes
# (ADR 0019, 0022); a connection's config `deletes_check_seconds` overrides it. 0: at every sync.
DCL_DELETES_CHECK_SECONDS = env.int("DCL_DELETES_CHECK_SECONDS", default=0)
DCL_INCREMENTAL_MAX_SHARE = env.float("DCL_INCREMENTAL_MAX_SHARE", default=0.2)
# Entity resolution (dcl/resolution/, docs/adr/0028-entity-resolution.md): Splink on the tenant's DuckDB for the
# entities of dcl.resolution.engine.ENTITIES; DCL_ER=false keeps the rules (contacts by exact e-mail).
DCL_ER = env.bool("DCL_ER", default=True)
DCL_ER_MEMORY_LIMIT = env("DCL_ER_MEMORY_LIMIT", default="512MB")  # Splink's own in-memory DuckDB
DCL_READ_COUNT = _positive_int("DCL_READ_COUNT", 250)  # batches per stream per read (one transaction)
DCL_READ_BLOCK_MS = _positive_int("DCL_READ_BLOCK_MS", 1000)  # never 0: BLOCK 0 waits forever
DCL_LINGER_MS = env.int("DCL_LINGER_MS", default=50)
DCL_IDLE_SECONDS = env.float("DCL_IDLE_SECONDS", default=2.0)
DCL_REDIS_RETRY_SECONDS = env.float("DCL_REDIS_RETRY_SECONDS", default=30.0)
DCL_EVENT_INTERVAL = env.float("DCL_EVENT_INTERVAL", default=1.0)
DCL_DEAD_LETTER_MAXLEN = _positive_int("DCL_DEAD_LETTER_MAXLEN", 100000)
# The delete guard (docs/adr/0019-deletes.md): a sync that would delete more than this share of a
# connection's records (or of one object's) deletes nothing, pauses and asks for review.
DCL_DELETE_GUARD_SHARE = env.float("DCL_DELETE_GUARD_SHARE", default=0.5)
if not 0.0 <= DCL_DELETE_GUARD_SHARE <= 1.0:
    raise ImproperlyConfigured("DCL_DELETE_GUARD_SHARE must be between 0 and 1")
# The fewest key ranges compared per object (PostgreSQL, Supabase); large objects get more (about
# 16 keys a range, at most 65,536: dcl/deletes.py key_ranges_for), so a few deletes list few keys.
DCL_DELETE_KEY_BUCKETS = _positive_int("DCL_DELETE_KEY_BUCKETS", 256)
# Seconds a page of a unified view stays in the response cache (per tenant, view version and
# normalized query; dcl/api/views.py). 0 turns the cache off (bench_api --cold).
DCL_PAGE_CACHE_SECONDS = env.int("DCL_PAGE_CACHE_SECONDS", default=300)
# The API edge (dcl/api/edge.py): cached pages answered before Django's middleware and DRF.
DCL_EDGE = env.bool("DCL_EDGE", default=True)
# Pages of a unified view rendered as JSON by PostgreSQL (dcl/selectors.py) instead of Python.
DCL_PAGE_JSON_SQL = env.bool("DCL_PAGE_JSON_SQL", default=True)

# --- AAM mapping engine (aam) -----------------------------------------------------------------
# Below AAM_AUTO_APPLY_THRESHOLD and at or above this floor a proposal becomes a review item;
# below the floor the field is left unmapped.
AAM_REVIEW_FLOOR = env.float("AAM_REVIEW_FLOOR", default=0.5)
if not 0.0 <= AAM_REVIEW_FLOOR <= AAM_AUTO_APPLY_THRESHOLD:
    raise ImproperlyConfigured("AAM_REVIEW_FLOOR must be in [0, AAM_AUTO_APPLY_THRESHOLD]")

# --- Connectors -------------------------------------------------------------------------------
# Folders a filesource connection may read; empty = the data dir and the repo's demo/ folder.
FILESOURCE_ALLOWED_ROOTS = env.list("FILESOURCE_ALLOWED_ROOTS", default=[])
FILESOURCE_MAX_UPLOAD_BYTES = _positive_int("FILESOURCE_MAX_UPLOAD_BYTES", 200 * 1024 * 1024)
FILESOURCE_MAX_FILES = _positive_int("FILESOURCE_MAX_FILES", 200)
FILESOURCE_MAX_FIELD_BYTES = _positive_int("FILESOURCE_MAX_FIELD_BYTES", 16 * 1024 * 1024)
# A CSV file with more columns is refused with a message naming both counts (uploads, schema, sync).
FILESOURCE_MAX_COLUMNS = _positive_int("FILESOURCE_MAX_COLUMNS", 2000)
CONNECTORS_HTTP_TIMEOUT = env.float("CONNECTORS_HTTP_TIMEOUT", default=30.0)
CONNECTORS_HTTP_MAX_RETRIES = env.int("CONNECTORS_HTTP_MAX_RETRIES", default=4)
CONNECTORS_HTTP_BACKOFF_BASE = env.float("CONNECTORS_HTTP_BACKOFF_BASE", default=0.5)
CONNECTORS_HTTP_MAX_WAIT = env.float("CONNECTORS_HTTP_MAX_WAIT", default=60.0)
# Off in production: a tenant must not reach the platform's own network (127.0.0.1:5432, metadata IPs).
CONNECTORS_ALLOW_PRIVATE_NETWORK = env.bool("CONNECTORS_ALLOW_PRIVATE_NETWORK", default=False)
# Keys that encrypt connection secrets at rest (Fernet), newest first; one per install in var/secrets.env
# (required in production). Keys derived from SECRET_KEY stay decryption fallbacks (connectors/secretbox.py).
# Rotate: `manage.py rotate_secrets --connection-key` (README, "Secrets").
CONNECTION_SECRETS_KEYS = env.list("CONNECTION_SECRETS_KEYS", default=[])

# --- LLM and external services ----------------------------------------------------------------
LLM_BASE_URL = env("LLM_BASE_URL", default="")
LLM_API_KEY = env("LLM_API_KEY", default="")
LLM_MODEL = env("LLM_MODEL", default="gpt-4o-mini")
LLM_TIMEOUT = env.float("LLM_TIMEOUT", default=20.0)
LLM_MAX_RETRIES = env.int("LLM_MAX_RETRIES", default=2)
SLACK_WEBHOOK_URL = env("SLACK_WEBHOOK_URL", default="")
AOD_BASE_URL = env("AOD_BASE_URL", default="")
AOD_DASHBOARD_URL = env("AOD_DASHBOARD_URL", default="")

# --- Agents (AOA orchestration, pilots, discovery) ----------------------------------------------
# At most this many non-connect jobs (agents runs) run at once per tenant; more wait in the queue.
AOA_MAX_RUNNING_JOBS = _positive_int("AOA_MAX_RUNNING_JOBS", 2)
# A tenant may have at most this many jobs waiting or running; more requests get 429.
AOA_MAX_ACTIVE_JOBS = _positive_int("AOA_MAX_ACTIVE_JOBS", 20)
# Sources a connect job syncs at the same time (each in its own thread and database connection).
AOA_SYNC_PARALLELISM = _positive_int("AOA_SYNC_PARALLELISM", 2)
# Retries of one source's sync after a transient error, with exponential backoff from the base.
AOA_SOURCE_RETRIES = env.int("AOA_SOURCE_RETRIES", default=2)
AOA_RETRY_BACKOFF_SECONDS = env.float("AOA_RETRY_BACKOFF_SECONDS", default=2.0)
# A running job whose heartbeat is older than this is taken as lost (its worker died).
AOA_JOB_STALE_SECONDS = _positive_int("AOA_JOB_STALE_SECONDS", 45 * 60)
AOA_STALE_SOURCE_DAYS = _positive_int("AOA_STALE_SOURCE_DAYS", 7)
AOD_TIMEOUT = env.float("AOD_TIMEOUT", default=15.0)
AGENTS_STALE_DEAL_DAYS = _positive_int("AGENTS_STALE_DEAL_DAYS", 30)
AGENTS_AT_RISK_THRESHOLD = _positive_int("AGENTS_AT_RISK_THRESHOLD", 40)
AGENTS_ANOMALY_WINDOW_DAYS = _positive_int("AGENTS_ANOMALY_WINDOW_DAYS", 14)
AGENTS_ANOMALY_MIN_HISTORY_DAYS = _positive_int("AGENTS_ANOMALY_MIN_HISTORY_DAYS", 7)
AGENTS_ANOMALY_Z = env.float("AGENTS_ANOMALY_Z", default=3.5)
AGENTS_ANOMALY_MIN_DELTA = env.float("AGENTS_ANOMALY_MIN_DELTA", default=10.0)
AGENTS_FINOPS_WINDOW_DAYS = _positive_int("AGENTS_FINOPS_WINDOW_DAYS", 30)
if AOA_SOURCE_RETRIES < 0 or AOA_RETRY_BACKOFF_SECONDS < 0 or AGENTS_ANOMALY_Z <= 0 or AGENTS_ANOMALY_MIN_DELTA < 0:
    raise ImproperlyConfigured("AOA_SOURCE_RETRIES, AOA_RETRY_BACKOFF_SECONDS and AGENTS_ANOMALY_MIN_DELTA must be "
                               ">= 0 and AGENTS_ANOMALY_Z > 0")

# --- Request limits, i18n, static -------------------------------------------------------------
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=5 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
MAX_UPLOAD_SIZE = _positive_int("MAX_UPLOAD_SIZE", 512 * 1024 * 1024)  # multipart bodies (CSV uploads)
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = BASE_DIR / "var" / "media"
WHITENOISE_USE_FINDERS = True

# --- Content-Security-Policy (django-csp) ------------------------------------------------------
# Every page: scripts, styles, fonts and images from this host only (no inline script, no CDN), no
# plugins, no framing, forms post here only. style= attributes stay allowed (style-src-attr): the
# templates set widths of bars with them; <style> elements do not (style-src-elem). 'self' in
# connect-src covers the page's own ws:/wss: host for /ws/events/ (CSP Level 3).
def _origin_of(url: str) -> list[str]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return [f"{parts.scheme}://{parts.netloc}"] if parts.scheme in ("http", "https") and parts.netloc else []


CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "style-src-elem": ["'self'"],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        # The discovery page embeds the external discovery dashboard when one is configured.
        "frame-src": _origin_of(AOD_DASHBOARD_URL) or ["'none'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

DISABLE_AUTO_MIGRATIONS = env.bool("DISABLE_AUTO_MIGRATIONS", default=False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "autonomos.core.logging.RedactSecretsFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "httpx": {"level": "WARNING"},
                # Splink narrates every training step at INFO; dcl.resolution logs one line per run
                "splink": {"level": "WARNING"}},
}
