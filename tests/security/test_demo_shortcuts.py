"""The demo's shortcuts refused in production (issue 16, case 14). Before: `flask seed-demo` made its owners with
printed passwords (demo / demo, bench) in any environment, those accounts signed in anywhere, and the Mollie
simulator, whose /_sim/ endpoints mark payments paid without any key, started in production too."""

import secrets

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet
from werkzeug.security import generate_password_hash

import portal.cli.demo
import portal.config
import portal.mollie_sim.cli
from portal import create_app
from portal.cli.demo import seed_demo
from portal.demo import DEMO_LOGIN
from portal.mollie_sim.app import create_simulator
from portal.mollie_sim.cli import mollie_simulator
from tests.conftest import csrf_from
from tests.factories import PASSWORD, make_organisation, make_user


@pytest.fixture
def production(monkeypatch, tmp_path, test_config):
    """An app as a server runs it, on the test database."""
    monkeypatch.setattr(portal.config, "INSTANCE_DIR", tmp_path)
    monkeypatch.setenv("DULY_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", secrets.token_urlsafe(48))
    monkeypatch.setenv("ENCRYPTION_KEYS", Fernet.generate_key().decode())
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://duly.example")
    return create_app({key: value for key, value in test_config.items() if key != "PUBLIC_BASE_URL"})


@pytest.mark.parametrize("arguments", [[], ["--debtors", "3", "--invoices", "5", "--org", "bench-prod"]])
def test_seed_demo_refuses_in_production(production, monkeypatch, arguments):
    made = []
    monkeypatch.setattr(portal.cli.demo, "seed", lambda *args, **kwargs: made.append("demo"))
    monkeypatch.setattr(portal.cli.demo, "seed_bulk", lambda *args, **kwargs: made.append("bulk"))

    result = production.test_cli_runner().invoke(seed_demo, arguments)

    assert result.exit_code != 0
    assert "refused when DULY_ENV=production" in result.output
    assert made == []


def test_seed_demo_still_seeds_in_development(app, monkeypatch):
    made = []
    monkeypatch.setattr(portal.cli.demo, "seed", lambda session: made.append("demo") or _Seeded())

    result = app.test_cli_runner().invoke(seed_demo, [])
    assert result.exit_code == 0, result.output
    assert made == ["demo"]


class _Seeded:
    name, slug = "Demo B.V.", "demo"


def _seeded_owner(db_session, email: str, password: str):
    """An owner as the seeds make it: the short password set directly, past the policy sign-up enforces."""
    organisation = make_organisation(db_session)
    user = make_user(db_session, organisation, email=email)
    user.password_hash = generate_password_hash(password)
    db_session.flush()
    return user


def _login(client, email: str, password: str):
    token = csrf_from(client.get("/login").text)
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


@pytest.mark.parametrize(("email", "password"), [DEMO_LOGIN, ("owner@bench.duly.test", "bench")])
def test_the_seeded_logins_do_not_open_in_production(production, db_session, email, password):
    _seeded_owner(db_session, email, password)
    client = production.test_client()

    response = _login(client, email, password)
    assert response.status_code == 422
    assert "The address or the password is wrong." in response.text
    assert client.get("/cockpit/").status_code == 302  # not signed in


def test_the_demo_login_still_opens_in_development(client, db_session):
    _seeded_owner(db_session, *DEMO_LOGIN)
    assert _login(client, *DEMO_LOGIN).status_code == 303


def test_an_ordinary_account_signs_in_in_production(production, db_session):
    organisation = make_organisation(db_session)
    user = make_user(db_session, organisation, email="owner@duly-customer.example")
    client = production.test_client()
    assert _login(client, user.email, PASSWORD).status_code == 303


def test_the_simulator_refuses_to_start_in_production(monkeypatch, tmp_path):
    monkeypatch.setenv("DULY_ENV", "production")
    with pytest.raises(RuntimeError, match="refused when DULY_ENV=production"):
        create_simulator(tmp_path / "state.json")


def test_the_simulator_command_says_why(monkeypatch, tmp_path):

    served = []
    monkeypatch.setattr(portal.mollie_sim.cli, "serve", lambda app, host, port: served.append(port))
    monkeypatch.setenv("DULY_ENV", "production")
    result = CliRunner().invoke(mollie_simulator, ["--port", "1", "--state", str(tmp_path / "state.json")])
    assert result.exit_code != 0
    assert "refused when DULY_ENV=production" in result.output
    assert served == []
