"""Civitas settings: everything comes from the environment.

Development (`DJANGO_DEBUG=true`) needs no server at all: SQLite, an in-memory
channel layer, a filesystem Celery broker and a local-memory cache. Production
(`DJANGO_DEBUG=false`, the default) refuses to start until every secret and
server it needs is configured; see README.md for the full list.
"""

from datetime import timedelta
from pathlib import Path

import environ
import structlog
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("CIVITAS_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
TESTING = env.bool("CIVITAS_TESTING", default=False)

# --- Secrets and servers -------------------------------------------------------------
# Production must name every one of these; development has harmless defaults.
_REQUIRED_IN_PRODUCTION = {
    "DJANGO_SECRET_KEY": "a long random string (python -c 'import secrets; print(secrets.token_urlsafe(64))')",
    "DJANGO_ALLOWED_HOSTS": "comma-separated host names the portal answers to",
    "DATABASE_URL": "postgres://user:password@host:5432/civitas",
    "REDIS_URL": "redis://host:6379/0 (Celery broker, cache, Channels layer)",
    "CIVITAS_MASTER_KEY": "32 random bytes, base64 (python manage.py keys generate-master-key)",
}
if not DEBUG:
    _missing = [name for name in _REQUIRED_IN_PRODUCTION if not env.str(name, default="")]
    if _missing:
        raise ImproperlyConfigured(
            "Civitas runs in production mode because DJANGO_DEBUG is not 'true', and these "
            "environment variables are missing:\n"
            + "\n".join(f"  {name}: {_REQUIRED_IN_PRODUCTION[name]}" for name in _missing)
            + "\nFor local development set DJANGO_DEBUG=true (bin/run does)."
        )
    if not env.str("DATABASE_URL").startswith(("postgres://", "postgresql://")):
        raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL in production.")

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="django-insecure-development-only-key-never-in-production")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CIVITAS_CSRF_TRUSTED_ORIGINS", default=[])
# 32 bytes, base64. The development key is public on purpose: it protects nothing real.
CIVITAS_MASTER_KEY = env.str("CIVITAS_MASTER_KEY", default="ZGV2ZWxvcG1lbnQtb25seS1tYXN0ZXIta2V5LTMyYnk=")
# Previous master keys, still able to decrypt while `manage.py keys rewrap` re-encrypts.
CIVITAS_MASTER_KEYS_OLD = env.list("CIVITAS_MASTER_KEYS_OLD", default=[])
REDIS_URL = env.str("REDIS_URL", default="")

# The node's public address, used for its did:web identifier and links in emails.
CIVITAS_NODE_URL = env.str("CIVITAS_NODE_URL", default="http://127.0.0.1:8000")
CIVITAS_NODE_NAME = env.str("CIVITAS_NODE_NAME", default="Civitas node")

# --- Applications --------------------------------------------------------------------
INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "oauth2_provider",
    "simple_history",
    "channels",
    "django_htmx",
    "django_prometheus",
    "csp",
    "django_structlog",
    "apps.tenancy",
    "apps.identity",
    "apps.audit",
    "apps.notifications",
    "apps.trust",
    "apps.federation",
    "apps.agents",
    "apps.feedback",
    "apps.permits",
    "apps.bpm",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.identity.oauth.zero_trust.ApiAuthFailureMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_structlog.middlewares.RequestMiddleware",
    "apps.tenancy.middleware.InstitutionScopeMiddleware",
    "apps.identity.middleware.RequireMfaForPrivilegedRolesMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "portal.middleware.ApplicationErrorMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "portal.urls"
ASGI_APPLICATION = "portal.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.tenancy.context_processors.institutions",
            ],
        },
    },
]

# --- Data ----------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url(
        "DATABASE_URL",
        default=f"sqlite:///{VAR_DIR / 'civitas.sqlite3'}",
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server, the worker and beat read while one of them writes.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CIVITAS_DB_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Celery --------------------------------------------------------------------------
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = REDIS_URL or "filesystem://localhost/"  # kombu warns when no host is named
if not REDIS_URL:
    for _folder in ("processed", "control"):
        (BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR),
        "data_folder_out": str(BROKER_DIR),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env.bool("CIVITAS_CELERY_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Worker and beat log through LOGGING below (JSON lines), like the web processes.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "audit-sequence": {
        "task": "apps.audit.tasks.audit_sequence_task",
        "schedule": env.float("CIVITAS_AUDIT_SEQUENCE_SECONDS", default=5.0),
    },
    "audit-sign-tree-head": {
        "task": "apps.audit.tasks.audit_tree_head_sign_task",
        "schedule": env.float("CIVITAS_AUDIT_TREE_HEAD_SECONDS", default=60.0),
    },
    "trust-proposals-expire": {
        "task": "apps.trust.tasks.threshold_proposals_expire_task",
        "schedule": 300.0,
    },
    "agents-reputation-recompute": {
        "task": "apps.agents.tasks.reputation_recompute_all_task",
        "schedule": env.float("CIVITAS_REPUTATION_RECOMPUTE_SECONDS", default=900.0),
    },
    "agents-negotiations-award-due": {
        # awards the calls for proposals whose bidding deadline passed (the task timed for each
        # deadline may be lost or, on Redis, redelivered: this sweep is the robust path)
        "task": "apps.agents.negotiation.tasks.announcements_award_due_task",
        "schedule": 60.0,
    },
    "feedback-escalate-due": {
        "task": "apps.feedback.tasks.review_items_escalate_due_task",
        "schedule": env.float("CIVITAS_COUNCIL_ESCALATION_SECONDS", default=60.0),
    },
    "feedback-remind-due": {
        "task": "apps.feedback.tasks.review_items_remind_due_task",
        "schedule": env.float("CIVITAS_COUNCIL_ESCALATION_SECONDS", default=60.0),
    },
    "federation-outbox-resend": {
        "task": "apps.federation.tasks.outbox_resend_pending_task",
        "schedule": env.float("CIVITAS_FEDERATION_RESEND_SECONDS", default=30.0),
    },
    "permits-expiry": {
        # expires permits past their end and reminds holders of those ending soon
        "task": "apps.permits.tasks.permits_expiry_task",
        "schedule": env.float("CIVITAS_PERMITS_EXPIRY_SECONDS", default=3600.0),
    },
    "permits-violations-overdue": {
        # violations not cured by their deadline become overdue and suspend their permits
        "task": "apps.permits.tasks.violations_overdue_task",
        "schedule": env.float("CIVITAS_PERMITS_VIOLATIONS_SECONDS", default=3600.0),
    },
    "permits-inspections-due": {
        # schedules routine, risk-rated inspections of active permits that have none open
        "task": "apps.permits.tasks.inspections_due_task",
        "schedule": env.float("CIVITAS_PERMITS_INSPECTIONS_SECONDS", default=21600.0),
    },
    "bpm-tick": {
        # fires due BPMN timers (SLA, expiry) and resumes service tasks whose cluster run finished
        "task": "apps.bpm.tasks.bpm_tick_task",
        "schedule": env.float("CIVITAS_BPM_TICK_SECONDS", default=30.0),
    },
}
# Deliveries to the public federation inbox per client address (the signature is the authentication).
CIVITAS_FEDERATION_INBOX_RATE = env.str("CIVITAS_FEDERATION_INBOX_RATE", default="600/min")

# --- Accounts ------------------------------------------------------------------------
AUTH_USER_MODEL = "identity.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = env.str("CIVITAS_EMAIL_VERIFICATION", default="mandatory")
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
# Login throttling: failures per IP and per account, counted in the cache (Redis in production).
ACCOUNT_RATE_LIMITS = {
    "login_failed": env.str("CIVITAS_LOGIN_FAILED_LIMIT", default="10/m/ip,5/5m/key"),
    "login": "30/m/ip",
    "signup": "20/m/ip",
    "reset_password": "20/m/ip,5/m/key",
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Civitas"
# One 30-second step either side, as RFC 6238 §5.2 suggests for clock drift and typing time;
# a used code is still refused a second time (allauth remembers it).
MFA_TOTP_TOLERANCE = env.int("CIVITAS_TOTP_TOLERANCE", default=1)
# Roles that may not use the portal until they have enrolled a second factor.
# hosts BPMN webhooks may call; empty: any host whose addresses are all public (never this node's network)
CIVITAS_BPM_WEBHOOK_HOSTS = env.list("CIVITAS_BPM_WEBHOOK_HOSTS", default=[])

CIVITAS_MFA_REQUIRED_ROLES = ["council_member", "institution_admin", "auditor"]

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("CIVITAS_SESSION_SECONDS", default=8 * 3600)
CSRF_COOKIE_HTTPONLY = True

EMAIL_BACKEND = env.str("CIVITAS_EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("CIVITAS_DEFAULT_FROM_EMAIL", default="civitas@localhost")
if env.str("CIVITAS_EMAIL_URL", default=""):
    vars().update(env.email_url("CIVITAS_EMAIL_URL"))

# --- API -----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "knox.auth.TokenAuthentication",
        "apps.identity.oauth.authentication.InstitutionBoundOAuth2Authentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "portal.api.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("CIVITAS_API_ANON_RATE", default="60/min"),
        "user": env.str("CIVITAS_API_USER_RATE", default="1200/min"),
        "token": env.str("CIVITAS_API_TOKEN_RATE", default="10/min"),
        # Failed authentications and refusals per client address, on the API and /o/ (zero trust).
        "auth_failed": env.str("CIVITAS_API_AUTH_FAILED_RATE", default="30/min"),
    },
    "EXCEPTION_HANDLER": "portal.api.problem_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=env.int("CIVITAS_API_TOKEN_HOURS", default=1)),
    "AUTO_REFRESH": False,
}


# --- OAuth2 / OpenID Connect provider (django-oauth-toolkit) -------------------------
def _oidc_rsa_private_key() -> str:
    """The RS256 key signing ID tokens: from the environment, or (development and tests)
    generated once into var/ and reused, so ID tokens stay verifiable across restarts."""
    pem = env.str("CIVITAS_OIDC_RSA_PRIVATE_KEY", default="", multiline=True)
    if pem or not (DEBUG or TESTING):
        return pem
    path = VAR_DIR / "oidc-rsa-private-key.pem"
    if not path.exists():
        import os

        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        data = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process won the race: use its key
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
    return path.read_text()


# Not swapped (integrator clients are a side table); named because our migration refers to it.
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
_OIDC_RSA_PRIVATE_KEY = _oidc_rsa_private_key()
OAUTH2_PROVIDER = {
    # Without a key (production without CIVITAS_OIDC_RSA_PRIVATE_KEY) OAuth2 API tokens still
    # work; sign-in with OpenID Connect (ID tokens, userinfo, discovery) is off.
    "OIDC_ENABLED": bool(_OIDC_RSA_PRIVATE_KEY),
    "OIDC_RSA_PRIVATE_KEY": _OIDC_RSA_PRIVATE_KEY,
    # Empty: the issuer is this node's address as the request names it (ALLOWED_HOSTS guards it).
    "OIDC_ISS_ENDPOINT": env.str("CIVITAS_OIDC_ISSUER", default=""),
    "OIDC_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OAUTH2_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OAUTH2_GRANT_TYPES_SUPPORTED": ["authorization_code", "client_credentials", "refresh_token"],
    "OAUTH2_VALIDATOR_CLASS": "apps.identity.oauth.validators.CivitasOAuth2Validator",
    "SCOPES_BACKEND_CLASS": "apps.identity.oauth.scopes.CivitasScopes",
    "SCOPES": {"openid": "OpenID Connect"},  # the real catalogue is CivitasScopes
    "PKCE_REQUIRED": True,
    "ACCESS_TOKEN_EXPIRE_SECONDS": env.int("CIVITAS_OAUTH_ACCESS_TOKEN_SECONDS", default=600),
    "ID_TOKEN_EXPIRE_SECONDS": env.int("CIVITAS_OAUTH_ACCESS_TOKEN_SECONDS", default=600),
    "REFRESH_TOKEN_EXPIRE_SECONDS": env.int("CIVITAS_OAUTH_REFRESH_TOKEN_SECONDS", default=8 * 3600),
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https", "http"],  # http only for loopback, checked on registration
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,  # only a checksum of each token is stored
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,  # never in the query string
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,  # RFC 9207 `iss` in the authorization response
    "REQUEST_APPROVAL_PROMPT": "force",
}
# DOT warns that http redirect URIs are allowed: registration accepts http only for loopback
# addresses (native apps, RFC 8252 §7.3), see apps/identity/oauth/services.py.
SILENCED_SYSTEM_CHECKS = ["oauth2_provider.W008"]

SPECTACULAR_SETTINGS = {
    "TITLE": "Civitas API",
    "DESCRIPTION": "The REST API of a Civitas node. Errors are RFC 9457 problem+json documents.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Internationalisation ------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("fr", _("French"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("CIVITAS_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static files --------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or TESTING
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
MEDIA_ROOT = VAR_DIR / "media"

# --- Security headers ----------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "base-uri": [SELF],
        "object-src": [NONE],
    }
}
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("CIVITAS_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("CIVITAS_HSTS_SECONDS", default=31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("CIVITAS_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("CIVITAS_HSTS_PRELOAD", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    if env.bool("CIVITAS_BEHIND_TLS_PROXY", default=False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]

# --- Logging: structured JSON --------------------------------------------------------
LOG_FORMAT = env.str("CIVITAS_LOG_FORMAT", default="json")
LOG_LEVEL = env.str("CIVITAS_LOG_LEVEL", default="INFO")
_shared_processors = [
    structlog.contextvars.merge_contextvars,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
]
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "structured": {
            "()": structlog.stdlib.ProcessorFormatter,
            "processors": [
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer()
                if LOG_FORMAT == "json"
                else structlog.dev.ConsoleRenderer(colors=False),
            ],
            "foreign_pre_chain": _shared_processors,
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Replaces Django's default plain-text handler on its own loggers.
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "django.server": {"level": "WARNING"},
        "django_structlog": {"level": LOG_LEVEL},
        # SpiffWorkflow logs every task's state change at INFO; each step is in the instance's events
        # and the audit log already
        "spiff": {"level": "WARNING"},
    },
}
structlog.configure(
    processors=[
        *_shared_processors,
        structlog.stdlib.filter_by_level,
        structlog.processors.StackInfoRenderer(),
        structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
    ],
    logger_factory=structlog.stdlib.LoggerFactory(),
    cache_logger_on_first_use=True,
)
DJANGO_STRUCTLOG_CELERY_ENABLED = True

PROMETHEUS_EXPORT_MIGRATIONS = False

if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    CELERY_TASK_ALWAYS_EAGER = True
