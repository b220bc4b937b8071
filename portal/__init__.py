"""Duly: the debtor management portal. ``create_app()`` builds the Flask app; nothing runs on import."""

import hmac
import sqlite3
from datetime import date

from flask import Flask, g, has_request_context, request
from flask import session as web_session
from flask_babel import format_currency, format_date, format_datetime
from flask_login import current_user
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

from portal.config import BASE_DIR, INSTANCE_DIR, Config
from portal.events import EventKind
from portal.extensions import babel, csrf, db, limiter, login_manager, migrate

# Not `htmx`: importing the submodule portal.htmx rebinds that name in this package to the module.
from portal.extensions import htmx as htmx_extension
from portal.ids import IdConverter
from portal.locales import COCKPIT_LOCALES
from portal.security import register_security_headers


def create_app(config: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        template_folder=str(BASE_DIR / "templates"),
        static_folder=str(BASE_DIR / "static"),
        instance_path=str(INSTANCE_DIR),
    )
    app.config.update(Config().as_dict())
    if config:
        app.config.update(config)
    if app.config["TRUSTED_PROXIES"]:
        proxies = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)

    _init_extensions(app)
    # Before any route is added: every <int:...> is an id that the id columns can hold, or a 404.
    app.url_map.converters["int"] = IdConverter
    _register_blueprints(app)
    _register_template_helpers(app)
    register_security_headers(app)

    from portal import cli

    cli.register(app)
    return app


def _init_extensions(app: Flask) -> None:
    db.init_app(app)
    migrate.init_app(app, db, directory=str(BASE_DIR / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    htmx_extension.init_app(app)
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"])
    limiter.init_app(app)
    babel.init_app(app, locale_selector=_select_locale, timezone_selector=_select_timezone)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message_category = "info"

    from portal.organisations import models as org_models
    from portal.organisations import service as accounts

    @login_manager.user_loader
    def load_user(session_id: str):
        # A deactivated user's open sessions end with the next request, not at their next sign-in; so do those
        # signed in before the password last changed (User.get_id: "id:stamp").
        user_id, _, stamp = session_id.partition(":")
        if not user_id.isdigit() or not stamp:
            return None
        user = db.session.get(org_models.User, int(user_id))
        if user is None or not user.is_active or not hmac.compare_digest(stamp, user.session_stamp()):
            return None
        # Signed out (or a new password since): the cookie is still valid for Flask, no longer for Duly.
        if not accounts.session_is_live(db.session, user.id, web_session.get(accounts.SESSION_TOKEN_KEY, "")):
            return None
        return user

    import portal.models  # noqa: F401 - every model registered before the first query or migration


def _select_locale() -> str:
    if getattr(g, "locale", None):
        return g.locale
    if not has_request_context():  # a job or the CLI: English, unless the caller forces the reader's locale
        return "en"
    if current_user and current_user.is_authenticated:
        # The cockpit is in English, amounts and dates written the organisation's way (portal.locales).
        return COCKPIT_LOCALES.get(current_user.organisation.locale, current_user.organisation.locale)
    return request.accept_languages.best_match(["nl", "en"]) or "en"


def _select_timezone() -> str | None:
    if current_user and current_user.is_authenticated:
        return current_user.organisation.timezone
    return None


def _register_blueprints(app: Flask) -> None:
    from portal import cockpit, selfservice, webhooks
    from portal.auth.views import bp as auth_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(cockpit.bp)
    app.register_blueprint(selfservice.bp)
    app.register_blueprint(webhooks.bp)

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}


def _register_template_helpers(app: Flask) -> None:
    @app.template_filter("money")
    def money_filter(amount, currency: str = "EUR") -> str:
        return format_currency(amount, currency)

    app.add_template_filter(format_date, "date")
    # The timeline's macro compares kinds with the enum's members (templates/_macros/events.html).
    app.jinja_env.globals["EventKind"] = EventKind
    app.add_template_filter(format_datetime, "datetime")

    @app.template_filter("isodate")
    def isodate_filter(value, style: str = "medium") -> str:
        """A date kept as text in an event's data ("2026-11-04"), written the way the locale writes dates."""
        try:
            return format_date(date.fromisoformat(value), style)
        except (TypeError, ValueError):
            return value


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    """SQLite, the embedded default, needs WAL (readers beside a writer), a busy timeout and foreign keys."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        # Python's sqlite3 module opens and commits transactions on its own, which breaks SAVEPOINT (a released
        # savepoint at the start of a transaction is committed). SQLAlchemy's pysqlite recipe: the driver does
        # nothing, and the "begin" listener below starts every transaction itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
        # SQLite's own lower() folds ASCII only: "ÖLMÜHLE" would not find "Ölmühle" (a debtor matched by name on
        # import, a search). Python's folds all of Unicode, as PostgreSQL's does; no index of ours uses lower().
        dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)


def _unicode_lower(value):
    return value.lower() if isinstance(value, str) else value


@event.listens_for(Engine, "begin")
def _sqlite_begin(connection) -> None:
    # IMMEDIATE takes the write lock up front: two deferred transactions that both read and then write would
    # deadlock (SQLITE_BUSY at once, whatever the busy timeout). This is SQLite's stand-in for row locks.
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")
