"""Test fixtures. The suite runs against real PostgreSQL (default) or SQLite (DULY_TEST_DB=sqlite) and real Redis.

The machine's PostgreSQL and Redis are shared: the suite uses its own database (duly_test), its own RQ queue and
rate-limit key prefix, and deletes only its own Redis keys. It never flushes or restarts a server.
"""

import os
import re
import uuid
from pathlib import Path

import psycopg
import pytest
import time_machine
from cryptography.fernet import Fernet
from flask.testing import FlaskClient
from flask_sqlalchemy.session import _app_ctx_id
from redis import Redis
from sqlalchemy import text
from sqlalchemy.orm import scoped_session, sessionmaker

from tests import clock

RUN_ID = uuid.uuid4().hex[:8]
DB_BACKEND = os.environ.get("DULY_TEST_DB", "postgresql")
PG_ADMIN_DSN = os.environ.get("TEST_PG_ADMIN_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
# One database per run: runs of the suite (a developer's, CI's) may overlap on the shared server.
PG_DATABASE = os.environ.get("TEST_PG_DATABASE", f"duly_test_{RUN_ID}")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts"))

# The tests run in development (production is tested by tests that ask for it: tests/security/test_production.py),
# whatever the shell has set; secrets for the test app come from here, so that nothing is written under instance/.
os.environ["DULY_ENV"] = "development"
os.environ.setdefault("SECRET_KEY", "test-" + uuid.uuid4().hex)
os.environ.setdefault("ENCRYPTION_KEYS", Fernet.generate_key().decode())


def pytest_addoption(parser):
    parser.addoption(
        "--clock",
        default=os.environ.get("DULY_TEST_CLOCK", ""),
        help="run every test as if it started at this moment: a preset of tests/clock.py "
        f"({', '.join(clock.PRESETS)}) or an ISO 8601 moment with its offset (default: $DULY_TEST_CLOCK, else real)",
    )


def pytest_report_header(config):
    moment = clock.destination(config.getoption("--clock"))
    return f"clock: {moment.isoformat() if moment else 'real'}"


@pytest.fixture(autouse=True)
def suite_clock(request):
    """With --clock, each test starts at that moment and the clock ticks on from there (see tests/clock.py)."""
    moment = clock.destination(request.config.getoption("--clock"))
    if moment is None:
        yield None
        return
    with time_machine.travel(moment, tick=True):
        yield moment


def pytest_collection_modifyitems(config, items):
    if DB_BACKEND == "sqlite":
        skip = pytest.mark.skip(reason="needs PostgreSQL")
        for item in items:
            if "postgres_only" in item.keywords:
                item.add_marker(skip)


def _database_url(tmp_path_factory) -> str:
    if DB_BACKEND == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'duly.sqlite3'}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{PG_DATABASE}"')
    params = dict(part.split("=", 1) for part in PG_ADMIN_DSN.split())
    return (
        f"postgresql+psycopg://{params.get('user', 'postgres')}@{params.get('host', '127.0.0.1')}:"
        f"{params.get('port', '5432')}/{PG_DATABASE}"
    )


class IsolatedClient(FlaskClient):
    """Each request gets its own app context, as in production.

    Flask reuses an app context that is already pushed (the fixtures hold one), which would share ``g``, the
    Babel locale and the signed-in user between requests of one test.
    """

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture(scope="session")
def test_config(tmp_path_factory) -> dict:
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": _database_url(tmp_path_factory),
        "REDIS_URL": REDIS_URL,
        "RQ_QUEUE": f"duly-test-{RUN_ID}",
        "RATELIMIT_STORAGE_URI": REDIS_URL,
        "RATELIMIT_KEY_PREFIX": f"duly-test-limiter-{RUN_ID}",
        # High for the suite (all tests share 127.0.0.1); the rate-limit test lowers it for itself.
        "LOGIN_RATE_LIMIT": "1000 per minute",
        "LOGIN_ACCOUNT_LIMIT": "1000 per minute",
        "SELFSERVICE_RATE_LIMIT": "1000 per minute",
        # Per link: on SQLite each test's first link has the same id, so the counts of earlier tests would add up.
        "SELFSERVICE_PAY_RATE_LIMIT": "1000 per minute",
        "SELFSERVICE_CONTACT_RATE_LIMIT": "1000 per minute",
        # Webhook storms come from 127.0.0.1 too, and tests ring twice for the same payment within a second on purpose.
        "MOLLIE_WEBHOOK_RATE_LIMIT": "100000 per minute",
        "MOLLIE_WEBHOOK_DEDUPE_SECONDS": 0,
        "SMTP_URL": "",
        "PUBLIC_BASE_URL": "http://localhost",
        "SERVER_NAME": None,
    }


@pytest.fixture(scope="session")
def app(test_config):
    """One app for the session, its schema built by the real migrations."""
    from flask_migrate import upgrade

    from portal import create_app

    app = create_app(test_config)
    app.test_client_class = IsolatedClient
    with app.app_context():
        upgrade()
    yield app
    _delete_redis_keys(test_config)
    with app.app_context():
        from portal.extensions import db

        db.engine.dispose()
    if DB_BACKEND != "sqlite":
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')


def _delete_redis_keys(config: dict) -> None:
    redis = Redis.from_url(config["REDIS_URL"])
    # flask-limiter keeps its counts under LIMITS:LIMITER/<prefix>/...
    for pattern in (f"*{config['RQ_QUEUE']}*", f"*{config['RATELIMIT_KEY_PREFIX']}*"):
        for key in redis.scan_iter(match=pattern, count=500):
            redis.delete(key)
    from rq import Queue

    queue = Queue(config["RQ_QUEUE"], connection=redis)
    for job_id in queue.job_ids:
        redis.delete(f"rq:job:{job_id}")
    queue.delete(delete_jobs=True)


@pytest.fixture
def db_session(app):
    """A session whose work is rolled back after the test; views' commits become savepoint releases."""
    from portal.extensions import db

    with app.app_context():
        connection = db.engine.connect()
        transaction = connection.begin()
        original = db.session
        # A plain SQLAlchemy session: Flask-SQLAlchemy's own Session.get_bind() would ignore `bind` and pick
        # the engine, so work would escape the transaction that the test rolls back.
        db.session = scoped_session(
            sessionmaker(bind=connection, join_transaction_mode="create_savepoint"), scopefunc=_app_ctx_id
        )
        try:
            yield db.session
        finally:
            db.session.remove()
            db.session = original
            transaction.rollback()
            connection.close()


@pytest.fixture
def live_db(app):
    """Committed data that other threads and processes can see; every table is emptied afterwards."""
    from portal.extensions import db

    with app.app_context():
        yield db.session
        db.session.remove()
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            else:
                for table in tables:
                    conn.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
def client(app, db_session):
    return app.test_client()


@pytest.fixture
def redis_client():
    return Redis.from_url(REDIS_URL)


def csrf_from(html: str) -> str:
    match = re.search(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


class Auth:
    """Signs a test client in through the real login form."""

    def __init__(self, client):
        self.client = client

    def csrf(self, url: str = "/login") -> str:
        return csrf_from(self.client.get(url).text)

    def login(self, email: str, password: str = "correct horse battery"):
        return self.client.post("/login", data={"email": email, "password": password, "csrf_token": self.csrf()})

    def logout(self):
        return self.client.post("/logout", data={"csrf_token": self.csrf("/cockpit/")})


@pytest.fixture
def auth(client):
    return Auth(client)


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    path = ARTIFACTS / DB_BACKEND
    path.mkdir(parents=True, exist_ok=True)
    return path
