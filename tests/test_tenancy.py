"""Tenancy: no route shows or changes another organisation's data. Every cockpit route with an id is walked."""

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from portal.arrangements.models import Arrangement, ArrangementInvoice, Installment
from portal.bank.models import BankStatement, BankTransaction
from portal.disputes.models import Dispute
from portal.imports.models import ImportBatch
from portal.law.models import LawRate
from portal.mail.models import MailMessage
from portal.organisations.models import User
from portal.reminders.models import Reminder, ReminderItem
from portal.scenarios.defaults import ensure_default_scenarios
from tests.conftest import csrf_from
from tests.factories import make_debtor, make_invoice, make_organisation, make_user


@pytest.fixture
def two_tenants(db_session):
    mine, theirs = make_organisation(db_session, name="Mine B.V."), make_organisation(db_session, name="Theirs B.V.")
    me = make_user(db_session, mine, role="owner")
    other_user = make_user(db_session, theirs, role="owner", name="Their Owner")
    their_debtor = make_debtor(db_session, theirs, name="Their Debtor")
    their_invoice = make_invoice(db_session, their_debtor, "999.99", number="THEIRS-1")
    message = MailMessage(
        organisation_id=theirs.id,
        template="invitation",
        to_address="x@example.com",
        from_address="a@example.com",
        subject="Their secret mail",
        body_text="secret",
        status="outbox",
    )
    db_session.add(message)
    batch = ImportBatch(organisation_id=theirs.id, kind="csv", filename="theirs.csv", content=b"a;b\n")
    [their_scenario, *_] = ensure_default_scenarios(db_session, theirs.id)
    db_session.add(batch)
    their_reminder = Reminder(
        organisation_id=theirs.id,
        debtor_id=their_debtor.id,
        send_on=date(2030, 1, 7),
        send_at=datetime(2030, 1, 7, 8, tzinfo=UTC),
        status="scheduled",
        step_position=1,
    )
    db_session.add(their_reminder)
    # With an invoice in it, so that its letter (PDF) exists and only the tenancy check can refuse it.
    their_reminder.items.append(ReminderItem(invoice_id=their_invoice.id, step_position=1))
    their_dispute = Dispute(
        organisation_id=theirs.id, debtor_id=their_debtor.id, invoice_id=their_invoice.id, reason="other"
    )
    db_session.add(their_dispute)
    their_plan = Arrangement(
        organisation_id=theirs.id,
        debtor_id=their_debtor.id,
        status="proposed",
        currency="EUR",
        total=their_invoice.open_amount,
        installment_count=1,
        frequency="monthly",
        first_due=date(2030, 1, 7),
        items=[ArrangementInvoice(invoice_id=their_invoice.id, position=1, amount=their_invoice.open_amount)],
        installments=[Installment(position=1, due_on=date(2030, 1, 7), amount=their_invoice.open_amount)],
    )
    db_session.add(their_plan)
    their_statement = BankStatement(organisation_id=theirs.id, format="camt053")
    db_session.add(their_statement)
    db_session.flush()
    their_transaction = BankTransaction(
        organisation_id=theirs.id,
        statement_id=their_statement.id,
        dedup_key="theirs",
        booking_date=date(2030, 1, 7),
        amount=their_invoice.open_amount,
        currency="EUR",
        credit=True,
        status="suggested",
        candidates=[their_invoice.id],
    )
    db_session.add(their_transaction)
    their_rate = LawRate(
        organisation_id=theirs.id, rate_table="nl_commercial", effective_on=date(2030, 1, 1), basis_points=1015
    )
    db_session.add(their_rate)
    db_session.flush()
    # One foreign object per URL argument name. A new cockpit route with an id argument must be added here.
    foreign_ids = {
        "user_id": other_user.id,
        "message_id": message.id,
        "debtor_id": their_debtor.id,
        "invoice_id": their_invoice.id,
        "batch_id": batch.id,
        "scenario_id": their_scenario.id,
        "step_id": their_scenario.steps[0].id,
        "reminder_id": their_reminder.id,
        "dispute_id": their_dispute.id,
        "arrangement_id": their_plan.id,
        "transaction_id": their_transaction.id,
        "statement_id": their_statement.id,
        "rate_id": their_rate.id,
    }
    return me, foreign_ids


def cockpit_rules(app):
    return [r for r in app.url_map.iter_rules() if r.endpoint.startswith("cockpit.")]


def test_every_cockpit_route_with_an_id_answers_404_for_another_tenant(app, client, auth, db_session, two_tenants):
    me, foreign_ids = two_tenants
    auth.login(me.email)
    token = csrf_from(client.get("/cockpit/").text)
    walked = []
    for rule in cockpit_rules(app):
        if not rule.arguments:
            continue
        missing = rule.arguments - foreign_ids.keys()
        assert not missing, f"{rule.rule}: add a foreign object for {missing} to this test"
        url = rule.build({name: foreign_ids[name] for name in rule.arguments})[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method, data={"csrf_token": token, "role": "viewer"})
            assert response.status_code == 404, f"{method} {url} answered {response.status_code}"
            walked.append(f"{method} {url}")
    assert f"GET /cockpit/reminders/{foreign_ids['reminder_id']}/letter.pdf" in walked
    assert f"POST /cockpit/debtors/{foreign_ids['debtor_id']}/waive" in walked
    assert f"POST /cockpit/law/rates/{foreign_ids['rate_id']}/delete" in walked
    theirs = db_session.get(Reminder, foreign_ids["reminder_id"])
    db_session.refresh(theirs)
    assert (theirs.status, theirs.send_on, theirs.pinned) == ("scheduled", date(2030, 1, 7), False)
    plan = db_session.get(Arrangement, foreign_ids["arrangement_id"])
    db_session.refresh(plan)
    assert plan.status == "proposed" and plan.decided_at is None
    transaction = db_session.get(BankTransaction, foreign_ids["transaction_id"])
    db_session.refresh(transaction)
    assert transaction.status == "suggested" and transaction.payment_id is None
    assert db_session.scalar(select(LawRate.basis_points).where(LawRate.id == foreign_ids["rate_id"])) == 1015


def test_foreign_user_role_is_unchanged(app, client, auth, db_session, two_tenants):
    me, foreign_ids = two_tenants
    auth.login(me.email)
    token = csrf_from(client.get("/cockpit/team").text)
    client.post(f"/cockpit/team/{foreign_ids['user_id']}/role", data={"role": "viewer", "csrf_token": token})
    assert db_session.scalar(select(User.role).where(User.id == foreign_ids["user_id"])) == "owner"


def test_lists_show_only_my_organisation(client, auth, two_tenants):
    me, _ = two_tenants
    auth.login(me.email)
    assert "Their Owner" not in client.get("/cockpit/team").text
    assert "Their secret mail" not in client.get("/cockpit/mailbox").text
    overview = client.get("/cockpit/").text
    assert "999,99" not in overview and "Nothing open" in overview


def test_every_cockpit_page_needs_a_signed_in_user(app, client, db_session):
    token = csrf_from(client.get("/login").text)
    for rule in cockpit_rules(app):
        url = rule.build({name: 1 for name in rule.arguments})[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method, data={"csrf_token": token})
            assert response.status_code == 302, f"{method} {url}"
            assert response.headers["Location"].startswith("/login")
