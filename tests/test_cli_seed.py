from sqlalchemy import func, select

from portal.invoices.models import Invoice
from portal.organisations.models import Organisation


def test_seed_demo_bulk_options(app, db_session):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["seed-demo", "--debtors", "20", "--invoices", "150", "--org", "clibench"])
    assert result.exit_code == 0, result.output
    assert "bulk organisation clibench: 20 debtors, 150 invoices" in result.output
    organisation = db_session.scalar(select(Organisation).where(Organisation.slug == "clibench"))
    count = db_session.scalar(
        select(func.count(Invoice.id)).where(Invoice.organisation_id == organisation.id, Invoice.kind == "invoice")
    )
    assert count == 150
    again = runner.invoke(args=["seed-demo", "--debtors", "1", "--invoices", "1", "--org", "clibench"])
    assert again.exit_code != 0 and "exists already" in again.output
    ledger = runner.invoke(args=["ledger-check", "--org", "clibench"])
    assert ledger.exit_code == 0 and "0 problem(s)" in ledger.output
