"""Configuration read from the environment (12-factor). No secret lives in source."""

import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet

BASE_DIR = Path(__file__).resolve().parent.parent
INSTANCE_DIR = Path(os.environ.get("DULY_INSTANCE_DIR", BASE_DIR / "instance"))


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        return f"sqlite:///{INSTANCE_DIR / 'duly.sqlite3'}"
    # Heroku-style URLs name the old driver; Duly talks to PostgreSQL through psycopg 3.
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def _dev_secret(name: str) -> str:
    """A random secret kept under instance/ so that the demo works without setup but never ships one."""
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    path = INSTANCE_DIR / name
    if not path.exists():
        value = Fernet.generate_key().decode() if name == "encryption.key" else secrets.token_urlsafe(48)
        path.write_text(value)
        path.chmod(0o600)
    return path.read_text().strip()


ENVIRONMENTS = ("production", "development")
MIN_SECRET_KEY = 32


class ConfigError(RuntimeError):
    """A setting is missing or unusable: the app refuses to start, naming the variable."""


def environment() -> str:
    """DULY_ENV, which has no default: a forgotten setting must not turn a server into a demo with generated keys.
    The launcher (``make demo``) and the tests set ``development`` themselves."""
    name = os.environ.get("DULY_ENV", "")
    if name not in ENVIRONMENTS:
        raise ConfigError(
            f"DULY_ENV must be set to production or development (it is {name!r}); "
            "`make demo` sets development for you, a server sets production"
        )
    return name


def is_production() -> bool:
    """For the demo's parts (seed, simulator) that must refuse to run on a server, whatever else is set."""
    return os.environ.get("DULY_ENV") == "production"


def _secret_key(production: bool) -> str:
    value = os.environ.get("SECRET_KEY", "")
    if not production:
        return value or _dev_secret("secret.key")
    if len(value) < MIN_SECRET_KEY:
        raise ConfigError(
            f"SECRET_KEY must be set to at least {MIN_SECRET_KEY} random characters in production "
            f"(it has {len(value)}); e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))'"
        )
    return value


def _encryption_keys(production: bool) -> str:
    """Comma-separated Fernet keys; the first encrypts, all decrypt (key rotation). Checked here, not at the first
    Mollie key a supplier saves."""
    value = os.environ.get("ENCRYPTION_KEYS", "")
    if not value:
        if production:
            raise ConfigError("ENCRYPTION_KEYS must be set in production (comma-separated Fernet keys)")
        return _dev_secret("encryption.key")
    keys = [key.strip() for key in value.split(",") if key.strip()]  # as portal.crypto reads them
    if not keys:
        raise ConfigError("ENCRYPTION_KEYS holds no key (comma-separated Fernet keys)")
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ConfigError(
                f"ENCRYPTION_KEYS: key {position} is not a Fernet key (32 url-safe base64-encoded bytes); "
                "make one: python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
            ) from None
    return value


def _public_base_url(production: bool) -> str:
    value = os.environ.get("PUBLIC_BASE_URL", "" if production else "http://127.0.0.1:5000").rstrip("/")
    if production and not value.startswith("https://"):
        raise ConfigError(
            f"PUBLIC_BASE_URL must be the https:// address of the portal in production (it is {value!r}): "
            "cookies are sent over HTTPS only and links in mail point there"
        )
    return value


class Config:
    def __init__(self) -> None:
        env = os.environ
        self.ENV_NAME = environment()
        production = self.ENV_NAME == "production"
        self.SECRET_KEY = _secret_key(production)
        self.ENCRYPTION_KEYS = _encryption_keys(production)
        self.SQLALCHEMY_DATABASE_URI = _database_url()
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
        self.REDIS_URL = env.get("REDIS_URL", "redis://127.0.0.1:6379/0")
        self.RQ_QUEUE = env.get("RQ_QUEUE", "duly")
        self.SMTP_URL = env.get("SMTP_URL", "")
        self.MAIL_FROM = env.get("MAIL_FROM", "Duly <no-reply@duly.test>")
        self.PUBLIC_BASE_URL = _public_base_url(production)
        self.MOLLIE_API_ENDPOINT = env.get("MOLLIE_API_ENDPOINT", "https://api.mollie.com")
        self.RATELIMIT_STORAGE_URI = env.get("RATELIMIT_STORAGE_URI", self.REDIS_URL)
        self.RATELIMIT_KEY_PREFIX = env.get("RATELIMIT_KEY_PREFIX", "duly-limiter")
        self.RATELIMIT_HEADERS_ENABLED = True
        # Redis may be away: sign-in keeps working, limited in this process's memory until Redis is back.
        self.RATELIMIT_SWALLOW_ERRORS = True
        self.RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
        self.LOGIN_RATE_LIMIT = env.get("LOGIN_RATE_LIMIT", "10 per minute")
        # Failed sign-ins for one account, from anywhere, in lengthening steps; a browser that has signed in to the
        # account before is exempt (portal/auth/limits.py), so a stranger failing on purpose locks nobody out.
        self.LOGIN_ACCOUNT_LIMIT = env.get("LOGIN_ACCOUNT_LIMIT", "5 per 5 minutes;20 per hour;50 per day")
        self.DEVICE_COOKIE_DAYS = int(env.get("DEVICE_COOKIE_DAYS", "180"))
        # Behind a reverse proxy, how many proxies set X-Forwarded-For and -Proto (werkzeug's ProxyFix): without it
        # every user has the proxy's address and shares its limits; set it only when a proxy is really in front,
        # or anyone could choose their own address.
        self.TRUSTED_PROXIES = int(env.get("TRUSTED_PROXIES", "0"))
        # Opening self-service links, per address: enough for a debtor, far too few to guess a 192-bit token.
        self.SELFSERVICE_RATE_LIMIT = env.get("SELFSERVICE_RATE_LIMIT", "30 per minute")
        # Starting payments, per link (each start is a call to Mollie).
        self.SELFSERVICE_PAY_RATE_LIMIT = env.get("SELFSERVICE_PAY_RATE_LIMIT", "20 per minute")
        # Messages to the supplier, per link: each is a mail to the supplier.
        self.SELFSERVICE_CONTACT_RATE_LIMIT = env.get("SELFSERVICE_CONTACT_RATE_LIMIT", "10 per hour")
        # The Mollie webhook, per source address (each call may make a call to Mollie), and how long a repeat of
        # the same payment id is answered without fetching it again (0: never).
        self.MOLLIE_WEBHOOK_RATE_LIMIT = env.get("MOLLIE_WEBHOOK_RATE_LIMIT", "300 per minute")
        self.MOLLIE_WEBHOOK_DEDUPE_SECONDS = int(env.get("MOLLIE_WEBHOOK_DEDUPE_SECONDS", "5"))
        self.RESET_TOKEN_HOURS = int(env.get("RESET_TOKEN_HOURS", "2"))
        self.INVITE_TOKEN_DAYS = int(env.get("INVITE_TOKEN_DAYS", "7"))
        # Invoice files: a large CSV export is tens of megabytes; the import streams it row by row.
        self.MAX_CONTENT_LENGTH = int(env.get("MAX_UPLOAD_MB", "256")) * 1024 * 1024
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        # Always in production (PUBLIC_BASE_URL is https there); in development only behind an https address.
        self.SESSION_COOKIE_SECURE = production or self.PUBLIC_BASE_URL.startswith("https://")
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.WTF_CSRF_TIME_LIMIT = None  # tokens live as long as the session: a controller keeps a tab open all day
        # Validation messages in the interface's language (English) until the interface itself is translated;
        # otherwise WTForms follows the organisation's number locale and mixes Dutch into English pages.
        self.WTF_I18N_ENABLED = False
        self.BABEL_DEFAULT_LOCALE = "en"
        self.BABEL_DEFAULT_TIMEZONE = "Europe/Amsterdam"
        self.TESTING = False

    def as_dict(self) -> dict:
        return {k: v for k, v in vars(self).items() if k.isupper()}
