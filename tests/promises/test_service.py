"""Promises to pay: a new promise replaces what an earlier one covered; the clock settles them (kept, broken)."""

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select

from portal.events import Event, EventKind
from portal.ledger.service import record_payment
from portal.promises import service as promises
from portal.reminders.planning import plan
from tests.factories import make_debtor, make_invoice, make_invoice_due, make_organisation, scheduled_invoice_ids

MONDAY = date(2026, 6, 1)


def _setup(session, **org):
    organisation = make_organisation(session, business_days_only=False, promise_grace_days=3, **org)
    debtor = make_debtor(session, organisation, email="ap@example.com")
    return organisation, debtor


def test_a_new_promise_for_the_same_invoices_replaces_the_earlier_one(db_session):
    organisation = make_organisation(db_session, promise_max_days=30)
    debtor = make_debtor(db_session, organisation)
    first = make_invoice(db_session, debtor, "121.00", days_overdue=10)
    second = make_invoice(db_session, debtor, "60.50", days_overdue=3)
    today = organisation.today()
    earlier = promises.promise(db_session, organisation, debtor, [first.id, second.id], today, today)
    partial = promises.promise(db_session, organisation, debtor, [first.id], today + timedelta(days=5), today)
    assert earlier.status == "open"  # it still covers A-2
    assert (first.promise_id, second.promise_id) == (partial.id, earlier.id)

    later = promises.promise(db_session, organisation, debtor, [second.id], today + timedelta(days=9), today)
    assert earlier.status == "withdrawn" and earlier.resolved_at is not None
    assert (second.promise_id, second.promised_on) == (later.id, today + timedelta(days=9))
    withdrawn = db_session.scalar(select(Event).where(Event.kind == "promise:withdrawn"))
    assert withdrawn.data == {"promise": earlier.id, "replaced_by": later.id}


def test_check_promises_keeps_paid_ones_breaks_late_ones_and_leaves_the_rest(db_session):
    organisation, debtor = _setup(db_session)
    paid = make_invoice_due(db_session, debtor, MONDAY - timedelta(days=20))
    late = make_invoice_due(db_session, debtor, MONDAY - timedelta(days=20), total="250.00")
    waiting = make_invoice_due(db_session, debtor, MONDAY - timedelta(days=20))
    kept = promises.promise(db_session, organisation, debtor, [paid.id], MONDAY + timedelta(days=10), MONDAY)
    broken = promises.promise(db_session, organisation, debtor, [late.id], MONDAY + timedelta(days=1), MONDAY)
    still = promises.promise(db_session, organisation, debtor, [waiting.id], MONDAY + timedelta(days=3), MONDAY)
    record_payment(
        db_session,
        organisation.id,
        debtor.id,
        Decimal("100.00"),
        "EUR",
        MONDAY,
        allocations=[(paid.id, Decimal("100.00"))],
    )

    today = MONDAY + timedelta(days=5)  # broken: 2 June + 3 < 6 June; still: 4 June + 3 = 7 June, not yet passed
    assert promises.check_promises(db_session, organisation.id, today) == {"kept": 1, "broken": 1}
    assert (kept.status, broken.status, still.status) == ("kept", "broken", "open")
    assert late.promised_on is None and late.promise_id == broken.id  # the scenario resumes; the link stays
    assert waiting.promised_on == MONDAY + timedelta(days=3)
    timeline = db_session.scalars(
        select(Event).where(Event.debtor_id == debtor.id, Event.kind.in_(EventKind.of("promise"))).order_by(Event.id)
    ).all()
    assert [e.kind for e in timeline][-2:] == ["promise:kept", "promise:broken"]
    assert timeline[-1].data["invoices"] == late.number and timeline[-1].data["amount"] == "250.00"

    # Run again (a second clock): nothing more happens.
    assert promises.check_promises(db_session, organisation.id, today) == {"kept": 0, "broken": 0}
    assert db_session.scalar(select(Event.id).where(Event.kind == "promise:broken").offset(1)) is None
    plan(db_session, organisation.id, today=today)
    assert late.id in scheduled_invoice_ids(db_session, debtor) and waiting.id not in scheduled_invoice_ids(
        db_session, debtor
    )


def test_a_paid_claim_holds_its_invoices_until_the_supplier_lifts_or_replaces_the_hold(db_session):
    from portal.promises.models import PaidClaim
    from portal.reminders.schedule import set_hold
    from tests.factories import make_user

    organisation = make_organisation(db_session, paid_claim_hold_days=5)
    user = make_user(db_session, organisation)
    debtor = make_debtor(db_session, organisation)
    first, second, third = (make_invoice(db_session, debtor, "40.00", days_overdue=9) for _ in range(3))
    today = organisation.today()
    third.hold_until = today + timedelta(days=30)  # the supplier's longer hold stays, and the claim leaves it alone

    claim = promises.claim_paid(
        db_session, organisation, debtor, [first.id, second.id, third.id], today, paid_on=today, comment=" Paid "
    )

    assert isinstance(claim, PaidClaim) and claim.until == today + timedelta(days=5) and claim.comment == "Paid"
    assert [i.id for i in claim.invoices] == sorted([first.id, second.id, third.id])
    assert (first.paid_claim_id, second.paid_claim_id, third.paid_claim_id) == (claim.id, claim.id, None)
    assert first.hold_until == claim.until and third.hold_until == today + timedelta(days=30)

    set_hold(db_session, organisation.id, until=None, invoice_id=first.id, actor_user_id=user.id)
    set_hold(db_session, organisation.id, until=today + timedelta(days=9), invoice_id=second.id, actor_user_id=user.id)
    assert first.paid_claim_id is None and second.paid_claim_id is None
    db_session.expire(claim)
    assert len(claim.invoices) == 3  # what the debtor named stays the claim's history
