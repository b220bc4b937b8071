"""A payment plan in Chromium: the debtor proposes one within the supplier's rules on their page, sees the schedule,
confirms; it is approved at once; they pay the first installment through the Mollie simulator's checkout; the
supplier sees the plan, its first installment paid, in the cockpit. A second proposal beyond the automatic limits
waits for the supplier, who approves it with a message that the debtor reads, line breaks kept."""

import re
from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from portal.links.service import new_link
from portal.reminders.planning import plan
from portal.scenarios.defaults import ensure_default_scenarios
from portal.types import utcnow
from tests.e2e.test_accounts import publish, unique_email
from tests.e2e.test_receivables import worker  # noqa: F401 - the real RQ worker fixture
from tests.e2e.test_selfservice import scheduled_for
from tests.factories import PASSWORD, make_debtor, make_invoice, make_organisation, make_user
from tests.payments.conftest import API_KEY, mollie_sim  # noqa: F401 - the simulator fixture

pytestmark = pytest.mark.browser


@pytest.fixture
def shop(live_db, server, mollie_sim, monkeypatch):  # noqa: F811
    monkeypatch.setitem(server.app.config, "PUBLIC_BASE_URL", server.base_url)
    organisation = make_organisation(
        live_db,
        name="Tegels Tegel B.V.",
        iban="NL91ABNA0417164300",
        mollie_api_key=API_KEY,
        arrangement_auto_installments=3,
        arrangement_auto_total=Decimal("1000.00"),
    )
    user = make_user(live_db, organisation, email=unique_email("plans"), name="Tess Tegel")
    nl = make_debtor(live_db, organisation, name="Aannemer Bouwman", email="bouw@example.com", language="nl")
    en = make_debtor(live_db, organisation, name="Builder Ltd", email="builder@example.com", language="en")
    first = make_invoice(live_db, nl, "450.00", number="TT-1", days_overdue=20)
    second = make_invoice(live_db, nl, "150.00", number="TT-2", days_overdue=5)
    big = make_invoice(live_db, en, "2400.00", number="TT-9", days_overdue=9)
    ensure_default_scenarios(live_db, organisation.id)
    plan(live_db, organisation.id)
    links = {}
    for debtor in (nl, en):
        url, link = new_link(organisation.id, debtor.id, server.base_url, utcnow())
        live_db.add(link)
        links[debtor.language] = urlsplit(url).path
    email, ids = user.email, (first.id, second.id, big.id)
    publish(live_db)
    return email, links, ids


def test_a_plan_is_proposed_approved_paid_and_shown(visitor, new_session, server, shop, live_db, worker):  # noqa: F811
    email, links, (first_id, second_id, big_id) = shop
    assert scheduled_for(live_db, first_id) == 1
    debtor = visitor
    debtor.goto(links["nl"])
    page = debtor.page
    page.get_by_role("button", name="In termijnen betalen").click()
    expect(page.get_by_role("heading", name="In termijnen betalen")).to_be_visible()
    page.get_by_label("Aantal termijnen").fill("3")
    page.get_by_label("Elke").select_option("monthly")
    page.get_by_label("Eerste termijn op").fill((utcnow().date() + timedelta(days=3)).isoformat())
    page.get_by_role("button", name="Schema tonen").click()
    expect(page.locator("#plan-preview")).to_contain_text("200,00")
    expect(page.locator("#plan-preview")).to_contain_text("ze gaat in zodra u bevestigt")
    debtor.screenshot("plan-preview-nl")
    page.get_by_role("button", name="Deze regeling bevestigen").click()
    expect(page.get_by_text("Uw betalingsregeling is afgesproken")).to_be_visible()
    expect(page.locator("#plans")).to_contain_text("3 termijnen")
    expect(page.locator("#selfservice-invoices")).to_contain_text("in uw betalingsregeling")
    debtor.screenshot("plan-active-nl")

    # The first installment through Mollie's checkout.
    page.get_by_role("button", name=re.compile("Termijn 1 betalen")).click()
    expect(page.get_by_role("heading", name="Mollie simulator")).to_be_visible()
    expect(page.get_by_text("EUR 200.00")).to_be_visible()
    page.get_by_role("button", name="Paid").click()
    expect(page.get_by_role("heading", name="Dank u wel, uw betaling is ontvangen")).to_be_visible()
    page.get_by_role("button", name="Terug naar uw facturen").click()
    expect(page.locator("#plans")).to_contain_text("200,00 van")
    expect(page.get_by_role("button", name=re.compile("Termijn 2 betalen"))).to_be_visible()
    debtor.screenshot("plan-first-paid-nl")

    # The English debtor's plan is beyond the automatic limits (2,400.00): it waits for the supplier.
    builder = new_session()
    builder.goto(links["en"])
    builder.page.get_by_role("button", name="Pay in installments").click()
    builder.page.get_by_label("Number of installments").fill("6")
    builder.page.get_by_label("First installment on").fill((utcnow().date() + timedelta(days=7)).isoformat())
    builder.page.get_by_role("button", name="Show the schedule").click()
    expect(builder.page.locator("#plan-preview")).to_contain_text("will look at this plan")
    builder.page.get_by_role("button", name="Confirm this plan").click()
    expect(builder.page.locator("#plans")).to_contain_text("waiting for Tegels Tegel B.V.")
    builder.screenshot("plan-proposed-en")

    # The supplier: the active plan with its first installment paid, and the proposal to decide.
    supplier = new_session()
    supplier.login(email, PASSWORD)
    supplier.nav("Payment plans")
    expect(supplier.page.get_by_role("main")).to_contain_text("Builder Ltd")
    supplier.screenshot("cockpit-plans-proposed")
    supplier.page.get_by_role("link", name="Builder Ltd").click()
    expect(supplier.page.get_by_role("heading", name=re.compile("Payment plan"))).to_be_visible()
    approve = supplier.page.locator("#approve")
    approve.get_by_label("Message to the debtor").fill("Six installments are fine.\nThe first one next week.")
    approve.get_by_role("button", name="Approve the plan").click()
    expect(supplier.page.get_by_text("Plan for Builder Ltd: approved.")).to_be_visible()
    supplier.screenshot("cockpit-plan-approved")

    # The debtor reads the supplier's message with its line breaks: a class keeps them, as the CSP blocks style="".
    builder.goto("/s/")
    message = builder.page.locator("#plans .keep-lines")
    expect(message).to_contain_text("Six installments are fine.")
    assert message.inner_text() == "Six installments are fine.\nThe first one next week."
    builder.screenshot("plan-approved-en")

    supplier.nav("Payment plans")
    active = supplier.page.locator(".tabs").get_by_role("link", name=re.compile("^Active"))
    supplier.follow(active, active.get_attribute("href"))
    expect(supplier.page.get_by_role("main")).to_contain_text("Aannemer Bouwman")
    expect(supplier.page.get_by_role("main")).to_contain_text("Builder Ltd")
    supplier.page.get_by_role("link", name="Aannemer Bouwman").click()
    expect(supplier.page.locator("#installments")).to_contain_text("paid")
    supplier.screenshot("cockpit-plan-detail")

    # The plan's invoices have no scenario reminders left: the plan reminds per installment.
    for _ in range(50):
        if not any(scheduled_for(live_db, i) for i in (first_id, second_id, big_id)):
            break
        page.wait_for_timeout(200)
    assert [scheduled_for(live_db, i) for i in (first_id, second_id, big_id)] == [0, 0, 0]
