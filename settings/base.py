"""A host portal for development, tests and the demo.

A real portal needs only what the "govai-plugin" block shows: the app in
INSTALLED_APPS (with DRF and drf-spectacular), the URLs included, one GOVAI
dict, and a PostgreSQL database with pgvector.
"""

import os
from pathlib import Path

from govai_plugin.embedded import data_dir
from govai_plugin.embedded.broker import broker_url
from govai_plugin.embedded.postgres import database_settings

BASE_DIR = Path(__file__).resolve().parent.parent
GOVAI_DATA_DIR = data_dir(BASE_DIR / ".govai")

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "dev-only-not-secret-change-me")
# Off unless asked for: a debug page shows settings and the database address to anyone
# (`make demo` sets DJANGO_DEBUG=1).
DEBUG = os.environ.get("DJANGO_DEBUG", "0") == "1"
ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    # --- govai-plugin ---
    "rest_framework",
    "drf_spectacular",
    "govai_plugin",
    # X-Road provider and consumer (optional): models, admin, endpoints under xroad/.
    "adapters.xroad",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "settings.urls"
WSGI_APPLICATION = "settings.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "settings" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# --- govai-plugin: PostgreSQL with pgvector. GOVAI_DATABASE_URL, else an embedded server.
DATABASES = {"default": database_settings(GOVAI_DATA_DIR)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = GOVAI_DATA_DIR / "static"

# --- govai-plugin: Celery. GOVAI_BROKER_URL (Redis or RabbitMQ), else an embedded redis-server.
CELERY_BROKER_URL = broker_url(GOVAI_DATA_DIR)
CELERY_TASK_IGNORE_RESULT = True  # job state lives on database rows
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis redelivers an unacknowledged task only after this many seconds: keep it above the
# longest generation (LLM timeout x attempts). RabbitMQ redelivers as soon as a worker dies.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": int(os.environ.get("GOVAI_VISIBILITY_TIMEOUT", "3600"))}
CELERY_TASK_ALWAYS_EAGER = False

# --- govai-plugin: the API.
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "govai-plugin API",
    "DESCRIPTION": "Grounded generative-AI assistance for public services.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Two "status" choice sets (a document's outcome, an ingestion job's): each gets its own name.
    "ENUM_NAME_OVERRIDES": {"IngestOutcomeStatusEnum": "govai_plugin.api.serializers.OUTCOME_STATUSES"},
}
# Uploads up to GOVAI["API"]["MAX_UPLOAD_BYTES"] stream to disk past this size.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# --- govai-plugin: its settings (every key has a default; see docs/configuration.md).
GOVAI = {
    "DATA_DIR": str(GOVAI_DATA_DIR),
}
# Addresses and secrets come from the environment, never from a settings file.
if os.environ.get("GOVAI_LLM_URL"):
    GOVAI["LLM"] = {"BASE_URL": os.environ["GOVAI_LLM_URL"], "MODEL": os.environ.get("GOVAI_LLM_MODEL", "tgi"),
                    "API_KEY": os.environ.get("GOVAI_LLM_API_KEY", "")}

# Security headers (OWASP): no framing, no MIME sniffing, no referrer to other sites; with
# DEBUG off, cookies only over HTTPS and HSTS for GOVAI_HSTS_SECONDS.
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = 0 if DEBUG else int(os.environ.get("GOVAI_HSTS_SECONDS", "31536000"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "govai_plugin": {"handlers": ["console"], "level": os.environ.get("GOVAI_LOG_LEVEL", "WARNING")},
        # Server errors with their tracebacks (Django's default sends them only to ADMINS by
        # e-mail when DEBUG is off).
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
    },
}
