from decimal import Decimal

from sqlalchemy import func, select

from portal.arrangements.models import Arrangement
from portal.debtors.models import Debtor
from portal.demo import DEMO_LOGIN, seed_demo
from portal.invoices.models import Invoice
from portal.ledger.claims import claims
from portal.ledger.models import Allocation
from portal.ledger.service import ledger_discrepancies
from portal.money import ZERO


def test_demo_organisation_has_a_realistic_ledger(db_session):
    organisation = seed_demo(db_session)
    today = organisation.today()
    debtors = db_session.scalar(select(func.count(Debtor.id)).where(Debtor.organisation_id == organisation.id))
    assert 38 <= debtors <= 45
    invoices = list(db_session.scalars(select(Invoice).where(Invoice.organisation_id == organisation.id)))
    issue_dates = [i.issue_date for i in invoices]
    assert (today - min(issue_dates)).days >= 500  # about 18 months of history
    open_invoices = [i for i in invoices if i.kind == "invoice" and i.status == "open"]
    overdue = [i for i in open_invoices if i.due_date < today]
    not_due = [i for i in open_invoices if i.due_date >= today]
    assert overdue and not_due
    assert any(i.kind == "credit_note" for i in invoices)
    assert any(ZERO < i.open_amount < i.total for i in open_invoices)  # partial payments
    assert ledger_discrepancies(db_session, organisation.id) == []
    # Poor payers owe more overdue than good payers: the behaviour profiles differ.
    late_by_debtor = {}
    for invoice in overdue:
        late_by_debtor[invoice.debtor_id] = late_by_debtor.get(invoice.debtor_id, 0) + 1
    assert len(late_by_debtor) < debtors  # good payers have nothing overdue
    # A payment plan running (approved at once, within the limits) and one waiting for the supplier.
    plans = db_session.scalars(select(Arrangement).where(Arrangement.organisation_id == organisation.id)).all()
    assert sorted(p.status for p in plans) == ["active", "proposed"]
    # The late-payment law: a consumer has had the 14-day letter (costs announced, not owed yet); a business has
    # had costs and interest claimed and paid part, split over costs, interest and principal.
    noticed = [i for i in invoices if i.costs_notice_until is not None]
    assert noticed and all(i.debtor.kind == "consumer" and i.costs_notice_until >= today for i in noticed)
    owed = claims(db_session, organisation, noticed[0].debtor, noticed, today)
    assert all(c.costs == ZERO and c.announced > ZERO for c in owed.values())
    components = set(
        db_session.scalars(select(Allocation.component).where(Allocation.organisation_id == organisation.id).distinct())
    )
    assert components == {"principal", "interest", "costs"}
    assert seed_demo(db_session).id == organisation.id  # running it again changes nothing


def test_demo_login_shows_open_and_overdue_totals(client, db_session, auth):
    organisation = seed_demo(db_session)
    response = auth.login(*DEMO_LOGIN)
    assert response.status_code == 303
    page = client.get("/cockpit/").text
    today = organisation.today()
    open_total = db_session.scalar(
        select(func.sum(Invoice.open_amount)).where(
            Invoice.organisation_id == organisation.id, Invoice.kind == "invoice", Invoice.status == "open"
        )
    )
    overdue_total = db_session.scalar(
        select(func.sum(Invoice.open_amount)).where(
            Invoice.organisation_id == organisation.id,
            Invoice.kind == "invoice",
            Invoice.status == "open",
            Invoice.due_date < today,
        )
    )
    assert open_total > overdue_total > Decimal("1000")
    # Dutch locale: € 12.345,67 (Babel puts a non-breaking space after the sign).
    assert _nl(open_total) in page
    assert _nl(overdue_total) in page


def _nl(amount: Decimal) -> str:
    whole, cents = f"{amount:.2f}".split(".")
    return f"{int(whole):,}".replace(",", ".") + "," + cents
