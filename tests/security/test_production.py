"""Production pitfalls (issue 16, case 11). Before: DULY_ENV defaulted to development, so a server started without it
ran with keys generated under instance/; a short SECRET_KEY, a malformed ENCRYPTION_KEYS and an http PUBLIC_BASE_URL
were accepted (cookies without Secure); no HSTS; cockpit pages and CSV/PDF downloads could be kept in caches."""

import secrets

import pytest
from cryptography.fernet import Fernet

import portal.config
from portal import create_app, launcher
from tests.factories import make_debtor, make_invoice, make_organisation, make_user

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
HSTS = "max-age=31536000; includeSubDomains"


@pytest.fixture
def production_env(monkeypatch, tmp_path):
    """A correct production environment; each test spoils one variable. Development keys would go to tmp_path."""
    monkeypatch.setattr(portal.config, "INSTANCE_DIR", tmp_path)
    monkeypatch.setenv("DULY_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", secrets.token_urlsafe(48))
    monkeypatch.setenv("ENCRYPTION_KEYS", f"{Fernet.generate_key().decode()},{Fernet.generate_key().decode()}")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://duly.example")
    return monkeypatch


@pytest.fixture
def server_config(test_config) -> dict:
    """The test database and Redis, and nothing that would hide what the environment says."""
    return {key: value for key, value in test_config.items() if key != "PUBLIC_BASE_URL"}


@pytest.mark.parametrize("value", [None, "", "prod", "Production", "staging"])
def test_no_app_without_an_explicit_environment(monkeypatch, tmp_path, server_config, value):
    monkeypatch.setattr(portal.config, "INSTANCE_DIR", tmp_path)
    monkeypatch.delenv("SECRET_KEY")
    monkeypatch.delenv("ENCRYPTION_KEYS")
    if value is None:
        monkeypatch.delenv("DULY_ENV")
    else:
        monkeypatch.setenv("DULY_ENV", value)

    with pytest.raises(RuntimeError, match="DULY_ENV must be set to production or development"):
        create_app(server_config)
    assert list(tmp_path.iterdir()) == []  # no key generated on the way


def test_a_correct_production_environment_starts_with_secure_cookies_and_hsts(production_env, server_config):
    app = create_app(server_config)

    assert app.config["ENV_NAME"] == "production"
    assert app.config["SESSION_COOKIE_SECURE"] is True and app.config["REMEMBER_COOKIE_SECURE"] is True
    assert app.test_client().get("/login").headers["Strict-Transport-Security"] == HSTS


def test_development_sends_no_hsts(client):
    assert "Strict-Transport-Security" not in client.get("/login").headers


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SECRET_KEY", None, "SECRET_KEY must be set to at least 32"),
        ("SECRET_KEY", "changeme", "SECRET_KEY must be set to at least 32"),
        ("SECRET_KEY", "x" * 31, "SECRET_KEY must be set to at least 32"),
        ("ENCRYPTION_KEYS", None, "ENCRYPTION_KEYS must be set"),
        ("ENCRYPTION_KEYS", "not-a-fernet-key", "ENCRYPTION_KEYS: key 1 is not a Fernet key"),
        ("ENCRYPTION_KEYS", f"{Fernet.generate_key().decode()},{'A' * 43}", "ENCRYPTION_KEYS: key 2 is not a Fernet"),
        ("ENCRYPTION_KEYS", " , ", "ENCRYPTION_KEYS holds no key"),
        ("PUBLIC_BASE_URL", None, "PUBLIC_BASE_URL must be the https://"),
        ("PUBLIC_BASE_URL", "http://duly.example", "PUBLIC_BASE_URL must be the https://"),
    ],
)
def test_production_refuses_a_missing_or_weak_setting(
    production_env, server_config, tmp_path, variable, value, message
):
    if value is None:
        production_env.delenv(variable)
    else:
        production_env.setenv(variable, value)

    with pytest.raises(RuntimeError, match=message):
        create_app(server_config)
    assert list(tmp_path.iterdir()) == []


def test_development_refuses_malformed_encryption_keys_too(monkeypatch, server_config):
    monkeypatch.setenv("ENCRYPTION_KEYS", "not-a-fernet-key")
    with pytest.raises(RuntimeError, match="ENCRYPTION_KEYS: key 1 is not a Fernet key"):
        create_app(server_config)


def test_the_launcher_runs_the_demo_in_development_unless_told_otherwise(monkeypatch):
    """``make demo`` needs no setting: the launcher sets DULY_ENV for the processes it starts."""
    seen = []

    def run(command, env, check):
        seen.append(env.get("DULY_ENV"))
        raise SystemExit(0)  # stop before anything starts

    monkeypatch.setattr(launcher.subprocess, "run", run)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("MOLLIE_API_ENDPOINT", "http://127.0.0.1:1")
    monkeypatch.delenv("DULY_ENV")
    with pytest.raises(SystemExit):
        launcher.main()
    monkeypatch.setenv("DULY_ENV", "production")
    with pytest.raises(SystemExit):
        launcher.main()
    assert seen == ["development", "production"]


def _signed_in(db_session, auth):
    organisation = make_organisation(db_session)
    user = make_user(db_session, organisation)
    assert auth.login(user.email).status_code == 303
    return organisation


@pytest.mark.parametrize("path", ["/cockpit/", "/cockpit/debtors", "/cockpit/debtors.csv", "/cockpit/invoices.csv"])
def test_cockpit_pages_and_exports_are_not_cached(client, db_session, auth, path):
    organisation = _signed_in(db_session, auth)
    make_invoice(db_session, make_debtor(db_session, organisation), "10.00")

    response = client.get(path)
    response.get_data()  # a CSV export streams: read it to the end before judging its headers
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


def test_an_invoice_pdf_is_not_cached(client, db_session, auth):
    organisation = _signed_in(db_session, auth)
    invoice = make_invoice(db_session, make_debtor(db_session, organisation), "10.00", pdf=("a.pdf", PDF))

    db_session.flush()
    response = client.get(f"/cockpit/invoices/{invoice.id}/pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Cache-Control"] == "no-store"


def test_static_files_stay_cacheable(client):
    response = client.get("/static/app.css")
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")
    response.close()
