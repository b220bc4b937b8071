"""Two transactions racing for the same open amount: exactly one wins (PostgreSQL, real connections)."""

import threading
from decimal import Decimal

import pytest

from portal.extensions import db
from portal.invoices.models import Invoice
from portal.ledger.service import LedgerError, ledger_discrepancies, record_payment
from tests.factories import make_debtor, make_invoice, make_organisation


@pytest.mark.postgres_only
def test_concurrent_payments_never_overspend_an_invoice(app, live_db):
    organisation = make_organisation(live_db)
    debtor = make_debtor(live_db, organisation)
    invoice = make_invoice(live_db, debtor, "100.00")
    live_db.commit()
    ids = (organisation.id, debtor.id, invoice.id)
    today = organisation.today()
    barrier = threading.Barrier(4)
    outcomes = []

    def pay():
        with app.app_context():
            barrier.wait()
            try:
                record_payment(
                    db.session,
                    ids[0],
                    ids[1],
                    Decimal("60.00"),
                    "EUR",
                    today,
                    allocations=[(ids[2], Decimal("60.00"))],
                )
                db.session.commit()
                outcomes.append("booked")
            except LedgerError:
                db.session.rollback()
                outcomes.append("refused")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=pay) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["booked", "refused", "refused", "refused"]
    live_db.expire_all()
    assert live_db.get(Invoice, ids[2]).open_amount == Decimal("40.00")
    assert ledger_discrepancies(live_db, ids[0]) == []
