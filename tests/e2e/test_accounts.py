"""Supplier accounts in a real browser: sign-up, sign-in, password reset and the first cockpit pages."""

import re
import uuid
from dataclasses import dataclass
from decimal import Decimal

import pytest
from babel.numbers import format_currency
from playwright.sync_api import expect
from sqlalchemy import select

from tests.factories import PASSWORD, make_debtor, make_invoice, make_organisation, make_user

pytestmark = pytest.mark.browser

COCKPIT = re.compile(r"/cockpit/$")
LOGIN = re.compile(r"/login$")
# Chromium logs every 4xx answer as a failed resource, also the page a rejected form comes back with.
REJECTED_FORM = r"Failed to load resource: the server responded with a status of 422"


def unique_email(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


def euros(amount: str, currency: str = "EUR") -> str:
    """An amount as the cockpit shows it: Babel's format in the organisation's default locale, nl."""
    return format_currency(Decimal(amount), currency, locale="nl")


def plain(text: str) -> str:
    return text.replace("\xa0", " ").strip()


def queued_link(app, to: str) -> str:
    """The link in the queued mail to ``to``, read the way a worker would: from the outbox table."""
    from portal.extensions import db
    from portal.mail.models import MailMessage

    with app.app_context():
        bodies = db.session.scalars(
            select(MailMessage.body_text).where(MailMessage.to_address == to, MailMessage.status == "queued")
        ).all()
    assert len(bodies) == 1, f"expected one queued mail to {to}, found {len(bodies)}"
    match = re.search(r"https?://\S+", bodies[0])
    assert match, "the mail holds no link"
    return match.group(0)


@dataclass(frozen=True)
class Account:
    email: str
    organisation: str


def publish(session) -> None:
    """Commit the test's data for the live server, and end the test thread's use of the session.

    On SQLite every transaction takes the write lock (BEGIN IMMEDIATE): an ORM object touched after the commit
    would open a new one and lock the server out until the test ends. Closing detaches the objects, so that such
    a touch fails at once instead; read what the test needs before publishing.
    """
    session.commit()
    session.close()


@pytest.fixture
def owner(live_db) -> Account:
    """An organisation with an owner who can sign in, committed for the live server."""
    organisation = make_organisation(live_db, name="Drukkerij Van Dam B.V.")
    user = make_user(live_db, organisation, email=unique_email("owner"), name="Anna van Dam")
    account = Account(email=user.email, organisation=organisation.name)
    publish(live_db)
    return account


def test_sign_up_lands_on_an_empty_overview_then_sign_out_and_in_again(visitor, server):
    email = unique_email("signup")
    page = visitor.page
    visitor.goto("/signup")
    expect(page.get_by_role("heading", name="Start with Duly")).to_be_visible()
    visitor.screenshot("signup")

    page.get_by_label("Organisation").fill("Bakkerij Korrel B.V.")
    page.get_by_label("Your name").fill("Kees Korrel")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("a long enough secret")
    page.get_by_role("button", name="Create account").click()

    page.wait_for_url(COCKPIT)
    expect(page.get_by_role("heading", name="Overview", exact=True)).to_be_visible()
    expect(page.locator(".flashes")).to_contain_text("Welcome to Duly, Kees Korrel. Bakkerij Korrel B.V. is ready.")
    expect(page.locator(".sidebar .org-name")).to_have_text("Bakkerij Korrel B.V.")
    expect(page.locator(".page-head")).to_contain_text("Bakkerij Korrel B.V.")
    expect(page.get_by_role("heading", name="Nothing open")).to_be_visible()
    expect(page.get_by_text("Kees Korrel · owner")).to_be_visible()
    visitor.screenshot("overview-empty")

    visitor.logout()
    expect(page.locator(".flashes")).to_contain_text("You are signed out.")
    visitor.goto("/cockpit/")
    page.wait_for_url(re.compile(r"/login\?next="))

    page.get_by_label("Email").fill(email.upper())  # addresses are matched without regard to case
    page.get_by_label("Password").fill("a long enough secret")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(COCKPIT)  # the ?next= brought us back where we were sent away from
    expect(page.locator(".sidebar .org-name")).to_have_text("Bakkerij Korrel B.V.")


def test_wrong_password_shows_an_error_and_stays_on_the_login_page(visitor, server, owner, console):
    page = visitor.page
    visitor.goto("/login")
    expect(page.get_by_role("heading", name="Sign in to Duly")).to_be_visible()
    visitor.screenshot("login")

    console.allow(REJECTED_FORM)
    visitor.login(owner.email, "not the password")
    expect(page.get_by_text("The address or the password is wrong.")).to_be_visible()
    assert LOGIN.search(page.url)
    expect(page.get_by_label("Email")).to_have_value(owner.email)
    expect(page.get_by_label("Password")).to_have_value("")
    expect(page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")
    visitor.screenshot("login-error")

    visitor.goto("/cockpit/")
    page.wait_for_url(re.compile(r"/login\?next="))  # still signed out


def test_password_reset_by_mailed_link(visitor, server, owner, app, console):
    page = visitor.page
    visitor.goto("/login")
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    page.get_by_label("Email").fill(owner.email)
    page.get_by_role("button", name="Send the link").click()
    page.wait_for_url(LOGIN)
    expect(page.locator(".flashes")).to_contain_text("If that address has an account")

    link = queued_link(app, owner.email)
    assert link.startswith(app.config["PUBLIC_BASE_URL"] + "/password/reset/")
    visitor.page.goto(server.local(link))
    expect(page.get_by_role("heading", name="Your new password")).to_be_visible()
    page.get_by_label("New password").fill("a brand new secret")
    page.get_by_label("Repeat the password").fill("a brand new secret")
    page.get_by_role("button", name="Save and sign in").click()

    page.wait_for_url(COCKPIT)
    expect(page.locator(".flashes")).to_contain_text("Your password is changed.")
    expect(page.locator(".sidebar .org-name")).to_have_text(owner.organisation)
    visitor.logout()

    visitor.login(owner.email, "a brand new secret")
    page.wait_for_url(COCKPIT)
    visitor.logout()

    console.allow(r"Failed to load resource: the server responded with a status of 410")
    response = visitor.page.goto(server.local(link))
    assert response.status == 410
    expect(page.get_by_role("heading", name="This link no longer works")).to_be_visible()
    visitor.screenshot("link-expired")

    console.allow(REJECTED_FORM)
    visitor.login(owner.email, PASSWORD)  # the old password is gone
    expect(page.get_by_text("The address or the password is wrong.")).to_be_visible()


def test_overview_shows_open_and_overdue_totals_then_team_mailbox_and_settings(visitor, server, live_db):
    organisation = make_organisation(live_db, name="Groothandel Zuid B.V.")
    email = make_user(live_db, organisation, email=unique_email("data"), name="Bram Zuid").email
    debtor = make_debtor(live_db, organisation, name="Café De Hoek")
    other = make_debtor(live_db, organisation, name="Hotel Noord")
    make_invoice(live_db, debtor, "1000.00", days_overdue=20)
    make_invoice(live_db, other, "234.56", days_overdue=-10)  # due in ten days: open, not overdue
    make_invoice(live_db, other, "99.95", days_overdue=3, currency="USD")
    publish(live_db)

    page = visitor.page
    visitor.login(email, PASSWORD)
    page.wait_for_url(COCKPIT)

    open_eur, overdue_eur = page.get_by_test_id("open-EUR"), page.get_by_test_id("overdue-EUR")
    assert plain(open_eur.inner_text()) == plain(euros("1234.56")) == "€ 1.234,56"
    assert plain(overdue_eur.inner_text()) == plain(euros("1000.00")) == "€ 1.000,00"
    assert plain(page.get_by_test_id("open-USD").inner_text()) == plain(euros("99.95", "USD"))
    assert plain(page.get_by_test_id("overdue-USD").inner_text()) == plain(euros("99.95", "USD"))
    expect(page.locator(".card").filter(has=open_eur)).to_contain_text("2 invoices")
    expect(page.locator(".card").filter(has=overdue_eur)).to_contain_text("1 invoice past the due date")
    expect(page.get_by_role("heading", name="Nothing open")).to_have_count(0)
    events = page.locator("section").filter(has=page.get_by_role("heading", name="Latest events"))
    expect(events.get_by_role("row").filter(has_text="Café De Hoek").first).to_contain_text(re.compile(r"€\s1\.000,00"))
    visitor.screenshot("overview")

    # The sidebar is boosted by htmx: the page changes without a full load.
    visitor.nav("Team")
    expect(page.get_by_role("heading", name="Team", exact=True)).to_be_visible()
    assert page.url.endswith("/cockpit/team")
    invite = page.locator("form[action$='/team/invite']")
    invite.get_by_label("Name").fill("Carla Zuid")
    colleague = unique_email("colleague")
    invite.get_by_label("Email").fill(colleague)
    invite.get_by_label("Role").select_option("viewer")
    visitor.follow(invite.get_by_role("button", name="Send invitation"), "/cockpit/team")
    expect(page.locator(".flashes")).to_contain_text(f"Invitation sent to {colleague}.")
    row = page.get_by_role("row").filter(has_text=colleague)
    expect(row).to_contain_text("invited")
    expect(row.get_by_role("combobox")).to_have_value("viewer")
    visitor.screenshot("team")

    visitor.nav("Mailbox")
    expect(page.get_by_role("heading", name="Mailbox")).to_be_visible()
    mail_row = page.get_by_role("row").filter(has_text=colleague)
    expect(mail_row).to_contain_text("queued")
    visitor.screenshot("mailbox")
    mail_link = mail_row.get_by_role("link")
    visitor.follow(mail_link, mail_link.get_attribute("href"))
    expect(page.locator(".mail-body")).to_contain_text("/invitation/")
    visitor.screenshot("mail-message")

    visitor.nav("Settings")
    expect(page.get_by_role("heading", name="Settings")).to_be_visible()
    expect(page.get_by_label("Organisation name")).to_have_value("Groothandel Zuid B.V.")
    visitor.screenshot("settings")


def test_sign_in_and_out_work_without_javascript(new_session, server, owner):
    visitor = new_session(java_script_enabled=False)
    page = visitor.page
    visitor.login(owner.email, PASSWORD)
    page.wait_for_url(COCKPIT)
    expect(page.locator(".sidebar .org-name")).to_have_text(owner.organisation)
    visitor.nav("Team")
    page.wait_for_url(re.compile(r"/cockpit/team$"))
    expect(page.get_by_role("cell", name=owner.email, exact=True)).to_be_visible()
    visitor.logout()
    expect(page.locator(".flashes")).to_contain_text("You are signed out.")


def test_pages_log_no_errors_and_no_csp_violations(visitor, server, owner, console):
    page = visitor.page
    for path in ("/login", "/signup", "/password/forgot"):
        response = visitor.goto(path)
        assert response.status == 200
        assert "script-src 'self'" in response.headers["content-security-policy"]
    visitor.login(owner.email, PASSWORD)
    page.wait_for_url(COCKPIT)
    for path in ("/cockpit/", "/cockpit/mailbox", "/cockpit/team", "/cockpit/settings"):
        response = visitor.goto(path)  # a full load of each page
        assert response.status == 200
        expect(page.locator("main.content h1")).to_be_visible()
    for label in ("Overview", "Mailbox", "Team", "Settings"):  # and an htmx-boosted visit of each
        visitor.nav(label)
        expect(page.locator(".sidebar [aria-current=page]")).to_have_text(label)
    page.wait_for_load_state("networkidle")
    assert console.unexpected() == []


def test_a_rejected_cockpit_form_shows_its_errors(visitor, server, owner, console):
    console.allow(REJECTED_FORM)
    console.allow(r"Response Status Error Code 422")  # htmx's own log line for a response it did not swap
    page = visitor.page
    visitor.login(owner.email, PASSWORD)
    page.wait_for_url(COCKPIT)
    visitor.nav("Settings")
    page.get_by_label("Sender name for mail").fill("Drukkerij Van Dam")
    page.get_by_label("Sender address").fill("debiteuren@example.com")
    page.get_by_label("IBAN").fill("NL00 BANK 0000 0000 00")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("this IBAN is not valid")).to_be_visible()
