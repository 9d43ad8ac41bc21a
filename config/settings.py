"""Pivot Path settings: one file, read from the environment (and `.env` when present).

Every setting has a safe embedded default for a fresh machine (SQLite, a broker that needs
no server, a local outbox for email, local signed checkout). Production overrides them
through the environment; `.env.example` documents each one.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import environ
from csp import constants as csp

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# Values already in the environment win over the file; ENV_FILE="" reads no file (tests).
_env_file = environ.Env().str("ENV_FILE", default=str(BASE_DIR / ".env"))
if _env_file:
    environ.Env.read_env(_env_file, overwrite=False)

VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=False)

# Start-up refuses to run in production on a missing or published key.
_DEV_SECRET_KEY = "dev-only-insecure-key-never-use-in-production"
SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET_KEY)
if not DEBUG and (SECRET_KEY == _DEV_SECRET_KEY or len(SECRET_KEY) < 50):
    sys.exit(
        "Pivot Path: SECRET_KEY must be set to a private value of 50+ characters when DEBUG is off (see .env.example)."
    )
# A key padded around the published one, or a few characters repeated (fewer than 5 different), is
# as guessable as none.
if not DEBUG and (_DEV_SECRET_KEY in SECRET_KEY or len(set(SECRET_KEY)) < 5):
    sys.exit(
        "Pivot Path: SECRET_KEY contains the published development key or is a few characters repeated; "
        "set a random one (see .env.example)."
    )

SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
# Every email's links are built on SITE_URL: production must say where the site is.
if not DEBUG and "SITE_URL" not in env:
    sys.exit("Pivot Path: SITE_URL must be set to the site's public address when DEBUG is off (see .env.example).")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[SITE_URL])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "anymail",
    "axes",  # admin login throttling and lockout
    "csp",
    "course",
    "lessons",
    "subscribers",
    "config.apps.PivotPathConfig",  # the project's system checks (config.checks)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "subscribers.ops.metrics.WebhookAnswers",  # outside the rest: it counts every answer, 503s included
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "config.middleware.DatabaseUnavailableMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "config" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "config.pages.support",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'pivotpath.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + IMMEDIATE transactions let web, worker and beat share the file without
    # "database is locked"; the test database is a file so a real worker can open it.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-pivotpath.sqlite3")}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Celery ---------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    # Longer than any send can take; due-ness lives in the database, not in the broker.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
else:
    # The embedded broker: kombu's filesystem transport, a folder of message files.
    _broker_dir = Path(env.str("CELERY_BROKER_DIR", default=str(VAR_DIR / "broker")))
    for _sub in ("out", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- Email ----------------------------------------------------------------------------
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Pivot Path <course@pivotpath.localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
REPLY_DOMAIN = env.str("REPLY_DOMAIN", default="reply.pivotpath.localhost")
ANYMAIL_ESP = env.str("ANYMAIL_ESP", default="").lower()
_ESP_BACKENDS = {
    "postmark": "anymail.backends.postmark.EmailBackend",
    "mailgun": "anymail.backends.mailgun.EmailBackend",
    "amazon_ses": "anymail.backends.amazon_ses.EmailBackend",
}
if ANYMAIL_ESP and ANYMAIL_ESP not in _ESP_BACKENDS:
    sys.exit(f"Pivot Path: ANYMAIL_ESP must be one of {', '.join(_ESP_BACKENDS)} (got {ANYMAIL_ESP!r}).")
# The ESP whose inbound webhook is routed (see subscribers.sending.esp_payloads.INBOUND_PATHS). With no ESP
# (a fresh machine) it is Postmark's view: the dev outbox posts Postmark-shaped replies to it.
INBOUND_ESP = ANYMAIL_ESP or "postmark"
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND", default=_ESP_BACKENDS.get(ANYMAIL_ESP, "subscribers.sending.outbox.OutboxBackend")
)
# Only for EMAIL_BACKEND=subscribers.sending.smtp.EmailBackend (an SMTP relay; the drills' sink).
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
ANYMAIL = {
    "POSTMARK_SERVER_TOKEN": env.str("POSTMARK_SERVER_TOKEN", default=""),
    "MAILGUN_API_KEY": env.str("MAILGUN_API_KEY", default=""),
    "MAILGUN_SENDER_DOMAIN": env.str("MAILGUN_SENDER_DOMAIN", default=""),
    "MAILGUN_WEBHOOK_SIGNING_KEY": env.str("MAILGUN_WEBHOOK_SIGNING_KEY", default=""),
    "AMAZON_SES_CLIENT_PARAMS": {"region_name": env.str("AWS_REGION", default="us-east-1")},
    # Basic-auth credentials the ESP's webhooks must present; a list so they can rotate.
    "WEBHOOK_SECRET": env.list("ANYMAIL_WEBHOOK_SECRET", default=[]),
}
if ANYMAIL_ESP and not ANYMAIL["WEBHOOK_SECRET"]:
    sys.exit(
        f"Pivot Path: ANYMAIL_ESP={ANYMAIL_ESP} needs ANYMAIL_WEBHOOK_SECRET, or anyone can post forged bounces "
        "and replies to its webhooks (see .env.example)."
    )
if ANYMAIL_ESP == "mailgun" and not ANYMAIL["MAILGUN_WEBHOOK_SIGNING_KEY"]:
    sys.exit(
        "Pivot Path: ANYMAIL_ESP=mailgun needs MAILGUN_WEBHOOK_SIGNING_KEY to verify its webhooks (see .env.example)."
    )
# The dev outbox page (every email sent, with each reader's links); on only with DEBUG.
OUTBOX_PAGE_ENABLED = env.bool("OUTBOX_PAGE_ENABLED", default=DEBUG)
if OUTBOX_PAGE_ENABLED and not DEBUG:
    sys.exit(
        "Pivot Path: OUTBOX_PAGE_ENABLED shows every email sent, with readers' links; it is refused with DEBUG off."
    )

# --- Stripe ---------------------------------------------------------------------------
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_PRICE_ID = env.str("STRIPE_PRICE_ID", default="")
if STRIPE_SECRET_KEY and not (STRIPE_WEBHOOK_SECRET and STRIPE_PRICE_ID):
    sys.exit("Pivot Path: STRIPE_SECRET_KEY needs STRIPE_WEBHOOK_SECRET and STRIPE_PRICE_ID too (see .env.example).")
# With no Stripe keys in development, a local signed checkout stands in for Stripe Checkout.
LOCAL_CHECKOUT = env.bool("LOCAL_CHECKOUT", default=DEBUG and not STRIPE_SECRET_KEY)
if LOCAL_CHECKOUT and not DEBUG:
    sys.exit("Pivot Path: LOCAL_CHECKOUT enrols readers without payment; it is refused with DEBUG off.")
# The course sold on the course page and at /start/.
SIGNUP_COURSE = env.str("SIGNUP_COURSE", default="clinical-to-non-clinical")

# --- Drip -----------------------------------------------------------------------------
DRIP_BATCH_SIZE = env.int("DRIP_BATCH_SIZE", default=500)
# A delivery left in `sending` this long by a worker that died is claimed again.
DRIP_STALE_SENDING_SECONDS = env.int("DRIP_STALE_SENDING_SECONDS", default=600)
# A `pending` delivery whose send task never ran (broker down, lost message) is queued again.
DRIP_STALE_PENDING_SECONDS = env.int("DRIP_STALE_PENDING_SECONDS", default=300)
# How often beat runs the tick (the drills shorten it; production keeps a minute).
DRIP_TICK_SECONDS = env.float("DRIP_TICK_SECONDS", default=60.0)
# Where a send chunk notes each accepted message until the database records it (subscribers.sending.journal).
SEND_JOURNAL_DIR = Path(env.str("SEND_JOURNAL_DIR", default=str(VAR_DIR / "send-journal")))
# The local hour weekly emails go out at when an enrolment names none (manage.py enroll).
_send_hour = env.str("DEFAULT_SEND_HOUR", default="8").strip()
if not (_send_hour.isdigit() and 0 <= int(_send_hour) <= 23):
    sys.exit(f"Pivot Path: DEFAULT_SEND_HOUR must be a whole hour from 0 to 23 (got {_send_hour!r}).")
DEFAULT_SEND_HOUR = int(_send_hour)
# Reader links other than unsubscribe (preferences, plan, lesson archive) stop working this many
# days after the email carrying them was sent (subscribers.readers.links); 1 to 365.
READER_LINK_MAX_AGE_DAYS = env.int("READER_LINK_MAX_AGE_DAYS", default=30)
if not 1 <= READER_LINK_MAX_AGE_DAYS <= 365:
    sys.exit(f"Pivot Path: READER_LINK_MAX_AGE_DAYS must be 1 to 365 (got {READER_LINK_MAX_AGE_DAYS}).")

# --- Replies (subscribers.replies) ---------------------------------------------------------
# A reply sent to review, or asking something, is answered by a person within this many days; the
# reader's acknowledgement says so (subscribers.replies.conversations).
REPLY_ANSWER_DAYS = env.int("REPLY_ANSWER_DAYS", default=2)
if not 1 <= REPLY_ANSWER_DAYS <= 30:
    sys.exit(f"Pivot Path: REPLY_ANSWER_DAYS must be 1 to 30 (got {REPLY_ANSWER_DAYS}).")
# The biggest inbound webhook body accepted: Postmark's attachments may total 35 MB, posted base64 in
# JSON twice (Attachments and RawEmail), about 94 MB; SES posts at most 150 KB through SNS (its S3
# action is fetched, not posted). Django's own 2.5 MB limit stays for every other view.
INBOUND_MAX_BODY_BYTES = env.int("INBOUND_MAX_BODY_BYTES", default=100 * 1024 * 1024)
# Attachments kept with a stored reply, in total; beyond it each is replaced by a note naming it.
INBOUND_KEEP_ATTACHMENT_BYTES = env.int("INBOUND_KEEP_ATTACHMENT_BYTES", default=5 * 1024 * 1024)

# --- Operations (subscribers.ops.health, subscribers.ops.metrics) ----------------------
# Beat writes its heartbeat from its own loop (config.beat.Scheduler); workers from a thread.
CELERY_BEAT_SCHEDULER = "config.beat:Scheduler"
# /readyz fails when the reader who has waited longest for their email has waited this long.
OPS_DUE_LAG_LIMIT_SECONDS = env.int("OPS_DUE_LAG_LIMIT_SECONDS", default=900)
# A Prometheus scrape presents `Authorization: Bearer <METRICS_TOKEN>`; staff may open it too.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# Where readers write for help (shown on the duplicate-payment page and in the refund email).
SUPPORT_EMAIL = env.str("SUPPORT_EMAIL", default="support@pivotpath.localhost")
# Error reports to Sentry, only when a DSN is set: web, worker and beat (its Django and Celery
# integrations switch on by themselves); no personal data (readers' addresses) is sent.
SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    import sentry_sdk

    sentry_sdk.init(dsn=SENTRY_DSN, send_default_pii=False, environment=env.str("SENTRY_ENVIRONMENT", default=""))
# A load balancer probes over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
CSRF_FAILURE_VIEW = "config.pages.csrf_failure"

# --- Deliverability -------------------------------------------------------------------
# The sender's postal address, printed in every course email's footer (CAN-SPAM and the
# bulk-sender rules of Gmail and Yahoo ask for one).
SENDER_POSTAL_ADDRESS = env.str("SENDER_POSTAL_ADDRESS", default="")
# Sends per second to the ESP, held across all workers (subscribers.sending.throttle). Empty: the
# ESP's default below; 0: no limit. SEND_BURST: sends allowed at once (default twice the rate).
SEND_RATE_PER_SECOND = env.float("SEND_RATE_PER_SECOND", default=None)
SEND_BURST = env.float("SEND_BURST", default=0)
ESP_SEND_RATES = {"postmark": 50, "mailgun": 50, "amazon_ses": 14}
# Deliveries of one lesson version in one send chunk go out in one batch call where the ESP
# supports per-recipient data on non-template sends (Mailgun); one request each otherwise.
ESP_BATCH_SENDING = env.bool("ESP_BATCH_SENDING", default=True)
# Soft bounces in a row (no delivery between them) that suppress an address.
SOFT_BOUNCE_LIMIT = env.int("SOFT_BOUNCE_LIMIT", default=3)

# --- Internationalisation and static files --------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Security (production; `manage.py check --deploy` is clean with DEBUG off) ---------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
X_FRAME_OPTIONS = "DENY"

# Admin login: AXES_FAILURE_LIMIT wrong passwords for one username from one address lock that
# pair out for AXES_COOLOFF_HOURS (django-axes; a success resets the count). Behind a proxy, set
# AXES_IPWARE_PROXY_COUNT to the number of proxies so the client's own address is counted.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(hours=env.float("AXES_COOLOFF_HOURS", default=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_IPWARE_PROXY_COUNT = env.int("AXES_IPWARE_PROXY_COUNT", default=None)
# X-Forwarded-For is believed only behind a stated number of proxies: anyone can send one.
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if AXES_IPWARE_PROXY_COUNT else ["REMOTE_ADDR"]
)

# Content-Security-Policy on every page (django-csp): scripts only our own files and the inline
# blocks carrying the request's nonce; styles are inline in the templates. The lesson archive,
# which shows lesson HTML, is stricter still (subscribers.preferences.views.ARCHIVE_CSP).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp.SELF],
        "script-src": [csp.SELF, csp.NONCE],
        "style-src": [csp.SELF, csp.UNSAFE_INLINE],
        "img-src": [csp.SELF, "data:"],
        "object-src": [csp.NONE],
        "base-uri": [csp.NONE],
        "frame-ancestors": [csp.NONE],
        # The intake form's answer redirects to Stripe Checkout.
        "form-action": [csp.SELF, "https://checkout.stripe.com"],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # axes announces itself at INFO in every process, commands included: only its warnings (lockouts) are news.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}
