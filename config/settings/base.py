"""Settings shared by every environment; everything comes from the environment with safe local defaults."""

from datetime import timedelta
from pathlib import Path

import environ
from kombu import Queue

from config.filesystem import private_dir, private_file

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "csp",
    "axes",
    "drf_spectacular",
    "pgtrigger",
    "config",  # after auth and knox: config/admin.py puts their admins under the tenancy rule
    "billing",
    "audit",
    "analysis",
    "approvals",
    "django_htmx",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After authentication: audit events written during a request record its IP, user agent and user.
    "audit.middleware.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last: turns a login refused by the limits (config/auth.py) into its answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'sandgate.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# var/ (database, broker, uploads, audit heads) is this user's alone; the SQLite file is 0600.
private_dir(VAR_DIR)
# Persistent connections, reused by the requests (and, config/celery.py, the tasks) of one process for this
# many seconds: a new PostgreSQL connection costs ~4 ms here plus cold catalog caches for each table the
# request touches. 0 = a connection per request or task. A reused connection is checked before use: after
# a database restart (or a terminated backend) the next request or task reconnects instead of failing once.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the worker share the file: wait for the other's write lock instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 20, "transaction_mode": "IMMEDIATE"})
    if DATABASES["default"]["NAME"] not in ("", ":memory:"):
        private_file(Path(DATABASES["default"]["NAME"]))
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    if env("DATABASE_SSLMODE", default=""):
        DATABASES["default"].setdefault("OPTIONS", {})["sslmode"] = env("DATABASE_SSLMODE")
    if env.bool("DATABASE_POOLER", default=False):
        # Supabase's pooler (Supavisor, transaction mode) hands each transaction to any server connection:
        # no prepared statements, no server-side cursors, and short-lived client connections.
        DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = None
        DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
        DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=30)
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
WHITENOISE_AUTOREFRESH = DEBUG
# WhiteNoise also serves the apps' static files where they are (without `collectstatic`), so `runserver`
# with DEBUG off (`make up`) has its CSS and JavaScript; production's `collectstatic` files come first.
WHITENOISE_USE_FINDERS = True
MEDIA_ROOT = Path(env("SANDGATE_MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "media/"
private_dir(MEDIA_ROOT)
# Upload folders are 0700: no other local user reaches a dataset. The files themselves stay 0644 because the
# local sandbox runs as a uid of its own (when the worker is root) and reads them through the launcher's
# bind mounts (analysis/sandboxes/local.py), past the 0700 folders but not past the file's own mode.
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700
FILE_UPLOAD_PERMISSIONS = 0o644
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Object storage (S3, Supabase Storage, R2, MinIO) for datasets and artifacts, through django-storages, when a
# bucket is named; web and workers then share no disk. The objects are private: Sandgate reads them with
# these keys and serves them itself, never by a bucket URL.
AWS_STORAGE_BUCKET_NAME = env("AWS_STORAGE_BUCKET_NAME", default="")
AWS_S3_ENDPOINT_URL = env("AWS_S3_ENDPOINT_URL", default="") or None
AWS_ACCESS_KEY_ID = env("AWS_ACCESS_KEY_ID", default="") or None
AWS_SECRET_ACCESS_KEY = env("AWS_SECRET_ACCESS_KEY", default="") or None
AWS_S3_REGION_NAME = env("AWS_S3_REGION_NAME", default="") or None
# "path" for endpoints that do not serve buckets as subdomains (Supabase, MinIO); empty: boto3's choice.
AWS_S3_ADDRESSING_STYLE = env("AWS_S3_ADDRESSING_STYLE", default="") or None
AWS_LOCATION = env("AWS_LOCATION", default="")  # a prefix for every object, e.g. "sandgate/"
AWS_DEFAULT_ACL = None  # the bucket's own policy: private
AWS_QUERYSTRING_AUTH = True  # were a URL ever made, it would be signed and expire
AWS_S3_FILE_OVERWRITE = False  # as on disk: a name in use gets a new one, nothing is replaced
AWS_S3_MAX_MEMORY_SIZE = 10 * 1024 * 1024  # an object read through storage spills to a temporary file beyond
if AWS_STORAGE_BUCKET_NAME:
    STORAGES["default"] = {"BACKEND": "storages.backends.s3.S3Storage"}
# The execute worker's local copies of datasets (fetched from storage by name, kept by SHA-256, re-checked
# before each run): at most this many MB, each dropped after this many hours unused.
SANDGATE_DATASET_CACHE_DIR = Path(env("SANDGATE_DATASET_CACHE_DIR", default=str(VAR_DIR / "dataset-cache")))
SANDGATE_DATASET_CACHE_MB = env.int("SANDGATE_DATASET_CACHE_MB", default=2048)
SANDGATE_DATASET_CACHE_MAX_AGE_HOURS = env.float("SANDGATE_DATASET_CACHE_MAX_AGE_HOURS", default=24.0)

# The analysts' login page; the admin keeps its own.
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# --- Login limits (django-axes, counted in CACHES; config/auth.py) -------------------------------------
# Failed password logins within the window: per username from one address, per address over all usernames
# (password spraying), per username over all addresses (distributed guessing). The account limit must be
# above the username-and-address one, so that no single address can lock an account out everywhere.
SANDGATE_LOGIN_FAILURES = env.int("SANDGATE_LOGIN_FAILURES", default=5)
SANDGATE_LOGIN_ADDRESS_FAILURES = env.int("SANDGATE_LOGIN_ADDRESS_FAILURES", default=20)
SANDGATE_LOGIN_ACCOUNT_FAILURES = env.int("SANDGATE_LOGIN_ACCOUNT_FAILURES", default=20)
SANDGATE_LOGIN_WINDOW_SECONDS = env.int("SANDGATE_LOGIN_WINDOW_SECONDS", default=900)
AUTHENTICATION_BACKENDS = ["config.auth.LoginLimitBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_HANDLER = "config.auth.LoginLimitHandler"
AXES_CACHE = "default"
AXES_LOCKOUT_PARAMETERS = ["ip_address", ["username", "ip_address"], "username"]
AXES_FAILURE_LIMIT = SANDGATE_LOGIN_FAILURES  # config.auth.LoginLimitHandler applies one limit per rule
AXES_COOLOFF_TIME = timedelta(seconds=SANDGATE_LOGIN_WINDOW_SECONDS)
AXES_CLIENT_IP_CALLABLE = "config.auth.client_ip"
AXES_LOCKOUT_CALLABLE = "config.auth.lockout_response"
# A refused attempt is not counted (nor does it extend the lock): one address cannot push an account's count.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_ENABLE_ADMIN = False  # the cache handler keeps nothing in axes' tables
AXES_VERBOSE = False

# --- API tokens (django-rest-knox; config/tokens.py) -------------------------------------------------
SANDGATE_API_TOKEN_TTL_HOURS = env.float("SANDGATE_API_TOKEN_TTL_HOURS", default=24.0)
SANDGATE_API_TOKENS_PER_USER = env.int("SANDGATE_API_TOKENS_PER_USER", default=10)
REST_KNOX = {"TOKEN_TTL": timedelta(hours=SANDGATE_API_TOKEN_TTL_HOURS), "AUTH_HEADER_PREFIX": "Token"}

# --- Content-Security-Policy (django-csp) on every response; no inline script or style anywhere ---------
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],  # charts arrive as base64 PNG
        "connect-src": ["'self'"],  # htmx
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first, so an unauthenticated call answers 401 with a WWW-Authenticate header.
        "config.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "config.exceptions.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Per-user rates of endpoints that cost money, counted in CACHES (Redis with several web processes).
    "DEFAULT_THROTTLE_RATES": {"analyze": env("SANDGATE_ANALYZE_RATE", default="30/min")},
}
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    CACHES["default"]["BACKEND"] = "config.cache.RedisCache"  # the same, without a client per call
SPECTACULAR_SETTINGS = {
    "TITLE": "Sandgate API",
    "DESCRIPTION": "Ask a data question; a reviewer approves the generated code; it runs in a sandbox.",
    "VERSION": "0.1.0",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.openapi.share_parameter_enums",
        "config.openapi.add_error_responses",
    ],
    # Each status-like choice set is one named component, built from the model's TextChoices: a new
    # status is in the schema (and the generated clients' types) as soon as it is in the model.
    "ENUM_NAME_OVERRIDES": {
        "RequestStatus": "approvals.models.ApprovalRequest.Status",
        "RiskLevel": "approvals.models.ApprovalRequest.Risk",
        "FindingSeverity": "approvals.models.PolicyRule.Severity",
        "PlanFindingKind": "approvals.plan_check.PlanFindingKind",
        "ExecutionStatus": "analysis.models.Execution.Status",
        "DatasetStatus": "analysis.models.Dataset.Status",
        "SessionStatus": "analysis.models.Session.Status",
        "MessageRole": "analysis.models.Message.Role",
        "AuditAction": "audit.models.AuditEvent.Action",
        "BudgetScope": "billing.models.Budget.Scope",
        "BudgetPeriod": "billing.models.Budget.Period",
        "SpendGroup": "billing.selectors.SpendGroup",
        "CostFeature": "billing.models.CostSpan.Feature",
    },
}

# --- Celery -----------------------------------------------------------------------------------
# With no broker configured, kombu's filesystem transport needs no server (one machine only).
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")


def filesystem_broker_options(folder: Path) -> dict:
    """kombu's filesystem transport: messages are files in one folder, shared by web and worker."""
    for sub in ("queue", "processed", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
        # kombu polls the folder this often when idle (its default, 1 s, delays every task by up to that).
        "polling_interval": env.float("SANDGATE_BROKER_POLLING_SECONDS", default=0.05),
    }


if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(VAR_DIR / "broker")
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ROUTES = {
    "analysis.tasks.generate_code": {"queue": "generate"},
    "analysis.tasks.run_execution": {"queue": "execute"},
    # Profiling an XLSX/Parquet/JSON upload runs in the sandbox: where the sandboxes are.
    "analysis.tasks.profile_dataset": {"queue": "execute"},
    # Reviewer notifications: the generate workers are idle while people review; no extra queue to deploy.
    "approvals.tasks.notify_reviewers_by_email": {"queue": "generate"},
    "approvals.tasks.notify_reviewers_by_webhook": {"queue": "generate"},
}
# Every queue declared: a worker started without -Q consumes all of them (config/celery.py logs which).
CELERY_TASK_DEFAULT_QUEUE = "celery"
_ROUTED_QUEUES = sorted({route["queue"] for route in CELERY_TASK_ROUTES.values()})
CELERY_TASK_QUEUES = tuple(Queue(name) for name in (CELERY_TASK_DEFAULT_QUEUE, *_ROUTED_QUEUES))
CELERY_TASK_ALWAYS_EAGER = False
# Celery's Django fixup closes the database connection around every task unless this is set; set, it closes
# it only every N tasks. Workers instead apply Django's own rule around each task (config/celery.py), as
# Django does around each request: CONN_MAX_AGE and the health check decide.
CELERY_DB_REUSE_MAX = 2**31
CELERY_BEAT_SCHEDULE = {
    # Chains pending audit events and anchors the chain head in AUDIT_HEAD_FILE (`celery -A config beat`).
    "audit-chain": {
        "task": "audit.tasks.audit_chain",
        "schedule": env.float("AUDIT_CHAIN_SECONDS", default=60.0),
    },
    # Marks sessions idle longer than SESSION_IDLE_EXPIRY_HOURS as expired.
    "session-expire-idle": {"task": "analysis.tasks.expire_idle_sessions", "schedule": 3600.0},
    # Releases budget reservations whose lease expired: the worker holding them died.
    "budget-sweep-reservations": {"task": "billing.tasks.sweep_reservations", "schedule": 60.0},
    # Settles rows whose worker died (stale heartbeat or expired lease → interrupted) and re-enqueues tasks
    # that never reached the broker (analysis.services.reaper.reap_stuck). Often: a dead worker is known
    # within SANDGATE_HEARTBEAT_STALE_SECONDS plus this.
    "analysis-reap-stuck": {
        "task": "analysis.tasks.reap_stuck",
        "schedule": env.float("SANDGATE_REAPER_SECONDS", default=15.0),
    },
}

# --- Code generation --------------------------------------------------------------------------
MISTRAL_API_KEY = env("MISTRAL_API_KEY", default="")
MISTRAL_MODEL = env("MISTRAL_MODEL", default="mistral-large-latest")
MISTRAL_SERVER_URL = env("MISTRAL_SERVER_URL", default="")
MISTRAL_TIMEOUT_SECONDS = env.float("MISTRAL_TIMEOUT_SECONDS", default=60.0)
# The longest answer one call may write (Mistral's `max_tokens`); generation holds are priced with it.
MISTRAL_MAX_OUTPUT_TOKENS = env.int("MISTRAL_MAX_OUTPUT_TOKENS", default=2048)
# Earlier turns of a session sent with a follow-up question, oldest dropped first beyond this.
SANDGATE_HISTORY_TOKEN_BUDGET = env.int("SANDGATE_HISTORY_TOKEN_BUDGET", default=4000)
# A session with no activity for this long expires (follow-ups then start a new session).
SESSION_IDLE_EXPIRY_HOURS = env.float("SESSION_IDLE_EXPIRY_HOURS", default=72.0)

# --- Sandbox ----------------------------------------------------------------------------------
SANDBOX_BACKEND = env("SANDBOX_BACKEND", default="local")
SANDBOX_RUNTIME_DIR = Path(env("SANDBOX_RUNTIME_DIR", default=str(BASE_DIR / ".sandbox" / "runtime")))
# The small C program between the worker and bwrap (analysis/sandboxes/launcher.c), built by `make install`.
SANDBOX_LAUNCHER = Path(env("SANDBOX_LAUNCHER", default=str(BASE_DIR / ".sandbox" / "sandgate-launch")))
SANDBOX_LIMITS = {
    "cpu_seconds": env.int("SANDBOX_CPU_SECONDS", default=60),
    "wall_seconds": env.int("SANDBOX_WALL_SECONDS", default=120),
    "memory_mb": env.int("SANDBOX_MEMORY_MB", default=1024),
    "output_bytes": env.int("SANDBOX_OUTPUT_BYTES", default=1_000_000),
    "max_processes": env.int("SANDBOX_MAX_PROCESSES", default=64),
    "file_size_mb": env.int("SANDBOX_FILE_SIZE_MB", default=64),
    "scratch_mb": env.int("SANDBOX_SCRATCH_MB", default=256),
    "artifact_count": env.int("SANDBOX_ARTIFACT_COUNT", default=20),
    "artifact_mb": env.int("SANDBOX_ARTIFACT_MB", default=20),
    # All results of one run together (charts, tables, values) as stored and served by the API.
    "results_mb": env.int("SANDBOX_RESULTS_MB", default=5),
}
# Task time limits sit above the sandbox's wall timeout (which ends the run first, cleanly); Redis must
# not redeliver an unacknowledged long task before its hard limit has passed.
CELERY_TASK_SOFT_TIME_LIMIT = SANDBOX_LIMITS["wall_seconds"] + 60
CELERY_TASK_TIME_LIMIT = SANDBOX_LIMITS["wall_seconds"] + 120
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_TASK_TIME_LIMIT * 3}
# A claimed generation or run holds a lease until the hard time limit plus this margin; after that its
# worker is dead for sure (the hard limit kills the task) and the reaper marks the row `interrupted`.
SANDGATE_LEASE_MARGIN_SECONDS = env.int("SANDGATE_LEASE_MARGIN_SECONDS", default=30)
SANDGATE_LEASE_SECONDS = CELERY_TASK_TIME_LIMIT + SANDGATE_LEASE_MARGIN_SECONDS
# A running generation or run renews its heartbeat this often while its worker lives; one whose heartbeat is
# older than the stale threshold is presumed dead and the reaper marks it `interrupted` (never run again).
SANDGATE_HEARTBEAT_SECONDS = env.float("SANDGATE_HEARTBEAT_SECONDS", default=10.0)
SANDGATE_HEARTBEAT_STALE_SECONDS = env.float("SANDGATE_HEARTBEAT_STALE_SECONDS", default=40.0)
# How often the session page asks for the status of a request that waits for a person (review, a decision
# to run, a new version): slowly, as that can take hours; while a worker is on it, every second.
SANDGATE_REVIEW_POLL_SECONDS = env.int("SANDGATE_REVIEW_POLL_SECONDS", default=10)
# Live output of a running run (analysis/live.py): a Redis stream per run when the broker is Redis, else
# rows in the database written at most this often.
SANDGATE_LIVE_OUTPUT_DATABASE_SECONDS = env.float("SANDGATE_LIVE_OUTPUT_DATABASE_SECONDS", default=0.5)
# A request still `generating` or an execution still `queued` this long after it was written, and never
# claimed, is re-enqueued by the reaper: its task never reached the broker (Redis was down). A duplicate
# message is harmless (the claim), so a long queue only costs an extra no-op task.
SANDGATE_REQUEUE_AFTER_SECONDS = env.int("SANDGATE_REQUEUE_AFTER_SECONDS", default=300)
E2B_API_KEY = env("E2B_API_KEY", default="")
# Empty: the SDK's defaults (E2B's cloud). Set both to point the SDK elsewhere (self-hosted, a test fake).
E2B_API_URL = env("E2B_API_URL", default="")
E2B_SANDBOX_URL = env("E2B_SANDBOX_URL", default="")
E2B_TEMPLATE = env("E2B_TEMPLATE", default="code-interpreter-v1")
# E2B's own kill switch for a sandbox (at least the run's wall limit + 30 s), should ours never arrive.
E2B_TIMEOUT_SECONDS = env.int("E2B_TIMEOUT_SECONDS", default=300)
# Started-and-imported local sandboxes kept ready per worker process (0: none); see "Sandbox security".
SANDBOX_WARM_POOL_SIZE = env.int("SANDBOX_WARM_POOL_SIZE", default=2)

# --- Tracing ----------------------------------------------------------------------------------
LANGFUSE_PUBLIC_KEY = env("LANGFUSE_PUBLIC_KEY", default="")
LANGFUSE_SECRET_KEY = env("LANGFUSE_SECRET_KEY", default="")
LANGFUSE_BASE_URL = env("LANGFUSE_BASE_URL", default="https://cloud.langfuse.com")

# --- Workflow ---------------------------------------------------------------------------------
# Start execution as soon as a reviewer approves; POST /api/execute stays idempotent either way.
SANDGATE_EXECUTE_ON_APPROVAL = env.bool("SANDGATE_EXECUTE_ON_APPROVAL", default=False)
SANDGATE_MAX_QUERY_CHARS = env.int("SANDGATE_MAX_QUERY_CHARS", default=4000)
SANDGATE_MAX_DATASET_MB = env.int("SANDGATE_MAX_DATASET_MB", default=50)
# Caps on what an upload holds (CSV in the app, XLSX/Parquet/JSON in the sandbox profile), each refused with
# a message saying which: columns, rows, and characters in one value (32,767 is also Excel's own limit).
SANDGATE_DATASET_MAX_COLUMNS = env.int("SANDGATE_DATASET_MAX_COLUMNS", default=2000)
SANDGATE_DATASET_MAX_ROWS = env.int("SANDGATE_DATASET_MAX_ROWS", default=5_000_000)
SANDGATE_DATASET_MAX_CELL_CHARS = env.int("SANDGATE_DATASET_MAX_CELL_CHARS", default=32_767)
# What an XLSX's members or a Parquet file's row groups may unpack to; beyond it the profile refuses the file
# before unpacking any of it (a zip bomb). The profile's CPU limit parses about 60 MB of sheet XML here.
SANDGATE_DATASET_MAX_EXPANDED_MB = env.int("SANDGATE_DATASET_MAX_EXPANDED_MB", default=100)
# Profiling an XLSX/Parquet/JSON upload in the sandbox (a worker on the execute queue): its limits, priced and
# held for like a run's, and how many uploads of one team are profiled at once (the others wait, queued).
SANDGATE_PROFILE_CPU_SECONDS = env.int("SANDGATE_PROFILE_CPU_SECONDS", default=30)
SANDGATE_PROFILE_WALL_SECONDS = env.int("SANDGATE_PROFILE_WALL_SECONDS", default=45)
SANDGATE_PROFILE_MEMORY_MB = env.int("SANDGATE_PROFILE_MEMORY_MB", default=1024)
SANDGATE_PROFILING_PER_TEAM = env.int("SANDGATE_PROFILING_PER_TEAM", default=2)
# One team's runs queued or running at once (a team's own `max_active_runs` overrides it); the others wait
# in the database and take a freed slot oldest first, so no team's burst fills the broker ahead of another's.
SANDGATE_RUNS_PER_TEAM = env.int("SANDGATE_RUNS_PER_TEAM", default=4)

# --- Approval workflow ------------------------------------------------------------------------
# An approval not run within this many hours expires; the worker checks it when the run starts.
APPROVAL_TTL_HOURS = env.float("APPROVAL_TTL_HOURS", default=24.0)
# Links in reviewer notifications point here.
SANDGATE_PUBLIC_URL = env("SANDGATE_PUBLIC_URL", default="http://127.0.0.1:8000")
# Optional Slack-compatible webhook told about each request waiting for review, signed with the secret.
SANDGATE_REVIEW_WEBHOOK_URL = env("SANDGATE_REVIEW_WEBHOOK_URL", default="")
SANDGATE_REVIEW_WEBHOOK_SECRET = env("SANDGATE_REVIEW_WEBHOOK_SECRET", default="")
# Reviewer emails: EMAIL_URL like smtp+tls://user:pass@smtp.example.com:587; default prints to the console.
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Sandgate <sandgate@localhost>")

# --- Budgets ----------------------------------------------------------------------------------
# How long a budget reservation may stay unsettled before the sweeper presumes its worker dead and releases
# it. Longer than the longest queue wait plus generation or run; a worker renews it when it starts.
BUDGET_LEASE_SECONDS = env.int("BUDGET_LEASE_SECONDS", default=3600)
# Each process keeps a copy of the price table and reads it again when it is older than this (a save in the
# process itself drops its copy at once): another process prices with an admin's change within this time.
SANDGATE_PRICES_MAX_AGE_SECONDS = env.float("SANDGATE_PRICES_MAX_AGE_SECONDS", default=5.0)

# --- Audit ------------------------------------------------------------------------------------
# Append-only file of chain heads (position, sequence, hash, time); keep it outside the database.
AUDIT_HEAD_FILE = Path(env("AUDIT_HEAD_FILE", default=str(VAR_DIR / "audit-heads.log")))
# Also write each head as an object of its own in this bucket (same endpoint and keys as the storage above),
# under this prefix: the anchor survives the loss of the machine that wrote the file. Empty: the file only.
AUDIT_HEAD_BUCKET = env("AUDIT_HEAD_BUCKET", default="")
AUDIT_HEAD_BUCKET_PREFIX = env("AUDIT_HEAD_BUCKET_PREFIX", default="audit-heads/")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", default="INFO")},
}
