"""Refunds and chargebacks whose webhooks were all lost (issue 16, case 13). Before: the periodic reconciliation only
asked Mollie about unfinished payments and paid ones not yet booked, never again about a booked one, so the invoice
stayed paid for good. Now it also asks about booked payments of Mollie's 180-day window, each about once a day, and
books what Mollie took back once, however often it asks. Against the simulator; its webhooks go nowhere here
(PUBLIC_BASE_URL has no portal behind it), so only reconciliation can find out."""

from datetime import timedelta
from decimal import Decimal

import pytest
from mollie.api.client import Client
from sqlalchemy import select

from portal.events import Event
from portal.invoices.models import Invoice
from portal.ledger.models import Payment
from portal.payments.models import MolliePayment
from portal.types import utcnow
from tests.payments.conftest import API_KEY, mollie_sim  # noqa: F401 - the simulator fixture
from tests.payments.test_mollie_payments import balanced, count, get, one, pay, shop, visitor, webhook  # noqa: F401


@pytest.fixture(autouse=True)
def fresh_limits(app, redis_client):
    """Paying is limited per self-service link (``pay:<link id>``), and link ids start again at 1 in every test:
    this run's counts start afresh before and after, so that these tests and the payment tests do not use up each
    other's."""

    def forget() -> None:
        for key in redis_client.scan_iter(match=f"*/{app.config['RATELIMIT_KEY_PREFIX']}/*", count=500):
            redis_client.delete(key)

    forget()
    yield
    forget()


@pytest.fixture
def reconcile(app, monkeypatch):
    import workers
    from workers.jobs import reconcile_mollie

    monkeypatch.setattr(workers, "_app", app)  # the job's app is this test's app, not one built from os.environ
    return reconcile_mollie


def _last_asked(session, mp_id: int, ago: timedelta, *, created_ago: timedelta | None = None) -> None:
    """Pretend Duly last asked Mollie about the payment ``ago`` (and, if given, that it was made ``created_ago``)."""
    session.rollback()
    row = session.get(MolliePayment, mp_id)
    row.updated_at = utcnow() - ago
    if created_ago is not None:
        row.created_at = utcnow() - created_ago
    session.commit()
    session.expunge_all()


def _paid_and_booked(app, live_db, shop, mollie_sim):  # noqa: F811 - fixtures passed on
    organisation, debtor, first, second = shop
    client = visitor(app, live_db, debtor)
    pay(client, first.id, second.id)
    mp = one(live_db, select(MolliePayment))
    mollie_sim.set_status(mp.mollie_id, "paid")
    assert webhook(client, mp.mollie_id).status_code == 200
    assert get(live_db, Invoice, first.id).status == "paid" and get(live_db, Invoice, second.id).status == "paid"
    mollie = Client(api_endpoint=mollie_sim.url)
    mollie.set_api_key(API_KEY)
    return mp, mollie.payments.get(mp.mollie_id)


def test_a_refund_whose_webhooks_were_lost_is_booked_by_reconciliation_once(
    app,
    live_db,
    shop,  # noqa: F811
    mollie_sim,  # noqa: F811
    reconcile,
):
    organisation, debtor, first, second = shop
    mp, remote = _paid_and_booked(app, live_db, shop, mollie_sim)
    remote.refunds.create({"amount": {"currency": "EUR", "value": "20.00"}, "description": "goodwill"})
    assert get(live_db, Invoice, second.id).status == "paid"  # no webhook got through

    assert reconcile() == {}  # asked about a moment ago (the booking): not yet again
    _last_asked(live_db, mp.id, timedelta(days=1, minutes=1))
    assert reconcile() == {"reversed": 1}

    assert get(live_db, Invoice, second.id).open_amount == Decimal("20.00")  # the latest allocation goes back first
    assert get(live_db, Invoice, first.id).status == "paid"
    assert one(live_db, select(Payment)).reversed_amount == Decimal("20.00")
    assert count(live_db, Event, Event.kind == "invoice:payment:reversed") == 1

    # Again the next run, and again a day later: nothing doubles.
    assert reconcile() == {}
    _last_asked(live_db, mp.id, timedelta(days=2))
    assert reconcile() == {"unchanged": 1}
    assert one(live_db, select(Payment)).reversed_amount == Decimal("20.00")
    assert count(live_db, Event, Event.kind == "invoice:payment:reversed") == 1
    assert balanced(live_db, organisation.id)


def test_a_chargeback_whose_webhooks_were_lost_reopens_everything_once(
    app,
    live_db,
    shop,  # noqa: F811
    mollie_sim,  # noqa: F811
    reconcile,
):
    organisation, debtor, first, second = shop
    mp, _ = _paid_and_booked(app, live_db, shop, mollie_sim)
    mollie_sim.chargeback(mp.mollie_id)  # all of it
    _last_asked(live_db, mp.id, timedelta(days=3))

    assert reconcile() == {"reversed": 1}
    _last_asked(live_db, mp.id, timedelta(days=3))
    assert reconcile() == {"unchanged": 1}

    assert get(live_db, Invoice, first.id).open_amount == Decimal("100.00")
    assert get(live_db, Invoice, second.id).open_amount == Decimal("21.50")
    assert one(live_db, select(Payment)).reversed_amount == Decimal("121.50")
    assert balanced(live_db, organisation.id)


def test_payments_older_than_mollies_window_are_not_asked_about(
    app,
    live_db,
    shop,  # noqa: F811
    mollie_sim,  # noqa: F811
    reconcile,
):
    mp, _ = _paid_and_booked(app, live_db, shop, mollie_sim)
    _last_asked(live_db, mp.id, timedelta(days=3), created_ago=timedelta(days=181))
    assert reconcile() == {}
