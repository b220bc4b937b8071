"""Disputes: opened once per invoice, resolved once however many controllers press at the same time."""

import pytest
from sqlalchemy import select

from portal.disputes import service as disputes
from portal.disputes.models import Dispute
from portal.errors import DomainError
from portal.invoices.models import Invoice
from tests.factories import make_debtor, make_invoice, make_organisation


def test_resolving_a_dispute_twice_at_once_makes_one_credit_note(db_session):
    organisation = make_organisation(db_session)
    debtor = make_debtor(db_session, organisation, email="ap@klant.example")
    invoice = make_invoice(db_session, debtor, "100.00", days_overdue=12)
    dispute = disputes.open_dispute(db_session, organisation, debtor, invoice.id, "wrong_amount", "")
    disputes.resolve_dispute(db_session, dispute.id, "credited", "", None)
    with pytest.raises(DomainError, match="already been resolved"):
        disputes.resolve_dispute(db_session, dispute.id, "credited", "", None)
    assert len(db_session.scalars(select(Invoice).where(Invoice.kind == "credit_note")).all()) == 1
    assert db_session.get(Dispute, dispute.id).status == "resolved"
