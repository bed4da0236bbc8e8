"""Settings, read from the environment: the one module of the Django side that reads it (the code
reads settings.X, and every setting has its default here). Every variable is optional for a first
run; a malformed value stops the process with a message naming the variable, instead of a guess.
README's Settings table lists each one (tests/test_docs.py checks that it does).
"""

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("INSPECTOR_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name}={value!r}: expected one of 1/0, true/false, yes/no, on/off")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r}: expected a whole number") from None


def env_list(name: str, default: list[str], sep: str = ",") -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(sep) if item.strip()]


DEBUG = env_bool("DEBUG")


def _secret_key() -> tuple[str, bool]:
    """(key, configured). A checkout with no key still runs the read-only commands: they get a
    throwaway key, and serving refuses to start (see conversations.startup)."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"], True
    key_file = VAR_DIR / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip(), True
    return secrets.token_urlsafe(50), False


SECRET_KEY, SECRET_KEY_CONFIGURED = _secret_key()

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "conversations",  # first: its runserver refuses to serve without a secret key
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django_htmx",
    "template_partials",
    "django_tasks",
    "django_tasks_db",
]

MIDDLEWARE = [
    "inspector.middleware.BodyLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "inspector.urls"
WSGI_APPLICATION = "inspector.wsgi.application"

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
                "csp.context_processors.nonce",
            ],
        },
    },
]

VAR_DIR.mkdir(parents=True, exist_ok=True)
(VAR_DIR / "staticfiles").mkdir(exist_ok=True)
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'inspector.sqlite3'}",
        # A connection per request costs a PostgreSQL backend start (~5 ms and a process each
        # time): keep it for a minute, checked before reuse.
        conn_max_age=env_int("CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Server-side binding sends revision chunks and originals as binary parameters instead of
    # quoting megabytes of bytea into the SQL text.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("server_side_binding", True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the task worker and the web server share the file without "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault("init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
    DATABASES["default"]["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")
    DATABASES["default"]["OPTIONS"].setdefault("timeout", 20)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
# Production serves the hashed, compressed files that `collectstatic` wrote; until it has run (a
# local run, the tests) whitenoise serves straight from static/.
STATIC_MANIFEST = env_bool("STATIC_MANIFEST", (STATIC_ROOT / "staticfiles.json").exists())
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if STATIC_MANIFEST
        else "django.contrib.staticfiles.storage.StaticFilesStorage",
    },
}
WHITENOISE_USE_FINDERS = env_bool("WHITENOISE_USE_FINDERS", not STATIC_MANIFEST)

# Uploads and ingest: one limit for a whole log. Django's own request limits are raised to match,
# so the size error is ours (clear) and not a bare 400 from the request parser.
UPLOAD_MAX_BYTES = env_int("UPLOAD_MAX_BYTES", 100 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = UPLOAD_MAX_BYTES + 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FILES = env_int("UPLOAD_MAX_FILES", 200)
# An upload or API post larger than this is ingested by a background task, not inside its request
# (the page shows its progress; the API answers 202 with a status URL). Its bytes are first staged
# in INGEST_STAGING_DIR, so a worker that dies loses nothing.
INGEST_INLINE_MAX_BYTES = env_int("INGEST_INLINE_MAX_BYTES", 10 * 1024 * 1024)
INGEST_STAGING_DIR = VAR_DIR / "staged"

WRITE_BACK_ROOTS = [Path(p) for p in env_list("WRITE_BACK_ROOTS", [], sep=os.pathsep)]
DEFAULT_TARGET = os.environ.get("DEFAULT_TARGET", "anthropic")


def env_route(name: str) -> tuple[str, str] | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    route, sep, group = value.partition(":")
    if not sep or not route.strip() or not group.strip():
        raise ImproperlyConfigured(f"{name}={value!r}: expected <route>:<model group>")
    return route.strip(), group.strip()


# Routes known once (conversations.routing): litellm proxy configs, each named by its file's stem,
# and the route and model group of conversations that name no model.
INSPECTOR_ROUTE_CONFIGS = env_list("INSPECTOR_ROUTE_CONFIGS", [], sep=":")
INSPECTOR_DEFAULT_ROUTE = env_route("INSPECTOR_DEFAULT_ROUTE")
# Resume: where litellm sends a repaired conversation (a litellm proxy, or a provider's base URL)
# and with which key. Never taken from a log.
RESUME_API_BASE = os.environ.get("RESUME_API_BASE", "")
RESUME_API_KEY = os.environ.get("RESUME_API_KEY", "")
RESUME_TIMEOUT = env_int("RESUME_TIMEOUT", 60)
# The per-process cache holds what pages derive from immutable data (a revision's outline, the
# list's filter choices). Django's default keeps 300 entries, fewer than the conversations people
# browse in an hour; an outline is ~1 KB per 30 messages, so 5,000 entries stay well under 100 MB.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "OPTIONS": {"MAX_ENTRIES": env_int("CACHE_MAX_ENTRIES", 5000)},
    }
}
# How long superseded revisions and deleted conversations are kept (`manage.py prune`).
RETENTION_DAYS = env_int("RETENTION_DAYS", 90)
REDACT_SECRETS = env_bool("REDACT_SECRETS", True)

# After each item of a bulk job, a worker rests this share (in percent) of the time the item took:
# 0 runs flat out (workers on machines of their own); 100 leaves about half a core to a web
# server on the same small machine, whose pages slow down beside a busy worker even at the
# lowest CPU priority (the two share the processor's caches and cores: bench/load.py).
JOB_REST_PERCENT = env_int("JOB_REST_PERCENT", 0)

# How long a worker holds the items of a bulk job it claimed before another worker may take them
# over (a worker that died); a batch that runs past half of it renews the leases of its items.
JOB_LEASE_SECONDS = env_int("JOB_LEASE_SECONDS", 60)

# How many workers a bulk job asks the task backend for (fewer when the job has fewer batches).
JOB_RUNNERS = env_int("JOB_RUNNERS", 2)

# How many items of a bulk job a worker takes at once, works on one by one and writes in one
# transaction. Larger batches cost less per item (the per-batch queries are spread thinner); a
# worker that dies leaves its batch to others once the leases expire, and two workers still share
# a job evenly while it has several batches each.
JOB_CLAIM_BATCH = env_int("JOB_CLAIM_BATCH", 50)

# Background jobs through the django-tasks API: the database backend by default; set
# TASKS_BACKEND=rq (and REDIS_URL) to share the work between workers on several machines.
TASKS_BACKEND = os.environ.get("TASKS_BACKEND", "database")
if TASKS_BACKEND == "rq":
    INSTALLED_APPS += ["django_rq", "django_tasks_rq"]
    RQ_QUEUES = {"default": {"URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")}}
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
elif TASKS_BACKEND == "database":
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
elif TASKS_BACKEND == "immediate":
    TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
else:
    raise ImproperlyConfigured(f"TASKS_BACKEND={TASKS_BACKEND!r}: expected database, rq or immediate")

# Content-Security-Policy (django-csp 4): no inline script or style anywhere; htmx's own
# indicator style is turned off in base.html (htmx.config.includeIndicatorStyles).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}

# Production: HTTPS settings on unless DEBUG (see README "Running past one machine").
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
if env_bool("BEHIND_PROXY"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
