"""The supplier imports a bank statement in Chromium: upload, the worker imports it while the page shows progress,
paid invoices leave the reminder schedule, and what waits is matched by hand in the queue."""

import re
from datetime import date
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from portal.bank.generate import Credit, camt053
from portal.reminders.planning import plan
from portal.scenarios.defaults import ensure_default_scenarios
from tests.e2e.test_accounts import publish, unique_email
from tests.e2e.test_receivables import worker  # noqa: F401 - the real RQ worker fixture
from tests.e2e.test_selfservice import scheduled_for
from tests.factories import PASSWORD, make_debtor, make_invoice, make_organisation, make_user

pytestmark = pytest.mark.browser


@pytest.fixture
def books(live_db, server):
    organisation = make_organisation(live_db, name="Bank Test B.V.", iban="NL91ABNA0417164300")
    user = make_user(live_db, organisation, email=unique_email("bank"))
    debtor = make_debtor(live_db, organisation, name="Betaler B.V.")
    paid = make_invoice(live_db, debtor, "250.00", number="BT-1", days_overdue=12)
    waiting = make_invoice(live_db, debtor, "75.25", number="BT-2", days_overdue=8)
    ensure_default_scenarios(live_db, organisation.id)
    plan(live_db, organisation.id)
    statement = camt053(
        "NL91ABNA0417164300",
        date(2026, 11, 30),
        [
            Credit(Decimal("250.00"), name="Betaler B.V.", reference=paid.payment_reference),
            Credit(Decimal("75.25"), name="Betaler B.V.", text="bedankt"),  # no number: a suggestion
        ],
    )
    email, ids = user.email, (paid.id, waiting.id)
    publish(live_db)
    return email, statement, ids


def test_a_statement_is_imported_by_the_worker_and_the_queue_is_worked(
    visitor,
    server,
    books,
    live_db,
    tmp_path,
    worker,  # noqa: F811
):
    email, statement, (paid_id, waiting_id) = books
    assert scheduled_for(live_db, paid_id) == 1
    path = tmp_path / "statement.xml"
    path.write_bytes(statement)
    page = visitor.page
    visitor.login(email, PASSWORD)
    visitor.nav("Bank")
    page.get_by_label("Statement").set_input_files(str(path))
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("heading", name=re.compile("Statement statement.xml"))).to_be_visible()
    expect(page.locator("#statement-progress")).to_contain_text("Read 2 transactions: 1 booked, 1 suggested")
    visitor.screenshot("bank-statement-imported")
    page.get_by_role("button", name="Match what waits").click()
    expect(page.locator("#bank-transactions")).to_contain_text("maybe BT-2")
    visitor.screenshot("bank-queue")
    page.get_by_role("button", name="Match").click()
    expect(page.locator("#match-form")).to_contain_text("BT-2")
    page.get_by_role("button", name="Book on the chosen invoices").click()
    expect(page.get_by_text(re.compile(r"75[,.]25 booked for Betaler B.V."))).to_be_visible()
    expect(page.get_by_text("Nothing to match.")).to_be_visible()

    for _ in range(50):  # the worker re-plans after the import and after the match
        if not scheduled_for(live_db, paid_id) and not scheduled_for(live_db, waiting_id):
            break
        page.wait_for_timeout(200)
    assert (scheduled_for(live_db, paid_id), scheduled_for(live_db, waiting_id)) == (0, 0)
