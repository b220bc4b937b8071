"""Sign-in limits (issue 16, case 5): guessing stays slow, and nobody can lock the owner of a password out. Before,
the limit per account address counted every attempt and refused the right password too: anyone failing on purpose
locked the owner out; and behind a reverse proxy every user had the proxy's address and shared one limit."""

import re
from itertools import count

import pytest
from sqlalchemy import select

from portal import create_app
from portal.extensions import db
from portal.mail.models import MailMessage
from tests.conftest import Auth, csrf_from
from tests.factories import PASSWORD, make_organisation, make_user

_addresses = count(1)


def _client_at(app, address: str | None = None):
    """A browser of its own, from an address no other test uses (limits are kept in Redis per address)."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address or f"198.51.{next(_addresses) % 250}.{next(_addresses) % 250}"
    return client


@pytest.fixture
def tight(app, monkeypatch):
    """Limits a test can reach: 5 attempts a minute per address, 3 failures a minute per account."""
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "5 per minute")
    monkeypatch.setitem(app.config, "LOGIN_ACCOUNT_LIMIT", "3 per minute")


def _guess(app, email: str, times: int) -> list[int]:
    """A stranger guessing from a new address each time (so only the account limit can stop them)."""
    return [Auth(_client_at(app)).login(email, "a wrong guess!").status_code for _ in range(times)]


def test_a_stranger_failing_on_purpose_does_not_lock_the_owner_out(app, db_session, tight):
    owner = make_user(db_session, make_organisation(db_session))
    laptop = Auth(_client_at(app))
    assert laptop.login(owner.email, PASSWORD).status_code == 303  # the owner's usual browser
    laptop.logout()

    assert _guess(app, owner.email, 6)[-3:] == [429, 429, 429]  # guessing the account is stopped
    assert laptop.login(owner.email, PASSWORD).status_code == 303  # its owner still gets in


def test_the_owners_own_sign_ins_do_not_count_against_the_account(app, db_session, tight):
    owner = make_user(db_session, make_organisation(db_session))
    statuses = [Auth(_client_at(app)).login(owner.email, PASSWORD).status_code for _ in range(6)]
    assert statuses == [303] * 6  # six new browsers, within the minute: only failures count


def test_on_a_new_device_during_an_attack_a_reset_link_still_signs_the_owner_in(app, db_session, tight):
    owner = make_user(db_session, make_organisation(db_session))
    _guess(app, owner.email, 4)
    phone = _client_at(app)
    assert Auth(phone).login(owner.email, PASSWORD).status_code == 429  # a browser the account has never seen

    phone.post("/password/forgot", data={"email": owner.email, "csrf_token": csrf_from(phone.get("/login").text)})
    message = db_session.scalar(
        select(MailMessage).where(MailMessage.to_address == owner.email, MailMessage.template == "password_reset")
    )
    link = re.search(r"http://localhost(/password/reset/\S+)", message.body_text).group(1)
    form = phone.get(link, follow_redirects=True)
    done = phone.post(
        "/password/reset",
        data={"password": "a new long password", "confirm": "a new long password", "csrf_token": csrf_from(form.text)},
    )
    assert done.status_code == 303
    Auth(phone).logout()
    _guess(app, owner.email, 2)  # the stranger goes on
    assert Auth(phone).login(owner.email, "a new long password").status_code == 303  # the phone is known now


def test_an_unknown_address_is_limited_the_same_way(app, tight):
    """The limit is per address typed, whether or not it has an account: a 429 tells nothing of who has one."""
    assert _guess(app, "nobody-here@example.com", 6)[-3:] == [429, 429, 429]


def test_behind_a_proxy_each_client_has_its_own_limit(test_config, monkeypatch):
    """With TRUSTED_PROXIES set, the address is the client's (X-Forwarded-For); without it, the header is ignored,
    so nobody can choose their own address to slip past the limit."""

    def attempts(app, forwarded_for: str) -> list[int]:
        client = _client_at(app, "10.0.0.2")  # the proxy's address: the same for everyone behind it
        auth = Auth(client)
        client.environ_base["HTTP_X_FORWARDED_FOR"] = forwarded_for
        return [auth.login("someone@example.com", "a wrong guess!").status_code for _ in range(3)]

    limited = {**test_config, "LOGIN_RATE_LIMIT": "3 per minute", "LOGIN_ACCOUNT_LIMIT": "100 per minute"}
    behind_proxy = create_app({**limited, "TRUSTED_PROXIES": 1})
    direct = create_app(limited)
    try:
        assert attempts(behind_proxy, "203.0.113.1") == [422] * 3
        assert attempts(behind_proxy, "203.0.113.2") == [422] * 3  # another client: a limit of its own
        assert attempts(direct, "203.0.113.3") == [422] * 3
        assert attempts(direct, "203.0.113.4") == [429] * 3  # a header anyone can send does not make a new client
    finally:
        for app in (behind_proxy, direct):
            with app.app_context():
                db.engine.dispose()
