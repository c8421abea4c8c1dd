"""Marrow-Find settings, read from the environment (see docs/configuration.md).

Two profiles: `development` (the default: SQLite under var/, ORM broker, a generated secret key kept
under var/) and `production` (MARROWFIND_PROFILE=production: SECRET_KEY required, secure cookies,
HTTPS only; passes `manage.py check --deploy`).
"""

from __future__ import annotations

import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from marrowfind.env import parse_database_url, read_bool, read_int, read_list, read_secret, read_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(read_str("MARROWFIND_VAR_DIR") or BASE_DIR / "var")

PROFILE = read_str("MARROWFIND_PROFILE", "development")
if PROFILE not in {"development", "production"}:
    raise ImproperlyConfigured(f"MARROWFIND_PROFILE must be development or production, not {PROFILE!r}.")
PRODUCTION = PROFILE == "production"
DEBUG = read_bool("DEBUG", False)


def _development_secret_key() -> str:
    """Generated once and kept, so sessions survive restarts of a development server."""
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = read_secret("SECRET_KEY") or ""
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) is required in production.")
    SECRET_KEY = _development_secret_key()

ALLOWED_HOSTS = read_list(
    "ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"]
)
CSRF_TRUSTED_ORIGINS = read_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "marrowfind.admin_site.apps.MarrowFindAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "django_q",
    "accounts",
    "cases",
    "inference",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "cases.audit.middleware.AuditContextMiddleware",
]

ROOT_URLCONF = "marrowfind.urls"
WSGI_APPLICATION = "marrowfind.wsgi.application"
ASGI_APPLICATION = "marrowfind.asgi.application"

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
                "marrowfind.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {
    "default": parse_database_url(
        read_str("DATABASE_URL") or f"sqlite:///{(VAR_DIR / 'marrowfind.sqlite3').as_posix()}"
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
# PBKDF2-SHA256 first, as the product brief asks; Django's default iteration count.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "cases:case_list"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"

# allauth: e-mail + password only; accounts are created by supervisors, never by self sign-up.
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_ADAPTER = "accounts.adapters.ClinicalAccountAdapter"
ACCOUNT_SESSION_REMEMBER = False
# Failed log-ins: 5 per account (key) and 20 per client address in 5 minutes. The account's limit is
# checked first, so someone who keeps retrying a locked account does not use up the address's budget
# and lock out colleagues at the same workstation; the address's limit stops guessing across accounts.
ACCOUNT_RATE_LIMITS = {"login_failed": "5/5m/key,20/5m/ip", "login": "30/m/ip"}

# Reverse proxies of our own in front of the application (0: none). The client's address, for the
# rate limits above and the audit trail, is read from X-Forwarded-For through exactly this many hops
# (accounts.client_address); with 0 the header is never believed.
TRUSTED_PROXY_COUNT = read_int("TRUSTED_PROXY_COUNT", 0, minimum=0)

REDIS_URL = read_str("REDIS_URL")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# django-q2: Redis where configured, the database otherwise (zero set-up). Workers are forked before
# any TensorFlow import (docs/architecture.md): web and cluster processes never import it at start-up.
Q_CLUSTER: dict[str, object] = {
    "name": "marrowfind",
    "workers": read_int("Q_WORKERS", 1, minimum=1),
    "timeout": read_int("Q_TIMEOUT", 600, minimum=10),
    "retry": read_int("Q_TIMEOUT", 600, minimum=10) + 60,
    "max_attempts": 3,
    "catch_up": False,
    "label": "Background jobs",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

MEDIA_ROOT = Path(read_str("MEDIA_ROOT") or VAR_DIR / "media")
MEDIA_URL = "/media/"
STATIC_ROOT = Path(read_str("STATIC_ROOT") or VAR_DIR / "static")
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# Upload limits: refused with a specific message before anything is stored.
UPLOAD_MAX_BYTES = read_int("UPLOAD_MAX_BYTES", 50 * 1024 * 1024, minimum=1024)
UPLOAD_MAX_PIXELS = read_int("UPLOAD_MAX_PIXELS", 40_000_000, minimum=1)
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {"TITLE": "Marrow-Find API", "VERSION": "1.0.0"}

LANGUAGE_CODE = "en-gb"
TIME_ZONE = read_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = read_int("SESSION_COOKIE_AGE", 8 * 3600, minimum=300)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = read_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = read_int("SECURE_HSTS_SECONDS", 31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = read_bool("SECURE_HSTS_PRELOAD", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# The model served by workers; registered as the active ModelVersion on first run.
DEFAULT_MODEL_DIR = Path(read_str("MARROWFIND_MODEL_DIR") or BASE_DIR / "models" / "marrowfind-resnet50-v1")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": read_str("LOG_LEVEL", "INFO")},
}
