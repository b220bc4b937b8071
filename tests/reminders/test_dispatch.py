"""Dispatch against a real SMTP server: re-checked at claim time, rendered in the debtor's language, sent once."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.events import Event
from portal.invoices.models import Invoice
from portal.ledger.service import record_payment
from portal.links.models import AccessLink
from portal.links.service import hash_token
from portal.mail import service as mail
from portal.mail.models import MailMessage
from portal.reminders.dispatch import dispatch, settle, sweep
from portal.reminders.models import Reminder
from portal.reminders.planning import plan
from portal.scenarios.models import Step
from tests.factories import make_debtor, make_invoice, make_organisation, open_send_window
from tests.mail.smtp_server import RejectHandler, TempFailFirstHandler
from tests.processes import PROCESS_DEADLINE


def _planned(session, *, language="nl", debtors=1, invoices=1, email=None, **org):
    """An organisation whose debtors each have overdue invoices and a planned reminder; committed."""
    organisation = make_organisation(session, name="Acme Supplies B.V.", iban="NL91ABNA0417164300", **org)
    today = organisation.today()
    made = []
    for n in range(debtors):
        debtor = make_debtor(
            session, organisation, name=f"Klant {n}", language=language, email=email or f"ap{n}@example.com"
        )
        for _ in range(invoices):
            make_invoice(session, debtor, "121.00", days_overdue=10)
        made.append(debtor)
    plan(session, organisation.id, today=today, first=today)
    session.commit()
    return organisation, made


def _due_now(session, organisation):
    send_at = session.scalar(select(Reminder.send_at).where(Reminder.organisation_id == organisation.id))
    return send_at + timedelta(minutes=1)


def _reminders(session, organisation):
    session.expire_all()
    return session.scalars(select(Reminder).where(Reminder.organisation_id == organisation.id)).all()


def test_a_due_reminder_is_sent_once_in_the_debtors_language(app, live_db, smtpd):
    organisation, [debtor] = _planned(live_db, language="nl")
    now = _due_now(live_db, organisation)

    counts = dispatch(live_db, smtp_url=smtpd.url, config=app.config, now=now)
    again = dispatch(live_db, smtp_url=smtpd.url, config=app.config, now=now + timedelta(hours=1))

    assert counts["sent"] == 1 and sum(again.values()) == 0
    [message] = smtpd.messages
    [reminder] = _reminders(live_db, organisation)
    assert reminder.status == "sent" and reminder.sent_at is not None
    assert message["Message-ID"] == f"<reminder-{reminder.id}@duly.test>"
    assert message["Subject"].startswith("Herinnering: INV-")
    assert message["To"] == "ap0@example.com"
    assert "Acme Supplies B.V." in message["From"]
    body = message.get_body(("plain",)).get_content()
    assert "Beste Klant 0" in body and "€\xa0121,00" in body and "NL91ABNA0417164300" in body
    # The self-service link's token is stored only as its hash.
    token = body.split("/s/")[1].split()[0]
    assert live_db.scalar(select(AccessLink).where(AccessLink.token_hash == hash_token(token))) is not None
    # ... and the copy Duly keeps of the delivered mail has the link without its token.
    kept = live_db.scalar(select(MailMessage).where(MailMessage.reminder_id == reminder.id))
    assert token not in kept.body_text and token not in kept.body_html
    assert "/s/[link removed after delivery]" in kept.body_text and "Beste Klant 0" in kept.body_text
    assert live_db.scalar(select(Invoice.last_step).where(Invoice.debtor_id == debtor.id)) == 1
    kinds = live_db.scalars(select(Event.kind).where(Event.debtor_id == debtor.id)).all()
    assert "reminder:sent" in kinds


def test_english_debtors_get_english(app, live_db, smtpd):
    organisation, _ = _planned(live_db, language="en")
    dispatch(live_db, smtp_url=smtpd.url, config=app.config, now=_due_now(live_db, organisation))
    [message] = smtpd.messages
    assert message["Subject"].startswith("Reminder: INV-")
    assert "Dear Klant 0" in message.get_body(("plain",)).get_content()


def test_an_invoice_paid_after_planning_is_skipped_without_a_mail(app, live_db, smtpd):
    organisation, [debtor] = _planned(live_db)
    invoice = live_db.scalar(select(Invoice).where(Invoice.debtor_id == debtor.id))
    record_payment(
        live_db,
        organisation.id,
        debtor.id,
        Decimal("121.00"),
        "EUR",
        organisation.today(),
        allocations=[(invoice.id, Decimal("121.00"))],
    )
    live_db.commit()

    counts = dispatch(live_db, smtp_url=smtpd.url, config=app.config, now=_due_now(live_db, organisation))

    assert counts["skipped"] == 1 and smtpd.messages == []
    [reminder] = _reminders(live_db, organisation)
    assert reminder.status == "skipped" and "paid" in reminder.reason
    assert live_db.get(Invoice, invoice.id).last_step == 0


def test_a_partial_payment_since_planning_shows_the_current_amount(app, live_db, smtpd):
    organisation, [debtor] = _planned(live_db, language="en")
    invoice = live_db.scalar(select(Invoice).where(Invoice.debtor_id == debtor.id))
    record_payment(
        live_db,
        organisation.id,
        debtor.id,
        Decimal("21.00"),
        "EUR",
        organisation.today(),
        allocations=[(invoice.id, Decimal("21.00"))],
    )
    live_db.commit()

    dispatch(live_db, smtp_url=smtpd.url, config=app.config, now=_due_now(live_db, organisation))

    body = smtpd.messages[0].get_body(("plain",)).get_content()
    assert "€100.00" in body and "121" not in body
    [reminder] = _reminders(live_db, organisation)
    assert reminder.items[0].open_amount == Decimal("100.00")


def test_a_phone_step_becomes_a_task_not_a_mail(app, live_db, smtpd):
    organisation, [debtor] = _planned(live_db)
    step = live_db.scalar(
        select(Step).join(Reminder, Reminder.scenario_id == Step.scenario_id).where(Step.position == 1)
    )
    step.channel = "phone"
    live_db.commit()

    counts = dispatch(live_db, smtp_url=smtpd.url, config=app.config, now=_due_now(live_db, organisation))

    assert counts["todo"] == 1 and smtpd.messages == []
    [reminder] = _reminders(live_db, organisation)
    assert reminder.status == "todo" and reminder.todo


def test_a_temporary_refusal_is_retried_with_backoff_and_sent_once(app, live_db, make_smtpd):
    server = make_smtpd(TempFailFirstHandler())
    organisation, _ = _planned(live_db)
    now = _due_now(live_db, organisation)

    dispatch(live_db, smtp_url=server.url, config=app.config, now=now)
    [reminder] = _reminders(live_db, organisation)
    assert reminder.status == "sending" and reminder.reason.startswith("retrying: 451")
    message = live_db.get(MailMessage, reminder.mail_message_id)
    assert message.status == "queued" and message.next_attempt_at > now

    assert mail.deliver(live_db, message.id, server.url, now=now) == "queued"  # not before its back-off
    assert mail.deliver(live_db, message.id, server.url, now=message.next_attempt_at) == "sent"
    assert settle(live_db, message.id) == "sent"
    assert len(server.messages) == 1 and _reminders(live_db, organisation)[0].status == "sent"


def test_a_permanent_refusal_fails_and_is_shown(app, live_db, make_smtpd):
    server = make_smtpd(RejectHandler())
    organisation, _ = _planned(live_db)

    counts = dispatch(live_db, smtp_url=server.url, config=app.config, now=_due_now(live_db, organisation))

    assert counts["failed"] == 1
    [reminder] = _reminders(live_db, organisation)
    assert reminder.status == "failed" and "550" in reminder.reason


def test_a_lapsed_claim_goes_back_and_is_sent_once(app, live_db, smtpd):
    from portal.reminders.dispatch import claim

    organisation, _ = _planned(live_db)
    now = _due_now(live_db, organisation)
    assert len(claim(live_db, now, "dead-worker")) == 1  # ... and the worker dies before sending

    assert sum(dispatch(live_db, smtp_url=smtpd.url, config=app.config, now=now).values()) == 0
    sweep(live_db, now=now + timedelta(minutes=6))
    counts = dispatch(live_db, smtp_url=smtpd.url, config=app.config, now=now + timedelta(minutes=6))

    assert counts["sent"] == 1 and len(smtpd.messages) == 1


def test_a_send_whose_worker_died_is_unknown_and_never_resent(app, live_db, smtpd):
    organisation, _ = _planned(live_db)
    now = _due_now(live_db, organisation)
    [reminder] = _reminders(live_db, organisation)
    # What a worker killed during SMTP leaves: the reminder and its mail both 'sending'.
    message = MailMessage(
        template="reminder",
        to_address="ap0@example.com",
        from_address="x@duly.test",
        subject="s",
        body_text="b",
        status="sending",
        claimed_at=now,
        attempts=1,
        reminder_id=reminder.id,
    )
    live_db.add(message)
    live_db.flush()
    reminder.status, reminder.mail_message_id = "sending", message.id
    live_db.commit()

    later = now + mail.SENDING_LEASE + timedelta(minutes=1)
    mail.sweep(live_db, now=later)
    sweep(live_db, now=later)
    counts = dispatch(live_db, smtp_url=smtpd.url, config=app.config, now=later)

    assert sum(counts.values()) == 0 and smtpd.messages == []
    assert _reminders(live_db, organisation)[0].status == "unknown"


def test_line_breaks_in_an_address_are_refused(app, live_db, smtpd):
    organisation, [debtor] = _planned(live_db)
    debtor.email = "ap@example.com\r\nBcc: victim@example.com"
    live_db.commit()

    counts = dispatch(live_db, smtp_url=smtpd.url, config=app.config, now=_due_now(live_db, organisation))

    assert counts["failed"] == 1 and smtpd.messages == []
    assert "line breaks" in _reminders(live_db, organisation)[0].reason


@pytest.mark.parametrize("workers", [3])
def test_several_workers_send_each_reminder_exactly_once(app, live_db, smtpd, workers):
    organisation, _ = _planned(live_db, debtors=120)
    now = _due_now(live_db, organisation)
    live_db.close()
    totals = []

    def work():
        with app.app_context():
            from portal.extensions import db

            try:
                totals.append(dispatch(db.session, smtp_url=smtpd.url, config=app.config, now=now))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=PROCESS_DEADLINE)
    assert not any(thread.is_alive() for thread in threads), "a dispatcher hung"

    assert sum(c["sent"] for c in totals) == 120
    recipients = [tuple(envelope.rcpt_tos) for envelope in smtpd.handler.envelopes]
    assert len(recipients) == 120 and len(set(recipients)) == 120
    assert {r.status for r in _reminders(live_db, organisation)} == {"sent"}


def test_duly_delivers_new_invoices_with_their_pdf_then_reminds(app, live_db, smtpd, time_machine):
    organisation = make_organisation(live_db, deliver_invoices=True, name="Acme Supplies B.V.")
    today = open_send_window(time_machine, organisation)  # invoices issued on a sending day
    debtor = make_debtor(live_db, organisation, name="Klant", language="en", email="ap@example.com")
    with_pdf = make_invoice(
        live_db,
        debtor,
        "50.00",
        issue_date=today,
        due_date=today + timedelta(days=14),
        pdf=("INV-PDF.pdf", b"%PDF-1.4 test invoice"),
    )
    without = make_invoice(live_db, debtor, "70.00", issue_date=today, due_date=today + timedelta(days=14))
    assert with_pdf.last_step == -1 and without.last_step == -1
    plan(live_db, organisation.id, today=today, first=today)
    live_db.commit()
    [delivery] = _reminders(live_db, organisation)
    assert delivery.kind == "delivery" and delivery.send_on == today

    counts = dispatch(live_db, smtp_url=smtpd.url, config=app.config, now=delivery.send_at + timedelta(minutes=1))

    assert counts["sent"] == 1
    [message] = smtpd.messages
    assert message["Subject"].startswith("Invoice ") and "Acme Supplies B.V." in message["Subject"]
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "INV-PDF.pdf" and attachment.get_content() == b"%PDF-1.4 test invoice"
    delivery = _reminders(live_db, organisation)[0]
    assert without.number in delivery.todo  # no PDF: a task to send it by hand
    assert {i.last_step for i in live_db.scalars(select(Invoice).where(Invoice.debtor_id == debtor.id))} == {0}

    # Then the invoices walk the scenario as any other: the standard's first reminder, 3 days after due.
    plan(live_db, organisation.id, today=today, first=today)
    live_db.commit()
    reminder = [r for r in _reminders(live_db, organisation) if r.kind == "reminder"][0]
    assert reminder.step_position == 1 and reminder.send_on >= today + timedelta(days=17)


def test_a_clock_every_half_hour_across_the_dst_change_sends_one_mail_per_step(app, live_db, smtpd):
    from datetime import UTC, date, datetime

    from portal.organisations.calendar import first_day

    organisation = make_organisation(live_db, business_days_only=False, min_gap_days=1)
    debtor = make_debtor(live_db, organisation, name="Klant", email="dst@example.com")
    # Standard: step 1 three days after due = Sunday 25 October 2026, when Amsterdam goes back from CEST to CET.
    make_invoice(live_db, debtor, "10.00", issue_date=date(2026, 10, 1), due_date=date(2026, 10, 22))
    live_db.commit()
    now = datetime(2026, 10, 23, 0, 0, tzinfo=UTC)
    while now < datetime(2026, 10, 28, tzinfo=UTC):
        local_today = now.astimezone(organisation.tz).date()
        plan(live_db, organisation.id, today=local_today, first=first_day(organisation, now))
        live_db.commit()
        dispatch(live_db, smtp_url=smtpd.url, config=app.config, now=now)
        now += timedelta(minutes=30)

    assert len(smtpd.messages) == 1
    [sent] = [r for r in _reminders(live_db, organisation) if r.status == "sent"]
    assert sent.send_on == date(2026, 10, 25)
    assert sent.send_at == datetime(2026, 10, 25, 8, 0, tzinfo=UTC)  # 09:00 CET, after the change


def test_two_clocks_planning_at_once_make_one_reminder_per_debtor(app, live_db):
    organisation, debtors = _planned(live_db, debtors=30)
    today, organisation_id = organisation.today(), organisation.id
    live_db.execute(Reminder.__table__.delete())  # start from nothing planned
    live_db.commit()
    live_db.close()
    results, barrier = [], threading.Barrier(2)

    def clock():
        from portal.extensions import db

        with app.app_context():
            try:
                barrier.wait(timeout=PROCESS_DEADLINE)
                results.append(plan(db.session, organisation_id, today=today, first=today))
                db.session.commit()
            finally:
                db.session.remove()

    threads = [threading.Thread(target=clock) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=PROCESS_DEADLINE)
    assert not any(thread.is_alive() for thread in threads), "a planning run hung"

    assert sorted(r.created for r in results) == [0, 30]
    reminders = live_db.scalars(select(Reminder).where(Reminder.organisation_id == organisation_id)).all()
    assert len(reminders) == 30 and len({r.debtor_id for r in reminders}) == 30


def test_an_html_reminder_carries_the_epc_qr_code_as_a_picture_of_its_own(app, live_db, smtpd):
    from portal.epc import CONTENT_ID, payload

    organisation, [debtor] = _planned(live_db, language="en")
    dispatch(live_db, smtp_url=smtpd.url, config=app.config, now=_due_now(live_db, organisation))

    [message] = smtpd.messages
    html = message.get_body(("html",))
    assert f'src="cid:{CONTENT_ID}"' in html.get_content() and "Scan with your banking app" in html.get_content()
    [picture] = [part for part in message.walk() if part.get_content_type() == "image/png"]
    assert picture["Content-ID"] == f"<{CONTENT_ID}>" and picture.get_content().startswith(b"\x89PNG")
    kept = live_db.scalar(select(MailMessage).where(MailMessage.reminder_id.isnot(None)))
    # What the picture says: the supplier's account and the amount due, with the invoice's RF reference.
    text = payload(kept.inline_qr)
    assert text.startswith("BCD\n002\n1\nSCT\n\nAcme Supplies B.V.\nNL91ABNA0417164300\nEUR121.00\n\nRF")


def test_without_an_iban_there_is_no_code(app, live_db, smtpd):
    organisation, _ = _planned(live_db, language="en")
    organisation.iban = ""
    live_db.commit()
    dispatch(live_db, smtp_url=smtpd.url, config=app.config, now=_due_now(live_db, organisation))
    [message] = smtpd.messages
    assert "cid:" not in message.get_body(("html",)).get_content()
    assert not [part for part in message.walk() if part.get_content_type() == "image/png"]


def test_an_invoice_that_went_into_a_payment_plan_after_planning_is_left_out(app, live_db, smtpd):
    from portal.arrangements import service as arrangements

    organisation, [debtor] = _planned(live_db, language="en")
    invoice = live_db.scalar(select(Invoice).where(Invoice.debtor_id == debtor.id))
    arrangements.create(
        live_db,
        organisation.id,
        debtor.id,
        [invoice.id],
        2,
        "monthly",
        organisation.today(),
        actor_user_id=None,
        mail_from="Duly <no-reply@duly.test>",
    )
    live_db.commit()

    counts = dispatch(live_db, smtp_url=smtpd.url, config=app.config, now=_due_now(live_db, organisation))

    assert counts["skipped"] == 1 and counts["sent"] == 0
    [reminder] = _reminders(live_db, organisation)
    assert reminder.status == "skipped" and "in a payment plan" in reminder.reason
    assert not [m for m in smtpd.messages if m["Subject"].startswith("Reminder")]
