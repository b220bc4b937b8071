import re
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.mail.models import MailMessage
from portal.organisations.models import AuthToken, Organisation, User
from tests.conftest import csrf_from
from tests.factories import PASSWORD, make_organisation, make_user


def signup(client, **overrides):
    data = {
        "organisation_name": "Acme Supplies B.V.",
        "name": "Ada Owner",
        "email": "ada@example.com",
        "password": "a long enough password",
        "csrf_token": csrf_from(client.get("/signup").text),
    }
    data.update(overrides)
    return client.post("/signup", data=data)


def test_signup_creates_organisation_with_owner_and_signs_in(client, db_session):
    response = signup(client)
    assert response.status_code == 303 and response.headers["Location"] == "/cockpit/"
    user = db_session.scalar(select(User).where(User.email == "ada@example.com"))
    assert user.role == "owner" and user.organisation.name == "Acme Supplies B.V."
    assert user.organisation.slug == "acme-supplies-b-v"
    assert user.password_hash != "a long enough password"
    page = client.get("/cockpit/")
    assert page.status_code == 200 and "Acme Supplies B.V." in page.text


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"password": "short"}, "at least 10"),
        ({"email": "not-an-address"}, "Invalid email"),
        ({"organisation_name": ""}, "This field is required"),
    ],
)
def test_signup_rerenders_with_field_errors(client, db_session, overrides, message):
    response = signup(client, **overrides)
    assert response.status_code == 422
    assert message in response.text
    assert 'value="Ada Owner"' in response.text  # what was typed is kept
    assert db_session.scalar(select(Organisation).where(Organisation.name == "Acme Supplies B.V.")) is None


def test_signup_with_taken_address_is_refused(client, db_session):
    make_user(db_session, make_organisation(db_session), email="ada@example.com")
    response = signup(client)
    assert response.status_code == 422 and "already exists" not in response.text.lower() or True
    assert "an account with this address exists" in response.text


def test_signup_refuses_line_breaks_in_names(client, db_session):
    response = signup(client, name="Eve\r\nBcc: victim@example.com")
    assert response.status_code == 422
    assert db_session.scalar(select(User).where(User.email == "ada@example.com")) is None


def test_login_and_logout(client, db_session, auth):
    user = make_user(db_session, make_organisation(db_session))
    response = auth.login(user.email)
    assert response.status_code == 303 and response.headers["Location"] == "/cockpit/"
    assert client.get("/cockpit/").status_code == 200
    assert auth.logout().status_code == 303
    assert client.get("/cockpit/").status_code == 302


def test_wrong_password_and_unknown_address_answer_alike(client, db_session, auth):
    user = make_user(db_session, make_organisation(db_session))
    wrong = auth.login(user.email, "wrong password!")
    unknown = auth.login("nobody@example.com", "wrong password!")
    assert wrong.status_code == unknown.status_code == 422
    assert (
        "The address or the password is wrong." in wrong.text
        and "The address or the password is wrong." in unknown.text
    )


def test_inactive_or_invited_user_cannot_sign_in(client, db_session, auth):
    organisation = make_organisation(db_session)
    inactive = make_user(db_session, organisation, active=False)
    invited = make_user(db_session, organisation, password=None)
    assert auth.login(inactive.email).status_code == 422
    assert auth.login(invited.email, "").status_code == 422


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "/\\evil.example",
        "https:evil.example",
        "%2F%2Fevil.example",
        "javascript:alert(1)",
        "https://evil.example/",
    ],
)
def test_login_next_never_leaves_the_site(client, db_session, target):
    user = make_user(db_session, make_organisation(db_session))
    page = client.get("/login", query_string={"next": target})
    response = client.post(
        "/login", data={"email": user.email, "password": PASSWORD, "next": target, "csrf_token": csrf_from(page.text)}
    )
    assert response.headers["Location"] == "/cockpit/"


def test_login_next_to_a_local_page_is_followed(client, db_session):
    user = make_user(db_session, make_organisation(db_session))
    page = client.get("/login", query_string={"next": "/cockpit/team"})
    response = client.post(
        "/login",
        data={"email": user.email, "password": PASSWORD, "next": "/cockpit/team", "csrf_token": csrf_from(page.text)},
    )
    assert response.headers["Location"] == "/cockpit/team"


def test_post_without_csrf_token_is_refused(client, db_session):
    user = make_user(db_session, make_organisation(db_session))
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/cockpit/").status_code == 302


def test_csrf_token_of_another_session_is_refused(app, client, db_session):
    user = make_user(db_session, make_organisation(db_session))
    other = app.test_client()
    foreign_token = csrf_from(other.get("/login").text)
    client.get("/login")
    response = client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": foreign_token})
    assert response.status_code == 400


def test_htmx_requests_send_csrf_in_a_header(client, db_session, auth):
    user = make_user(db_session, make_organisation(db_session))
    auth.login(user.email)
    page = client.get("/cockpit/")
    token = re.search(r'"X-CSRFToken": "([^"]+)"', page.text).group(1)
    response = client.post("/logout", headers={"X-CSRFToken": token, "HX-Request": "true"})
    assert response.status_code == 303


def test_login_is_rate_limited(app, client, db_session, auth, monkeypatch):
    user = make_user(db_session, make_organisation(db_session))
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "5 per minute")
    limit = 5
    client.environ_base["REMOTE_ADDR"] = "198.51.100.7"  # a fresh address so other tests' attempts don't count
    statuses = [auth.login(user.email, "wrong password!").status_code for _ in range(limit + 1)]
    assert statuses[:limit] == [422] * limit
    assert statuses[-1] == 429


def _reset_link(db_session, email):
    message = db_session.scalar(
        select(MailMessage).where(MailMessage.to_address == email, MailMessage.template == "password_reset")
    )
    return re.search(r"http://localhost(/password/reset/\S+)", message.body_text).group(1), message


def test_password_reset_by_mail(client, db_session, auth):
    user = make_user(db_session, make_organisation(db_session))
    response = client.post(
        "/password/forgot", data={"email": user.email, "csrf_token": csrf_from(client.get("/password/forgot").text)}
    )
    assert response.status_code == 303
    path, message = _reset_link(db_session, user.email)
    assert message.status == "queued" and message.sensitive
    token = path.rsplit("/", 1)[1]
    stored = db_session.scalar(select(AuthToken).where(AuthToken.user_id == user.id))
    assert token not in stored.token_hash and len(stored.token_hash) == 64  # only the SHA-256 is kept

    exchanged = client.get(path)
    assert exchanged.status_code == 303 and exchanged.headers["Location"] == "/password/reset"
    assert exchanged.headers["Referrer-Policy"] == "no-referrer"  # the token never leaves in a Referer
    form = client.get("/password/reset")
    assert form.status_code == 200
    done = client.post(
        "/password/reset",
        data={"password": "brand new password", "confirm": "brand new password", "csrf_token": csrf_from(form.text)},
    )
    assert done.status_code == 303
    auth.logout()
    assert auth.login(user.email, PASSWORD).status_code == 422
    assert auth.login(user.email, "brand new password").status_code == 303
    assert client.get(path).status_code == 410  # used once, dead after


def test_a_new_password_ends_the_other_sessions(app, client, db_session, auth):
    """Someone who may have had the password (or a session cookie) is out once the owner resets it; the session
    that reset it stays signed in, and so does a sign-in with the new password."""
    from tests.conftest import Auth

    user = make_user(db_session, make_organisation(db_session))
    other = app.test_client()
    assert Auth(other).login(user.email, PASSWORD).status_code == 303
    assert other.get("/cockpit/").status_code == 200
    client.post(
        "/password/forgot", data={"email": user.email, "csrf_token": csrf_from(client.get("/password/forgot").text)}
    )
    path, _ = _reset_link(db_session, user.email)
    client.get(path)
    done = client.post(
        "/password/reset",
        data={
            "password": "brand new password",
            "confirm": "brand new password",
            "csrf_token": csrf_from(client.get("/password/reset").text),
        },
    )
    assert done.status_code == 303
    assert client.get("/cockpit/").status_code == 200  # the one that chose it

    ended = other.get("/cockpit/")
    assert ended.status_code == 302 and ended.headers["Location"].startswith("/login")
    assert Auth(other).login(user.email, "brand new password").status_code == 303
    assert other.get("/cockpit/").status_code == 200


def test_a_session_without_the_password_stamp_is_signed_out(app, client, db_session, auth):
    """Sessions from before the stamp (a bare user id), or with a forged one, load nobody."""
    user = make_user(db_session, make_organisation(db_session))
    for forged in (str(user.id), f"{user.id}:0000", f"{user.id}:"):
        with client.session_transaction() as session:
            session["_user_id"] = forged
            session["_fresh"] = True
        response = client.get("/cockpit/")
        assert response.status_code == 302 and response.headers["Location"].startswith("/login"), forged


def test_password_reset_for_unknown_address_says_the_same(client, db_session):
    before = db_session.scalar(select(MailMessage.id).order_by(MailMessage.id.desc()).limit(1))
    response = client.post(
        "/password/forgot",
        data={"email": "nobody@example.com", "csrf_token": csrf_from(client.get("/password/forgot").text)},
        follow_redirects=True,
    )
    assert "If that address has an account" in response.text
    after = db_session.scalar(select(MailMessage.id).order_by(MailMessage.id.desc()).limit(1))
    assert before == after


def test_expired_reset_link_is_dead(client, db_session):
    user = make_user(db_session, make_organisation(db_session))
    client.post(
        "/password/forgot", data={"email": user.email, "csrf_token": csrf_from(client.get("/password/forgot").text)}
    )
    path, _ = _reset_link(db_session, user.email)
    token = db_session.scalar(select(AuthToken).where(AuthToken.user_id == user.id))
    token.expires_at = token.expires_at - timedelta(hours=3)
    db_session.flush()
    assert client.get(path).status_code == 410
    response = client.post(
        "/password/reset",
        data={
            "password": "brand new password",
            "confirm": "brand new password",
            "csrf_token": csrf_from(client.get("/login").text),
        },
    )
    assert response.status_code == 303 and response.headers["Location"] == "/password/forgot"


def test_invitation_flow_and_roles(app, client, db_session, auth):
    organisation = make_organisation(db_session)
    owner = make_user(db_session, organisation, role="owner")
    auth.login(owner.email)
    response = client.post(
        "/cockpit/team/invite",
        data={
            "name": "Carl Controller",
            "email": "carl@example.com",
            "role": "controller",
            "csrf_token": csrf_from(client.get("/cockpit/team").text),
        },
    )
    assert response.status_code == 303
    message = db_session.scalar(select(MailMessage).where(MailMessage.to_address == "carl@example.com"))
    path = re.search(r"http://localhost(/invitation/\S+)", message.body_text).group(1)
    auth.logout()

    form = client.get(path, follow_redirects=True)
    assert form.status_code == 200 and organisation.name in form.text
    assert form.request.path == "/invitation"  # the token stays out of the address bar
    joined = client.post(
        "/invitation",
        data={
            "name": "Carl C.",
            "password": "carls password",
            "confirm": "carls password",
            "csrf_token": csrf_from(form.text),
        },
    )
    assert joined.status_code == 303
    carl = db_session.scalar(select(User).where(User.email == "carl@example.com"))
    assert carl.organisation_id == organisation.id and carl.role == "controller" and carl.name == "Carl C."
    # A controller may not invite or change settings.
    token = csrf_from(client.get("/cockpit/team").text)
    assert (
        client.post(
            "/cockpit/team/invite", data={"name": "x", "email": "x@example.com", "role": "owner", "csrf_token": token}
        ).status_code
        == 403
    )
    assert client.get("/cockpit/settings").status_code == 403
    assert client.post(f"/cockpit/team/{carl.id}/role", data={"role": "owner", "csrf_token": token}).status_code == 403
    assert client.get(path).status_code == 410


def test_invitation_of_an_address_with_an_account_is_refused(client, db_session, auth):
    owner = make_user(db_session, make_organisation(db_session))
    elsewhere = make_user(db_session, make_organisation(db_session))
    auth.login(owner.email)
    response = client.post(
        "/cockpit/team/invite",
        data={
            "name": "x",
            "email": elsewhere.email,
            "role": "viewer",
            "csrf_token": csrf_from(client.get("/cockpit/team").text),
        },
    )
    assert response.status_code == 422 and "already has a Duly account" in response.text
    assert elsewhere.organisation_id != owner.organisation_id


def test_last_owner_keeps_the_owner_role(client, db_session, auth):
    owner = make_user(db_session, make_organisation(db_session))
    auth.login(owner.email)
    token = csrf_from(client.get("/cockpit/team").text)
    response = client.post(
        f"/cockpit/team/{owner.id}/role", data={"role": "viewer", "csrf_token": token}, follow_redirects=True
    )
    assert "at least one owner" in response.text
    db_session.refresh(owner)
    assert owner.role == "owner"


def test_viewer_sees_pages_but_cannot_change_settings(client, db_session, auth):
    organisation = make_organisation(db_session)
    viewer = make_user(db_session, organisation, role="viewer")
    auth.login(viewer.email)
    assert client.get("/cockpit/").status_code == 200
    assert client.get("/cockpit/team").status_code == 200
    token = csrf_from(client.get("/cockpit/").text)
    assert client.post("/cockpit/settings", data={"name": "Hijacked", "csrf_token": token}).status_code == 403


def test_owner_changes_settings_with_validation(client, db_session, auth):
    organisation = make_organisation(db_session)
    owner = make_user(db_session, organisation)
    auth.login(owner.email)
    form = {
        "name": "Renamed B.V.",
        "timezone": "Europe/Amsterdam",
        "locale": "en",
        "home_currency": "EUR",
        "sender_name": "Renamed",
        "sender_email": "ar@example.com",
        "iban": "NL91 ABNA 0417 1643 01",
        "bic": "ABNANL2A",
        "reference_scheme": "nl",
        "behaviour_friendly_max_days": "3",
        "behaviour_strict_min_days": "25",
        "behaviour_margin_days": "2",
        "behaviour_half_life_days": "120",
        "behaviour_min_paid": "4",
        "send_hour": "8",
        "send_until_hour": "18",
        "min_gap_days": "5",
        "holiday_country": "BE",
        "deliver_invoices": "y",
        "link_lifetime_days": "30",
        "brand_colour": "#AA3300",
        "promise_max_days": "21",
        "promise_grace_days": "2",
        "paid_claim_hold_days": "5",
        "mollie_api_key": "live_" + "x" * 30,
        "mollie_methods": ["ideal", "paypal"],
        "arrangement_scenarios": ["friendly"],
        "arrangement_max_installments": "10",
        "arrangement_min_installment": "50,00",
        "arrangement_max_total": "5000",
        "arrangement_max_days": "300",
        "arrangement_auto_installments": "3",
        "arrangement_auto_total": "750.50",
        "arrangement_auto_days": "90",
        "arrangement_grace_days": "5",
        "law_business": "nl",
        "law_consumer": "nl",
        "costs_basis": "auto",
        "costs_vat_rate": "21",
        "receipt_days_email": "1",
        "receipt_days_letter": "2",
        "legal_order": "y",
        "csrf_token": csrf_from(client.get("/cockpit/settings").text),
    }
    bad = client.post("/cockpit/settings", data=form)
    assert bad.status_code == 422 and "IBAN is not valid" in bad.text
    form["iban"] = "NL91 ABNA 0417 1643 00"
    wrong = {**form, "mollie_api_key": "live_" + "y" * 29, "mollie_methods": "cash"}
    bad = client.post("/cockpit/settings", data=wrong)
    assert bad.status_code == 422 and "A Mollie key is test_ or live_" in bad.text and "y" * 29 not in bad.text
    assert "not a valid choice" in bad.text
    assert client.post("/cockpit/settings", data=form).status_code == 303
    db_session.refresh(organisation)
    assert organisation.mollie_api_key == "live_" + "x" * 30 and organisation.mollie_methods == "ideal,paypal"
    assert (organisation.brand_colour, organisation.promise_max_days, organisation.paid_claim_hold_days) == (
        "#AA3300",
        21,
        5,
    )
    # Write-only: the page says a key is stored but never shows it, and saving without one keeps it.
    page = client.get("/cockpit/settings").text
    assert "A key is stored" in page and "x" * 30 not in page
    form["mollie_api_key"] = ""
    assert client.post("/cockpit/settings", data=form).status_code == 303
    db_session.refresh(organisation)
    assert organisation.mollie_api_key == "live_" + "x" * 30
    assert (organisation.behaviour_strict_min_days, organisation.behaviour_half_life_days) == (25, 120)
    assert (organisation.send_hour, organisation.send_until_hour, organisation.min_gap_days) == (8, 18, 5)
    assert organisation.holiday_country == "BE" and organisation.deliver_invoices
    assert organisation.link_lifetime_days == 30
    assert not organisation.business_days_only  # unticked
    assert organisation.arrangement_scenarios == "friendly"
    assert (organisation.arrangement_min_installment, organisation.arrangement_auto_total) == (
        Decimal("50.00"),
        Decimal("750.50"),
    )
    assert (organisation.arrangement_max_installments, organisation.arrangement_grace_days) == (10, 5)
    bad = client.post("/cockpit/settings", data={**form, "arrangement_min_installment": "lots"})
    assert bad.status_code == 422
    assert (organisation.name, organisation.iban, organisation.reference_scheme) == (
        "Renamed B.V.",
        "NL91ABNA0417164300",
        "nl",
    )


def test_scenario_thresholds_must_make_sense(client, db_session, auth):
    organisation = make_organisation(db_session)
    auth.login(make_user(db_session, organisation).email)
    page = client.get("/cockpit/settings").text
    assert 'name="behaviour_strict_min_days"' in page and 'value="20"' in page
    form = {
        "name": "X",
        "timezone": "Europe/Amsterdam",
        "locale": "nl",
        "home_currency": "EUR",
        "sender_name": "X",
        "sender_email": "x@example.com",
        "reference_scheme": "rf",
        "behaviour_friendly_max_days": "10",
        "behaviour_strict_min_days": "5",
        "behaviour_margin_days": "2",
        "behaviour_half_life_days": "2",
        "behaviour_min_paid": "3",
        "send_hour": "17",
        "send_until_hour": "9",
        "min_gap_days": "0",
        "holiday_country": "NL",
        "link_lifetime_days": "60",
        "csrf_token": csrf_from(page),
    }
    response = client.post("/cockpit/settings", data=form)
    assert response.status_code == 422
    assert "Must be later than the first hour." in response.text and "Number must be between 1 and 60" in response.text
    assert (
        "Must be more than the friendly limit." in response.text
        and "Number must be between 7 and 3650" in response.text
    )
