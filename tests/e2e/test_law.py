"""The late-payment calculator in Chromium: a supplier checks a claim across a rate change."""

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from portal.links.service import new_link
from portal.reminders.planning import plan
from portal.scenarios.defaults import ensure_default_scenarios
from portal.types import utcnow
from tests.e2e.test_accounts import publish, unique_email
from tests.e2e.test_receivables import worker  # noqa: F401 - the real RQ worker fixture
from tests.e2e.test_reminders import open_reminder, send_now
from tests.factories import PASSWORD, make_debtor, make_invoice, make_organisation, make_user

pytestmark = pytest.mark.browser


def test_the_calculator_shows_the_claim_by_period(visitor, server, live_db):
    organisation = make_organisation(live_db, name="Rekenaar B.V.")
    email = make_user(live_db, organisation, email=unique_email("law")).email
    publish(live_db)
    page = visitor.page
    visitor.login(email, PASSWORD)
    visitor.nav("Late-payment law")
    page.get_by_label("Principal").fill("1000,00")
    page.get_by_label("Due date").fill("2025-06-15")
    page.get_by_label("Paid on (or today)").fill("2025-07-15")
    page.get_by_role("button", name="Calculate").click()
    expect(page.locator("#law-periods tbody tr")).to_have_count(2)
    expect(page.locator("#law-result")).to_contain_text("WIK scale")
    expect(page.locator("#law-result")).to_contain_text("8,75")
    visitor.screenshot("law-calculator")


@pytest.fixture
def claims_supplier(live_db, server, monkeypatch):
    """A supplier under Dutch law with a business debtor and a consumer, each with an invoice 30 days overdue whose
    next step is the standard scenario's final notice (which adds costs and starts interest)."""
    monkeypatch.setitem(server.app.config, "PUBLIC_BASE_URL", server.base_url)
    organisation = make_organisation(
        live_db, name="Wet & Recht B.V.", iban="NL91ABNA0417164300", law_business="nl", law_consumer="nl"
    )
    user = make_user(live_db, organisation, email=unique_email("law"), name="Wendy Wet")
    business = make_debtor(live_db, organisation, name="Bouw Ltd", email="bouw@example.com", language="en")
    consumer = make_debtor(
        live_db, organisation, name="J. Jansen", email="jansen@example.com", language="nl", kind="consumer"
    )
    for debtor, number in ((business, "WR-1"), (consumer, "WR-2")):
        invoice = make_invoice(live_db, debtor, "1210.00", number=number, days_overdue=30)
        invoice.last_step = 3  # the final notice (step 4, due date + 28) is next
    ensure_default_scenarios(live_db, organisation.id)
    plan(live_db, organisation.id)
    url, link = new_link(organisation.id, business.id, server.base_url, utcnow())
    live_db.add(link)
    email = user.email
    publish(live_db)
    return email, urlsplit(url).path


def test_a_claim_under_dutch_law_from_the_final_notice_to_the_debtors_page(
    visitor,
    server,
    live_db,
    claims_supplier,
    worker,  # noqa: F811
):
    email, link = claims_supplier
    page = visitor.page
    visitor.login(email, PASSWORD)
    visitor.nav("Reminders")

    # The consumer's final notice is the 14-day letter: the costs are named, not claimed.
    open_reminder(visitor, "J. Jansen")
    preview = page.locator("#reminder-preview")
    expect(preview).to_contain_text("binnen 14 dagen na ontvangst")
    expect(preview).to_contain_text("181,50")  # WIK: 15% of 1,210.00
    visitor.screenshot("law-consumer-14-day-letter")
    with page.expect_download() as download:
        page.get_by_role("link", name="Letter (PDF)").click()
    assert download.value.suggested_filename.endswith(".pdf")
    assert Path(download.value.path()).read_bytes()[:5] == b"%PDF-"

    # The business debtor's final notice claims interest and costs, itemised; sent now by the worker.
    visitor.nav("Reminders")
    open_reminder(visitor, "Bouw Ltd")
    for text in ("Principal", "Interest", "Costs", "€181.50", "€1,210.00"):
        expect(preview).to_contain_text(text)
    visitor.screenshot("law-business-final-notice")
    send_now(visitor.page)

    # The invoice page: the claim in cards, the charge on the timeline.
    visitor.nav("Invoices")
    invoice_link = page.get_by_role("link", name="WR-1", exact=True)
    visitor.follow(invoice_link, invoice_link.get_attribute("href"))
    expect(page.locator("#claim-costs")).to_contain_text("181,50")
    expect(page.locator("#claim-interest")).to_be_visible()
    expect(page.locator(".timeline")).to_contain_text("Collection costs of")
    visitor.screenshot("law-invoice-claim")

    # The debtor's page itemises it, in English.
    visitor.logout()
    visitor.goto(link)
    expect(page.locator("#selfservice-invoices")).to_contain_text("collection costs €181.50")
    expect(page.locator("#selfservice-invoices")).to_contain_text("statutory interest")
    visitor.screenshot("law-selfservice-claim")
