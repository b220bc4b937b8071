"""Steering reminders in a real browser: plan, preview, move, block, send now (sent by a real `rq worker`), then
the mail in the outbox in the debtor's language, the sent list and the dry run."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from portal.organisations.calendar import send_days
from tests.e2e.test_accounts import PASSWORD, publish, unique_email
from tests.e2e.test_receivables import worker  # noqa: F401 - the real RQ worker fixture
from tests.factories import make_debtor, make_invoice, make_organisation, make_user

pytestmark = pytest.mark.browser


@pytest.fixture
def supplier(live_db):
    organisation = make_organisation(live_db, name="Drukkerij Inkt B.V.", iban="NL91ABNA0417164300")
    user = make_user(live_db, organisation, email=unique_email("ar"), name="Ina Inkt")
    ann = make_debtor(live_db, organisation, name="Ann Bakery Ltd", email="ann@example.com", language="en")
    bob = make_debtor(live_db, organisation, name="Bouwbedrijf Bob", email="bob@example.com", language="nl")
    make_invoice(live_db, ann, "250.00", number="INK-1", days_overdue=9)
    make_invoice(live_db, bob, "80.00", number="INK-2", days_overdue=9)
    day = organisation.today() + timedelta(days=12)
    [(_, sendable, _)] = send_days(organisation, day, day)  # not a weekend day or holiday: those are refused
    later = sendable.isoformat()
    email = user.email
    publish(live_db)
    return email, later


def open_reminder(visitor, debtor: str) -> None:
    link = visitor.page.locator("#schedule-rows tr").filter(has_text=debtor).get_by_role("link", name="Open")
    visitor.follow(link, link.get_attribute("href"))


def send_now(page) -> None:
    """Send the open reminder now (confirming the question) and wait until the worker has sent it."""
    page.once("dialog", lambda dialog: dialog.accept())  # "Send this reminder to ... now?"
    page.get_by_role("button", name="Send now").click()
    expect(page.locator(".flash")).to_contain_text("Sending now")
    # The worker sends it within moments; the page shows what was sent.
    for _ in range(40):
        page.reload()
        if "sent" in page.locator("header .badge").first.inner_text():
            break
        page.wait_for_timeout(250)
    expect(page.locator("header .badge").first).to_have_text("sent")


def test_plan_preview_move_block_and_send_now(visitor, new_session, server, supplier, worker):  # noqa: F811
    email, later = supplier
    page = visitor.page
    visitor.login(email, PASSWORD)
    visitor.nav("Reminders")
    expect(page.get_by_text("Nothing scheduled")).to_be_visible()
    visitor.follow(page.get_by_role("button", name="Plan now"), "/cockpit/reminders")
    rows = page.locator("#schedule-rows")
    expect(rows).to_contain_text("Ann Bakery Ltd")
    expect(rows).to_contain_text("Bouwbedrijf Bob")
    expect(rows).to_contain_text("Standard")
    visitor.screenshot("reminders-schedule")

    # Ann's reminder: an English preview; moved twelve days on, it is pinned.
    open_reminder(visitor, "Ann Bakery Ltd")
    expect(page.locator("#reminder-preview")).to_contain_text("Dear Ann Bakery Ltd")
    visitor.screenshot("reminder-detail")
    page.get_by_label("New date").fill(later)
    page.get_by_role("button", name="Move", exact=True).click()
    expect(page.locator(".flash")).to_contain_text(f"Moved to {later}")
    expect(page.locator("header")).to_contain_text("pinned")

    # Bob's: blocked with a reason, unblocked, then sent now by the worker.
    visitor.nav("Reminders")
    open_reminder(visitor, "Bouwbedrijf Bob")
    page.get_by_label("Reason").fill("Agreed by phone to wait")
    page.get_by_role("button", name="Block", exact=True).click()
    expect(page.locator("header")).to_contain_text("blocked")
    expect(page.locator("header")).to_contain_text("Agreed by phone to wait")
    page.get_by_role("button", name="Unblock").click()
    expect(page.locator("header")).to_contain_text("scheduled")
    send_now(page)
    visitor.screenshot("reminder-sent")

    visitor.nav("Mailbox")
    expect(page.locator("#mail-rows")).to_contain_text("Herinnering: INK-2")
    link = page.get_by_role("link", name="Herinnering: INK-2")
    visitor.follow(link, link.get_attribute("href"))
    expect(page.locator("body")).to_contain_text("Beste Bouwbedrijf Bob")
    visitor.screenshot("reminder-in-outbox")

    # The debtor follows the link in the mail: its own page, in Dutch, without the token in the address.
    link = re.search(r"/s/[A-Za-z0-9_-]{20,}", page.locator(".mail-body").inner_text()).group(0)
    debtor = new_session()
    debtor.goto(link)
    debtor.page.wait_for_url(re.compile(r"/s/$"))
    expect(debtor.page.locator("#selfservice-invoices")).to_contain_text("INK-2")
    expect(debtor.page.locator("h2").first).to_have_text("Openstaande facturen")
    debtor.screenshot("selfservice-page")
    debtor.page.get_by_role("link", name="English").click()
    expect(debtor.page.locator("h2").first).to_have_text("Open invoices")

    visitor.nav("Reminders")
    visitor.follow(page.locator(".tabs").get_by_role("link", name="Sent"), "/cockpit/reminders/sent")
    expect(page.locator("#sent-rows")).to_contain_text("Bouwbedrijf Bob")
    visitor.screenshot("reminders-sent")
    visitor.follow(page.locator(".tabs").get_by_role("link", name="Dry run"), "/cockpit/reminders/dry-run")
    expect(page.locator("main")).to_contain_text(re.compile(r"\d+ message\(s\)"))
    # Ann's reminder was moved twelve days on, or further when holidays follow (from 13 December: past Christmas,
    # outside the default fortnight): the supplier looks a month ahead.
    page.get_by_label("Days ahead").fill("31")
    visitor.follow(page.get_by_role("button", name="Show"), "/cockpit/reminders/dry-run")
    expect(page.locator("main")).to_contain_text("Ann Bakery Ltd")
    visitor.screenshot("reminders-dry-run")
