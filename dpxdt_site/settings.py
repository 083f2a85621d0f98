"""Depicted's settings: every environment variable is read here and nowhere else.

Defaults make a fresh checkout run on one machine (SQLite, local files, filesystem broker, all
under DPXDT_DATA_DIR). Every variable is listed in .env.example and the README.
"""

import os
import secrets
import time
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name, default=""):
    """The variable's value; unset and empty both mean the default."""
    return os.environ.get(name) or default


def env_number(name, default, kind=int):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return kind(value)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise ImproperlyConfigured(f"{name} must be {what}, not {value!r}") from None


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def env_list(name, default):
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def embedded_secret_key(path: Path) -> str:
    """The secret key kept in ``path``, made on first use (mode 0600). Two processes starting
    at once agree: one creates the file, the other waits for its contents."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):
            key = path.read_text().strip()
            if key:
                return key
            time.sleep(0.1)
        raise ImproperlyConfigured(
            f"{path} is empty: delete it (a new key is made) or set DPXDT_SECRET_KEY"
        ) from None
    key = secrets.token_urlsafe(50)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


DEBUG = env_bool("DPXDT_DEBUG", False)
DEFAULT_DATA_DIR = (BASE_DIR / "var").resolve()
DATA_DIR = Path(env_str("DPXDT_DATA_DIR", str(DEFAULT_DATA_DIR))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

# The secret key: DPXDT_SECRET_KEY, else (on the embedded default, where the data directory is
# ./var, or with DPXDT_DEBUG on) one made once and kept in $DPXDT_DATA_DIR/secret_key, so every
# manage.py command works in a fresh shell. A server with its data elsewhere and debug off is a
# production one: it refuses to start without an explicit key.
SECRET_KEY = env_str("DPXDT_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG and DATA_DIR != DEFAULT_DATA_DIR:
        raise ImproperlyConfigured(
            "DPXDT_SECRET_KEY must be set when DPXDT_DEBUG is off and DPXDT_DATA_DIR is not "
            f"the default ({DEFAULT_DATA_DIR})"
        )
    SECRET_KEY = embedded_secret_key(DATA_DIR / "secret_key")

ALLOWED_HOSTS = env_list("DPXDT_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DPXDT_CSRF_TRUSTED_ORIGINS", [])
# The public address of this server, used in links handed to API clients and emails
# (results_url). Empty: taken from the request.
PUBLIC_URL = env_str("DPXDT_PUBLIC_URL").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "social_django",
    "axes",
    "common",  # the run view's templates and the site's CSS and JS, shared with the local tool
    "artifacts",
    "releases",
    "pdiff",
    "capture",
    "localtool",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Where this web process listens, for the network policy's "self" (releases/endpoints.py).
    "releases.endpoints.RecordEndpointMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "dpxdt_site.urls"
WSGI_APPLICATION = "dpxdt_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "releases.views.site_context",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'dpxdt.sqlite3'}")
# Seconds a database connection is kept for reuse (0: one per request).
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL, conn_max_age=env_number("DPXDT_DB_CONN_MAX_AGE", 60)
    )
}
# A kept connection is checked before a request reuses it, so that a database restart costs a
# reconnect instead of one 500 per kept connection.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
_engine = DATABASES["default"]["ENGINE"]
if _engine == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # The web server and the worker share the file: wait for the lock instead of failing,
        # take the write lock when a transaction starts (so select_for_update-style sections
        # serialise) and let readers run beside the writer.
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not :memory:, so that a worker process can share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-dpxdt.sqlite3")}
elif _engine == "django.db.backends.mysql":
    import pymysql

    pymysql.install_as_MySQLdb()
    DATABASES["default"].setdefault("OPTIONS", {})["charset"] = "utf8mb4"
    DATABASES["default"]["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_bin"}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if env_bool("DPXDT_FAST_PASSWORD_HASHER", False):  # tests only: hashing speed is not the point
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"

# --- Accounts -------------------------------------------------------------------------------
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"
SESSION_COOKIE_HTTPONLY = True
# Behind a reverse proxy that terminates HTTPS (the production layout): trust its
# X-Forwarded-Proto header for "is this request secure" and send HSTS.
BEHIND_HTTPS_PROXY = env_bool("DPXDT_BEHIND_HTTPS_PROXY", False)
if BEHIND_HTTPS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_number("DPXDT_HSTS_SECONDS", 31536000)
SESSION_COOKIE_SECURE = env_bool("DPXDT_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# Django's own accounts always work; each identity provider is offered (a login button) only
# when its credentials are configured.
# django-axes first: it refuses a locked-out user+address before the password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Login throttling (django-axes): after this many failed logins for one user name from one
# address, that pair is locked out for this many minutes; a successful login resets the count.
AXES_FAILURE_LIMIT = env_number("DPXDT_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_number("DPXDT_LOGIN_LOCKOUT_MINUTES", 15, float) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "lockout.html"
AXES_VERBOSE = False
if AXES_FAILURE_LIMIT < 1:
    raise ImproperlyConfigured(
        f"DPXDT_LOGIN_FAILURE_LIMIT must be at least 1, not {AXES_FAILURE_LIMIT}"
    )
SOCIAL_PROVIDERS = []  # (backend name, button label)
SOCIAL_AUTH_GOOGLE_OAUTH2_KEY = env_str("DPXDT_GOOGLE_OAUTH2_KEY")
SOCIAL_AUTH_GOOGLE_OAUTH2_SECRET = env_str("DPXDT_GOOGLE_OAUTH2_SECRET")
SOCIAL_AUTH_GOOGLE_OAUTH2_WHITELISTED_DOMAINS = env_list("DPXDT_GOOGLE_OAUTH2_DOMAINS", [])
if SOCIAL_AUTH_GOOGLE_OAUTH2_KEY and SOCIAL_AUTH_GOOGLE_OAUTH2_SECRET:
    AUTHENTICATION_BACKENDS.insert(0, "social_core.backends.google.GoogleOAuth2")
    SOCIAL_PROVIDERS.append(("google-oauth2", "Google"))
SOCIAL_AUTH_GITHUB_KEY = env_str("DPXDT_GITHUB_KEY")
SOCIAL_AUTH_GITHUB_SECRET = env_str("DPXDT_GITHUB_SECRET")
SOCIAL_AUTH_GITHUB_SCOPE = ["user:email"]
if SOCIAL_AUTH_GITHUB_KEY and SOCIAL_AUTH_GITHUB_SECRET:
    AUTHENTICATION_BACKENDS.insert(0, "social_core.backends.github.GithubOAuth2")
    SOCIAL_PROVIDERS.append(("github", "GitHub"))
SOCIAL_AUTH_OIDC_OIDC_ENDPOINT = env_str("DPXDT_OIDC_ENDPOINT")
SOCIAL_AUTH_OIDC_KEY = env_str("DPXDT_OIDC_KEY")
SOCIAL_AUTH_OIDC_SECRET = env_str("DPXDT_OIDC_SECRET")
if SOCIAL_AUTH_OIDC_OIDC_ENDPOINT and SOCIAL_AUTH_OIDC_KEY and SOCIAL_AUTH_OIDC_SECRET:
    AUTHENTICATION_BACKENDS.insert(0, "social_core.backends.open_id_connect.OpenIdConnectAuth")
    SOCIAL_PROVIDERS.append(("oidc", env_str("DPXDT_OIDC_NAME", "Single sign-on")))
SOCIAL_AUTH_URL_NAMESPACE = "social"
SOCIAL_AUTH_JSONFIELD_ENABLED = True
# A provider's user is matched to an existing account by e-mail only when the provider says it
# verified the address (releases/social.py); otherwise the address is dropped.
SOCIAL_AUTH_PIPELINE = (
    "social_core.pipeline.social_auth.social_details",
    "social_core.pipeline.social_auth.social_uid",
    "social_core.pipeline.social_auth.auth_allowed",
    "social_core.pipeline.social_auth.social_user",
    "social_core.pipeline.user.get_username",
    "releases.social.drop_unverified_email",
    "social_core.pipeline.social_auth.associate_by_email",
    "social_core.pipeline.user.create_user",
    "social_core.pipeline.social_auth.associate_user",
    "social_core.pipeline.social_auth.load_extra_data",
    "social_core.pipeline.user.user_details",
)

# --- Email ----------------------------------------------------------------------------------
EMAIL_BACKEND = env_str("DPXDT_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("DPXDT_EMAIL_HOST", "localhost")
EMAIL_PORT = env_number("DPXDT_EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("DPXDT_EMAIL_USER")
EMAIL_HOST_PASSWORD = env_str("DPXDT_EMAIL_PASSWORD")
EMAIL_USE_TLS = env_bool("DPXDT_EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DPXDT_EMAIL_FROM", "depicted@localhost")

# --- Artifacts ------------------------------------------------------------------------------
S3_BUCKET = env_str("DPXDT_S3_BUCKET")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
if S3_BUCKET:
    from botocore.config import Config as _S3Config

    # Credentials come from boto3's usual chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY,
    # instance roles, ...), never from this file.
    STORAGES["artifacts"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            "endpoint_url": env_str("DPXDT_S3_ENDPOINT_URL") or None,
            "region_name": env_str("DPXDT_S3_REGION") or None,
            "location": env_str("DPXDT_S3_PREFIX", "artifacts"),
            "file_overwrite": True,  # content-addressed: same key, same bytes
            "default_acl": None,
            "querystring_auth": True,
            # An endpoint that is down fails fast, and the step is retried by the pipeline
            # (releases.tasks.run_step) instead of a worker hanging on botocore's 60 s waits.
            "client_config": _S3Config(
                connect_timeout=5,
                read_timeout=30,
                retries={"max_attempts": 3, "mode": "standard"},
                s3={"addressing_style": "auto"},
            ),
        },
    }
else:
    STORAGES["artifacts"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(DATA_DIR / "artifacts"), "allow_overwrite": True},
    }

MAX_UPLOAD_BYTES = env_number("DPXDT_MAX_UPLOAD_BYTES", 64 * 1024 * 1024)
# Uploads bigger than this are spooled to a temporary file instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 4 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = None
DATA_UPLOAD_MAX_MEMORY_SIZE = 8 * 1024 * 1024

# --- Diff defaults (a run's config, then the build's settings, then these) ------------------
DIFF_THRESHOLD = env_number("DPXDT_DIFF_THRESHOLD", 0.1, float)
if not 0 <= DIFF_THRESHOLD <= 1:
    raise ImproperlyConfigured(
        f"DPXDT_DIFF_THRESHOLD must be between 0 and 1, not {DIFF_THRESHOLD}"
    )
# Smallest area (pixels) of a coherent colour change under the threshold that is reported as
# a subtle region and makes the run diff_found.
SUBTLE_MIN_AREA = env_number("DPXDT_SUBTLE_MIN_AREA", 400)
if SUBTLE_MIN_AREA < 1:
    raise ImproperlyConfigured(f"DPXDT_SUBTLE_MIN_AREA must be at least 1, not {SUBTLE_MIN_AREA}")

# --- Webhooks (release events POSTed to a build's URLs) --------------------------------------
# Attempts per delivery, the pause before the second (doubling after), one POST's timeout.
WEBHOOK_ATTEMPTS = env_number("DPXDT_WEBHOOK_ATTEMPTS", 5)
WEBHOOK_RETRY_SECONDS = env_number("DPXDT_WEBHOOK_RETRY_SECONDS", 10.0, float)
WEBHOOK_TIMEOUT_SECONDS = env_number("DPXDT_WEBHOOK_TIMEOUT_SECONDS", 10.0, float)
if WEBHOOK_ATTEMPTS < 1:
    raise ImproperlyConfigured(f"DPXDT_WEBHOOK_ATTEMPTS must be at least 1, not {WEBHOOK_ATTEMPTS}")

# --- Capture --------------------------------------------------------------------------------
# The Chromium binary; unset: /usr/bin/chromium-headless-shell, /usr/bin/chromium, else
# Playwright's own browser.
CHROMIUM = env_str("DPXDT_CHROMIUM")
# Tries per capture before the run fails, and the first pause between them (doubling).
CAPTURE_ATTEMPTS = env_number("DPXDT_CAPTURE_ATTEMPTS", 3)
if CAPTURE_ATTEMPTS < 1:
    raise ImproperlyConfigured(f"DPXDT_CAPTURE_ATTEMPTS must be at least 1, not {CAPTURE_ATTEMPTS}")
CAPTURE_RETRY_DELAY_SECONDS = env_number("DPXDT_CAPTURE_RETRY_DELAY_SECONDS", 1.0, float)
# Soft limit on one capture task (all its tries); a config's timeoutMs bounds each try.
CAPTURE_TIME_LIMIT_SECONDS = env_number("DPXDT_CAPTURE_TIME_LIMIT_SECONDS", 420)
# The largest screenshot (width x height x scale^2): taller full pages are cut to fit, bigger
# viewports and clip rectangles are refused at request_run.
CAPTURE_MAX_PIXELS = env_number("DPXDT_CAPTURE_MAX_PIXELS", 60_000_000)
# Every capture must stay diffable: pdiff.core.MAX_PIXELS (a test keeps the two equal).
DIFF_MAX_PIXELS = 200_000_000
if not 1_000_000 <= CAPTURE_MAX_PIXELS <= DIFF_MAX_PIXELS:
    raise ImproperlyConfigured(
        f"DPXDT_CAPTURE_MAX_PIXELS must be between 1000000 and {DIFF_MAX_PIXELS} (the largest "
        f"image the diff reads), not {CAPTURE_MAX_PIXELS}"
    )
# Elements a capture's layout map records at most (the outermost are kept past it).
LAYOUT_MAX_ELEMENTS = env_number("DPXDT_LAYOUT_MAX_ELEMENTS", 20_000)
if not 100 <= LAYOUT_MAX_ELEMENTS <= 200_000:
    raise ImproperlyConfigured(
        f"DPXDT_LAYOUT_MAX_ELEMENTS must be between 100 and 200000, not {LAYOUT_MAX_ELEMENTS}"
    )
# The CPU priority (niceness, 0-19) of the capture workers' Chromium: on a host that also runs
# a diff worker or the web server, those go first, and a release's diffs keep pace with its
# captures (measured: the CSS-change release of make bench, ~5 % sooner at 10 than at 0).
CAPTURE_NICE = env_number("DPXDT_CAPTURE_NICE", 10)
if not 0 <= CAPTURE_NICE <= 19:
    raise ImproperlyConfigured(f"DPXDT_CAPTURE_NICE must be between 0 and 19, not {CAPTURE_NICE}")
# Where captures may send requests (capture/netpolicy.py): rules, comma-separated. Link-local
# addresses and this server itself are always denied; private networks are allowed.
CAPTURE_ALLOW = env_str("DPXDT_CAPTURE_ALLOW")
CAPTURE_DENY = env_str("DPXDT_CAPTURE_DENY")
# Where webhooks may be delivered: the same rule syntax and defaults (link-local and this server
# always denied, private networks and loopback allowed).
WEBHOOK_ALLOW = env_str("DPXDT_WEBHOOK_ALLOW")
WEBHOOK_DENY = env_str("DPXDT_WEBHOOK_DENY")
try:
    from capture.netpolicy import PolicyError, parse_rules

    parse_rules(CAPTURE_ALLOW)
    parse_rules(CAPTURE_DENY)
    parse_rules(WEBHOOK_ALLOW, "webhook")
    parse_rules(WEBHOOK_DENY, "webhook")
except PolicyError as _exc:
    raise ImproperlyConfigured(str(_exc)) from None

# --- Celery ---------------------------------------------------------------------------------
# (kombu warns at every connection of a broker URL that names no host: this one names one.)
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://localhost//")
# Redis: a message not acknowledged within this time is delivered again; it must exceed the
# longest task's hard time limit.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = DATA_DIR / "broker"
    for _folder in ("queue", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
_broker_prefix = env_str("DPXDT_BROKER_KEY_PREFIX")
if _broker_prefix:  # lets several installations (or test sessions) share one Redis
    CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = _broker_prefix
# How long a stuck run may sit in a pipeline state before the sweeper restarts it, and how many
# times a run's diff may be started before it is failed for good.
STUCK_RUN_SECONDS = env_number("DPXDT_STUCK_RUN_SECONDS", 600)
# A worker renews its hold on a step (a lease) every third of this; a lease not renewed for
# this long means the worker died, and the sweeper (every DPXDT_SWEEP_SECONDS) hands the step
# to another worker.
LEASE_SECONDS = env_number("DPXDT_LEASE_SECONDS", 30)
SWEEP_SECONDS = env_number("DPXDT_SWEEP_SECONDS", 10)
# Fair sharing: how many runs of one build may have captures (or diffs) sent to the workers at
# once; the rest wait in the database for their turn, so one build's 10,000-page crawl does
# not queue ahead of another build's 5 pages. Set them to at least the number of capture
# (diff) processes you run, or one build alone cannot keep them all busy.
BUILD_CAPTURES_IN_FLIGHT = env_number("DPXDT_BUILD_CAPTURES_IN_FLIGHT", 16)
BUILD_DIFFS_IN_FLIGHT = env_number("DPXDT_BUILD_DIFFS_IN_FLIGHT", 16)
MAX_RUNS_PER_RELEASE = env_number("DPXDT_MAX_RUNS_PER_RELEASE", 20000)
# The sweeper (Celery beat, one worker started with -B): expired leases, work the broker lost,
# builds waiting for their turn.
CELERY_BEAT_SCHEDULE = {
    "sweep-stuck-runs": {
        "task": "dpxdt.releases.sweep_stuck_runs",
        "schedule": float(SWEEP_SECONDS),
        "options": {"expires": float(SWEEP_SECONDS)},  # a sweep missed is replaced by the next
    },
    # Retention (releases/services/retention.py), daily.
    "collect-old-releases": {
        "task": "dpxdt.releases.collect_old_releases",
        "schedule": 86400.0,
        "options": {"expires": 86400.0},
    },
}
# Retention: a build's releases older than this many days (0: any age) that are not among its
# newest KEEP_RELEASES are collected, except those holding a baseline, in review, or pinned.
# A build's settings may say otherwise.
KEEP_DAYS = env_number("DPXDT_KEEP_DAYS", 90)
KEEP_RELEASES = env_number("DPXDT_KEEP_RELEASES", 20)
# An artifact stored (uploaded, written) less than this long ago is never deleted: an upload
# whose report_run has not come yet.
GC_GRACE_SECONDS = env_number("DPXDT_GC_GRACE_SECONDS", 86400)
if min(KEEP_DAYS, KEEP_RELEASES, GC_GRACE_SECONDS) < 0:
    raise ImproperlyConfigured("DPXDT_KEEP_DAYS, DPXDT_KEEP_RELEASES, DPXDT_GC_GRACE_SECONDS >= 0")
# The budgets of a run's step, which multiply: a step (a capture side, a diff) is claimed at
# most MAX_PIPELINE_ATTEMPTS times (releases.services.moves.attempt_limit); each claim's
# transient errors (storage, network, the database) are retried TRANSIENT_RETRIES times with
# backoff; each capture tries the page CAPTURE_ATTEMPTS times.
MAX_PIPELINE_ATTEMPTS = env_number("DPXDT_MAX_PIPELINE_ATTEMPTS", 3)
TRANSIENT_RETRIES = env_number("DPXDT_TRANSIENT_RETRIES", 4)
DIFF_TIME_LIMIT_SECONDS = env_number("DPXDT_DIFF_TIME_LIMIT_SECONDS", 120)

# --- API ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "releases.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.FormParser",
        "releases.parsers.MultiPartParser",
        "releases.parsers.JSONParser",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "releases.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Depicted API",
    "DESCRIPTION": "The dpxdt-compatible release, run and artifact API.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("DPXDT_LOG_LEVEL", "INFO")},
    # Libraries' own chatter (libvips reports every resize at INFO) is off unless asked for.
    "loggers": {
        name: {"level": env_str("DPXDT_LIBRARY_LOG_LEVEL", "WARNING")}
        for name in ("pyvips", "PIL", "botocore", "boto3", "s3transfer", "urllib3", "asyncio")
    },
}
