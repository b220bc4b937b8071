"""The debtor's journey in Chromium, in Dutch and in English: the link opens their page, they pay through the Mollie
simulator's checkout and the page says so once the webhook has come, promise to pay another invoice on a date,
dispute a third; the supplier sees the payment, the promise and the dispute in the cockpit, and no reminder is
left for any of those invoices."""

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.links.service import new_link
from portal.reminders.models import Reminder, ReminderItem
from portal.reminders.planning import plan
from portal.scenarios.defaults import ensure_default_scenarios
from portal.types import utcnow
from tests.e2e.test_accounts import publish, unique_email
from tests.e2e.test_receivables import worker  # noqa: F401 - the real RQ worker fixture
from tests.factories import PASSWORD, make_debtor, make_invoice, make_organisation, make_user
from tests.payments.conftest import API_KEY, mollie_sim  # noqa: F401 - the simulator fixture

pytestmark = pytest.mark.browser


@pytest.fixture
def shop(live_db, server, mollie_sim, monkeypatch):  # noqa: F811
    """A supplier with Mollie, a Dutch and an English debtor with overdue invoices, reminders planned; the
    simulator rings this live server's webhook."""
    monkeypatch.setitem(server.app.config, "PUBLIC_BASE_URL", server.base_url)
    organisation = make_organisation(
        live_db, name="Fietsen Fiets B.V.", iban="NL91ABNA0417164300", mollie_api_key=API_KEY, brand_colour="#8a2be2"
    )
    user = make_user(live_db, organisation, email=unique_email("ar"), name="Fenna Fiets")
    nl = make_debtor(live_db, organisation, name="Bakkerij De Korst", email="korst@example.com", language="nl")
    en = make_debtor(live_db, organisation, name="Corner Shop Ltd", email="corner@example.com", language="en")
    paid = make_invoice(live_db, nl, "242.00", number="FF-101", days_overdue=20)
    promised = make_invoice(live_db, nl, "60.50", number="FF-102", days_overdue=12)
    disputed = make_invoice(live_db, en, "99.00", number="FF-201", days_overdue=15)
    ensure_default_scenarios(live_db, organisation.id)
    plan(live_db, organisation.id)
    links = {}
    for debtor in (nl, en):
        url, link = new_link(organisation.id, debtor.id, server.base_url, utcnow())
        live_db.add(link)
        links[debtor.language] = urlsplit(url).path
    email, invoice_ids = user.email, (paid.id, promised.id, disputed.id)
    publish(live_db)
    return email, links, invoice_ids


def scheduled_for(live_db, invoice_id: int) -> int:
    live_db.rollback()
    count = len(
        live_db.scalars(
            select(Reminder.id)
            .join(ReminderItem, ReminderItem.reminder_id == Reminder.id)
            .where(ReminderItem.invoice_id == invoice_id, Reminder.status == "scheduled")
        ).all()
    )
    live_db.rollback()
    return count


def test_the_debtor_pays_through_the_checkout_and_the_supplier_sees_it(
    visitor,
    new_session,
    server,
    shop,
    live_db,
    worker,  # noqa: F811
):
    email, links, (paid_id, promised_id, disputed_id) = shop
    debtor = visitor
    debtor.goto(links["nl"])
    page = debtor.page
    expect(page).to_have_url(server.url("/s/"))
    expect(page.get_by_role("heading", name="Uw facturen")).to_be_visible()
    debtor.screenshot("selfservice-page-nl")

    # Pay only the oldest invoice: untick the other one, then off to Mollie's checkout.
    page.get_by_label(re.compile("FF-102")).uncheck()
    page.get_by_role("button", name="Betaal de gekozen facturen").click()
    expect(page.get_by_role("heading", name="Mollie simulator")).to_be_visible()
    expect(page.get_by_text("EUR 242.00")).to_be_visible()
    debtor.screenshot("mollie-simulator-checkout")
    page.get_by_role("button", name="Paid").click()

    # Back on our return page: the webhook came before the redirect, so it says thank you at once (or after a
    # poll or two).
    expect(page.get_by_role("heading", name="Dank u wel, uw betaling is ontvangen")).to_be_visible()
    debtor.screenshot("selfservice-paid-nl")
    page.get_by_role("button", name="Terug naar uw facturen").click()
    expect(page.locator("#selfservice-invoices")).not_to_contain_text("FF-101")
    expect(page.locator("#selfservice-invoices")).to_contain_text("FF-102")

    # The other one they will pay in two weeks: a promise, within the supplier's limit of 30 days.
    page.get_by_role("button", name="Betaling op een datum toezeggen").click()
    expect(page.get_by_role("heading", name="Betaling toezeggen")).to_be_visible()
    page.get_by_label("Ik betaal op").fill((utcnow().date() + timedelta(days=14)).isoformat())
    debtor.screenshot("selfservice-promise-nl")
    page.get_by_role("button", name="Betaling op deze dag toezeggen").click()
    expect(page.get_by_text("Dank u wel. U zegt toe")).to_be_visible()
    expect(page.locator("#selfservice-invoices")).to_contain_text("toegezegd voor")

    # The English debtor's payment fails at the checkout: nothing is booked, and the page says so in English.
    corner = new_session()
    corner.goto(links["en"])
    expect(corner.page.get_by_role("heading", name="Your invoices")).to_be_visible()
    corner.page.get_by_role("button", name="Pay the chosen invoices").click()
    corner.page.get_by_role("button", name="Failed").click()
    expect(corner.page.get_by_role("heading", name="The payment was not completed")).to_be_visible()
    corner.page.get_by_role("button", name="Back to your invoices").click()
    expect(corner.page.locator("#selfservice-invoices")).to_contain_text("FF-201")

    # They dispute it instead: the amount is wrong. The comment is shown, inert, to the supplier.
    corner.page.get_by_role("button", name="Dispute invoice FF-201").click()
    corner.page.get_by_label("What is wrong?").select_option("wrong_amount")
    corner.page.get_by_label("Explain (optional)").fill('We agreed on 90.00 <img src=x onerror="alert(1)">')
    corner.screenshot("selfservice-dispute-en")
    corner.page.get_by_role("button", name="Send the dispute").click()
    expect(corner.page.locator("#selfservice-invoices")).to_contain_text("disputed")
    corner.page.get_by_role("link", name="Nederlands").click()
    expect(corner.page.get_by_role("heading", name="Uw facturen")).to_be_visible()
    expect(corner.page.locator("#selfservice-invoices")).to_contain_text("betwist")

    # The supplier: the payment is in the cockpit, the invoice is paid, and its reminder is gone (the worker
    # re-planned after the booking).
    supplier = new_session()
    supplier.login(email, PASSWORD)
    supplier.nav("Payments")
    expect(supplier.page.locator("#payments")).to_contain_text("Bakkerij De Korst")
    expect(supplier.page.locator("#payments")).to_contain_text("Mollie (iDEAL)")
    supplier.screenshot("cockpit-payments")
    supplier.nav("Disputes & promises")
    expect(supplier.page.get_by_role("main")).to_contain_text("FF-201")
    expect(supplier.page.get_by_role("main")).to_contain_text("Corner Shop Ltd")
    supplier.screenshot("cockpit-disputes")
    link = supplier.page.locator(".tabs").get_by_role("link", name=re.compile("^Promises"))
    supplier.follow(link, link.get_attribute("href"))
    expect(supplier.page.get_by_role("main")).to_contain_text("Bakkerij De Korst")
    expect(supplier.page.get_by_role("main")).to_contain_text("FF-102")

    # None of the three invoices has a reminder left: the worker re-planned after each booking and action.
    for _ in range(50):
        if not any(scheduled_for(live_db, i) for i in (paid_id, promised_id, disputed_id)):
            break
        page.wait_for_timeout(200)
    assert [scheduled_for(live_db, i) for i in (paid_id, promised_id, disputed_id)] == [0, 0, 0]
