"""The supplier's day in a real browser: ageing and overdue invoices, an invoice by hand, CSV and UBL imports.

The imports run in a real `rq worker` process, as in production.
"""

import re
import subprocess
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests.e2e.test_accounts import PASSWORD, euros, publish, unique_email
from tests.factories import make_debtor, make_invoice, make_organisation, make_user
from tests.processes import PROCESS_DEADLINE, ROOT, child_env, rq_worker_command

pytestmark = pytest.mark.browser

DATA = ROOT / "tests" / "data"
BAD_CSV = (
    "Factuurnummer;Klant;Factuurdatum;Vervaldatum;Bedrag\n"
    "W-1;Bakkerij Brood;01-11-2026;01-12-2026;1.234,56\n"
    "W-2;Bakkerij Brood;02-11-2026;31-31-2026;10,00\n"
    "W-3;Café Hoek;03-11-2026;03-12-2026;12,00\n"
)
GOOD_CSV = BAD_CSV.replace("31-31-2026", "02-12-2026")


@pytest.fixture
def worker(app, live_db, artifacts_dir):
    """A real RQ worker on the test queue, against the test database, for the length of the test.

    Jobs that earlier tests rang (re-planning after an action, mail of rolled-back rows) are stale: the queue is
    emptied first, so that this test's jobs do not wait behind them. Its output goes to test-artifacts/.
    """
    from redis import Redis
    from rq import Queue

    stale = Queue(app.config["RQ_QUEUE"], connection=Redis.from_url(app.config["REDIS_URL"]))
    stale.empty()
    stale.connection.close()
    log_path = artifacts_dir / "e2e-worker.log"
    with log_path.open("a") as log:
        process = subprocess.Popen(  # our own worker
            rq_worker_command(app.config["REDIS_URL"], app.config["RQ_QUEUE"], burst=False),
            env=child_env(app),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    yield process
    # The test is over: end its own transaction first, or a job still running could wait for its locks and the
    # worker's warm shutdown for that job.
    live_db.rollback()
    live_db.close()
    process.terminate()
    try:
        process.wait(timeout=PROCESS_DEADLINE)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(f"the worker did not stop within {PROCESS_DEADLINE} s of SIGTERM; see {log_path}")


@pytest.fixture
def supplier(live_db):
    organisation = make_organisation(live_db, name="Groothandel Noord B.V.")
    user = make_user(live_db, organisation, email=unique_email("ar"), name="Ria Noord")
    late = make_debtor(live_db, organisation, name="Laat Betaler B.V.", number="LB1")
    make_invoice(live_db, late, "450.00", number="N-45", days_overdue=45)
    make_invoice(live_db, late, "1200.00", number="N-100", days_overdue=100)
    email = user.email
    # The invoice entered by hand is due four weeks after the organisation's today (the suite's clock may be any day).
    due = (organisation.today() + timedelta(days=26)).isoformat()
    publish(live_db)
    return email, due


def upload(visitor, name: str, content: bytes) -> None:
    page = visitor.page
    visitor.nav("Imports")
    page.get_by_label("File to import").set_input_files(
        {"name": name, "mimeType": "text/csv" if name.endswith(".csv") else "application/xml", "buffer": content}
    )
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("heading", name=name)).to_be_visible()


def test_ageing_manual_invoice_and_imports(visitor, server, supplier, worker):
    email, due = supplier
    page = visitor.page
    visitor.login(email, PASSWORD)
    expect(page.get_by_role("heading", name="Ageing")).to_be_visible()
    legend = page.locator(".ageing .legend")
    expect(legend.locator("li").filter(has_text="31-60 days")).to_contain_text(euros("450.00"))
    expect(legend.locator("li").filter(has_text="91+ days")).to_contain_text(euros("1200.00"))
    expect(page.get_by_test_id("overdue-EUR")).to_have_text(
        re.compile(re.escape(euros("1650.00")).replace("\\ ", r"\s"))
    )
    expect(page.locator("section").filter(has_text="Owing most")).to_contain_text("Laat Betaler B.V.")
    visitor.screenshot("overview-ageing")

    # Overdue invoices, then an invoice entered by hand.
    visitor.nav("Invoices")
    page.get_by_role("link", name="Overdue", exact=True).click()
    expect(page.locator("#invoice-rows")).to_contain_text("N-100")
    visitor.screenshot("invoices-overdue")
    visitor.nav("Debtors")
    page.get_by_role("link", name="Laat Betaler B.V.").click()
    page.get_by_role("button", name="New invoice").click()
    page.get_by_label("Invoice number").fill("N-200")
    page.get_by_label("Due date").fill(due)
    page.get_by_label("Total").fill("99,95")
    page.get_by_role("button", name="Save invoice").click()
    expect(page.get_by_role("heading", name=re.compile("Invoice N-200"))).to_be_visible()
    expect(page.locator(".cards")).to_contain_text(euros("99.95"))
    visitor.screenshot("invoice-entered")

    # A CSV with a bad row is refused with the reason; the fixed file imports in the worker.
    upload(visitor, "export.csv", BAD_CSV.encode("cp1252"))
    expect(page.locator("#import-preview")).to_contain_text("Row 3")
    expect(page.get_by_role("button", name=re.compile("^Import"))).to_have_count(0)
    visitor.screenshot("import-preview-refused")
    upload(visitor, "export-fixed.csv", GOOD_CSV.encode("cp1252"))
    page.get_by_role("button", name="Import 3 rows").click()
    expect(page.locator("#import-progress")).to_contain_text("Imported: invoices=3", timeout=PROCESS_DEADLINE * 1000)
    visitor.screenshot("import-done")

    # A UBL invoice and the credit note that corrects it leave nothing open.
    upload(visitor, "base-example.xml", (DATA / "base-example.xml").read_bytes())
    expect(page.locator("#import-progress")).to_contain_text("invoices=1", timeout=PROCESS_DEADLINE * 1000)
    upload(visitor, "base-creditnote-correction.xml", (DATA / "base-creditnote-correction.xml").read_bytes())
    expect(page.locator("#import-progress")).to_contain_text("credit_notes=1", timeout=PROCESS_DEADLINE * 1000)
    visitor.goto("/cockpit/invoices?status=paid&q=Snippet1")
    row = page.locator("#invoice-rows tr").filter(has_text="Snippet1").first
    expect(row).to_contain_text("paid")
    expect(row).to_contain_text(euros("0.00"))
