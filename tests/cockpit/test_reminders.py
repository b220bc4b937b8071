"""The cockpit's reminder pages: schedule, one reminder's actions, sent, dry run, to-dos and holds."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.events import Event
from portal.organisations.calendar import send_days
from portal.reminders.models import Reminder
from portal.reminders.planning import plan
from tests.conftest import csrf_from
from tests.factories import make_debtor, make_invoice, make_user


def sending_day_after(org, days):
    """The first day reminders go out on or after ``days`` from today (moving onto a weekend is refused)."""
    day = org.today() + timedelta(days=days)
    [(_, sendable, _)] = send_days(org, day, day)
    return sendable


@pytest.fixture
def planned(db_session, org):
    """Two debtors with overdue invoices and their planned reminders (today, standard step 1)."""
    today = org.today()
    ann = make_debtor(db_session, org, name="Ann's Bakery", email="ann@example.com", language="en")
    bob = make_debtor(db_session, org, name="Bob Bouw", email="bob@example.com", language="nl")
    make_invoice(db_session, ann, "250.00", number="A-1", days_overdue=10)
    make_invoice(db_session, bob, "80.00", number="B-1", days_overdue=10)
    plan(db_session, org.id, today=today, first=today)
    reminders = {r.debtor_id: r for r in db_session.scalars(select(Reminder))}
    return reminders[ann.id], reminders[bob.id]


def test_a_sent_reminder_shows_what_was_sent_or_says_no_copy_was_kept(client, db_session, org, signed_in, planned):
    from portal.mail.models import MailMessage
    from portal.types import utcnow

    ann, bob = planned
    kept = MailMessage(
        organisation_id=org.id,
        to_address="ann@example.com",
        from_address="debiteuren@example.com",
        subject="Reminder A-1",
        body_text="Dear Ann, as sent on the day: 250.00",
        body_html="<p>Dear Ann</p>",
        template="reminder",
    )
    db_session.add(kept)
    db_session.flush()
    ann.status, ann.sent_at, ann.mail_message_id = "sent", utcnow(), kept.id
    bob.status, bob.sent_at = "sent", utcnow()  # a call or letter done by hand: no mail of Duly's
    db_session.flush()

    sent = client.get(f"/cockpit/reminders/{ann.id}").text
    assert "What was sent" in sent and "Dear Ann, as sent on the day: 250.00" in sent
    by_hand = client.get(f"/cockpit/reminders/{bob.id}").text
    assert "No copy of a mail is kept for this sent reminder" in by_hand and "Beste Bob Bouw" in by_hand


def test_the_schedule_shows_reminders_by_day_with_scenario(client, signed_in, planned):
    page = client.get("/cockpit/reminders").text
    assert "Ann&#39;s Bakery" in page and "Bob Bouw" in page
    assert "Standard" in page and "step 1" in page and "A-1" in page
    only_ann = client.get("/cockpit/reminders?q=ann").text
    assert "Ann&#39;s Bakery" in only_ann and "Bob Bouw" not in only_ann


def test_a_reminder_previews_in_the_debtors_language(client, signed_in, planned):
    ann, bob = planned
    assert "Dear Ann" in client.get(f"/cockpit/reminders/{ann.id}").text
    assert "Beste Bob Bouw" in client.get(f"/cockpit/reminders/{bob.id}").text


def test_moving_pins_the_reminder_and_planning_leaves_it(client, db_session, org, signed_in, planned):
    ann, _ = planned
    token = csrf_from(client.get(f"/cockpit/reminders/{ann.id}").text)
    later = sending_day_after(org, 10)
    response = client.post(
        f"/cockpit/reminders/{ann.id}/move", data={"csrf_token": token, "send_on": later.isoformat()}
    )
    assert response.status_code == 303
    plan(db_session, org.id, today=org.today())
    db_session.refresh(ann)
    assert ann.send_on == later and ann.pinned and ann.status == "scheduled"


def test_moving_onto_the_debtors_other_reminder_merges_them(client, db_session, org, signed_in, planned):
    ann, _ = planned
    debtor = ann.debtor
    later = sending_day_after(org, 10)
    other = make_invoice(db_session, debtor, "40.00", number="A-2", days_overdue=2)
    second = Reminder(
        organisation_id=org.id,
        debtor_id=debtor.id,
        send_on=later,
        send_at=ann.send_at,
        status="scheduled",
        pinned=True,
        step_position=1,
        scenario_id=ann.scenario_id,
    )
    db_session.add(second)
    db_session.flush()
    from portal.reminders.models import ReminderItem

    db_session.add(ReminderItem(reminder_id=second.id, invoice_id=other.id, step_position=1))
    db_session.flush()
    token = csrf_from(client.get(f"/cockpit/reminders/{ann.id}").text)

    client.post(f"/cockpit/reminders/{ann.id}/move", data={"csrf_token": token, "send_on": later.isoformat()})

    waiting = db_session.scalars(select(Reminder).where(Reminder.debtor_id == debtor.id)).all()
    assert len(waiting) == 1
    assert {i.invoice.number for i in waiting[0].items} == {"A-1", "A-2"}


def test_block_needs_a_reason_and_unblock_restores(client, db_session, signed_in, planned):
    ann, _ = planned
    token = csrf_from(client.get(f"/cockpit/reminders/{ann.id}").text)
    client.post(f"/cockpit/reminders/{ann.id}/block", data={"csrf_token": token, "reason": "  "})
    db_session.refresh(ann)
    assert ann.status == "scheduled"
    client.post(f"/cockpit/reminders/{ann.id}/block", data={"csrf_token": token, "reason": "Agreed by phone"})
    db_session.refresh(ann)
    assert (ann.status, ann.reason, ann.pinned) == ("blocked", "Agreed by phone", True)
    assert "Agreed by phone" in client.get("/cockpit/reminders").text
    assert "Reminder blocked: Agreed by phone" in client.get(f"/cockpit/debtors/{ann.debtor_id}").text
    client.post(f"/cockpit/reminders/{ann.id}/unblock", data={"csrf_token": token})
    db_session.refresh(ann)
    assert ann.status == "scheduled"


def test_editing_one_reminder_checks_placeholders(client, db_session, signed_in, planned):
    ann, _ = planned
    token = csrf_from(client.get(f"/cockpit/reminders/{ann.id}").text)
    bad = client.post(
        f"/cockpit/reminders/{ann.id}/edit",
        data={"csrf_token": token, "subject": "Hi {{ config }}", "body": "Pay {amount_due} now"},
    )
    assert bad.status_code == 422
    assert "Unknown placeholder: {amount_due}" in bad.text and "Pay {amount_due} now" in bad.text
    db_session.refresh(ann)
    assert ann.custom_body is None and not ann.pinned

    good = client.post(
        f"/cockpit/reminders/{ann.id}/edit",
        data={"csrf_token": token, "subject": "About {invoice_numbers}", "body": "Please pay {total_due}, thanks."},
    )
    assert good.status_code == 303
    page = client.get(f"/cockpit/reminders/{ann.id}").text
    assert "About A-1" in page and "Please pay €250.00, thanks." in page


def test_send_now_makes_it_due_at_once(client, db_session, signed_in, planned):
    ann, _ = planned
    token = csrf_from(client.get(f"/cockpit/reminders/{ann.id}").text)
    client.post(f"/cockpit/reminders/{ann.id}/send-now", data={"csrf_token": token})
    db_session.refresh(ann)
    assert ann.status == "scheduled" and ann.pinned
    kinds = db_session.scalars(select(Event.kind).where(Event.debtor_id == ann.debtor_id)).all()
    assert "reminder:send_now" in kinds


def test_a_viewer_sees_but_cannot_change(client, auth, db_session, org, planned):
    ann, _ = planned
    viewer = make_user(db_session, org, role="viewer")
    auth.login(viewer.email)
    page = client.get(f"/cockpit/reminders/{ann.id}")
    assert page.status_code == 200 and "Send now" not in page.text
    token = csrf_from(page.text)
    assert client.post(f"/cockpit/reminders/{ann.id}/send-now", data={"csrf_token": token}).status_code == 403


def test_sent_dry_run_and_todo_pages(client, db_session, org, signed_in, planned):
    ann, bob = planned
    ann.status, ann.reason = "skipped", "A-1: paid"
    bob.status, bob.todo = "todo", "Call Bob Bouw about B-1"
    db_session.flush()
    sent = client.get("/cockpit/reminders/sent").text
    assert "A-1: paid" in sent and "skipped" in sent
    todo = client.get("/cockpit/reminders/todo").text
    assert "Call Bob Bouw about B-1" in todo
    token = csrf_from(todo)
    client.post(f"/cockpit/reminders/{bob.id}/done", data={"csrf_token": token})
    db_session.refresh(bob)
    assert bob.status == "done"


def test_dry_run_lists_messages_and_keeps_nothing(client, db_session, signed_in, planned):
    before = db_session.scalars(select(Reminder.status)).all()
    page = client.get("/cockpit/reminders/dry-run?days=30").text
    assert "Ann&#39;s Bakery" in page and "Reminder: A-1" in page and "Herinnering: B-1" in page
    assert "Second reminder: A-1" in page  # the next step, after the minimum gap
    assert db_session.scalars(select(Reminder.status)).all() == before


def test_holds_on_a_debtor_and_an_invoice(client, db_session, org, signed_in, planned):
    ann, bob = planned
    debtor = ann.debtor
    token = csrf_from(client.get(f"/cockpit/debtors/{ann.debtor_id}").text)
    until = (org.today() + timedelta(days=14)).isoformat()
    client.post(f"/cockpit/debtors/{ann.debtor_id}/hold", data={"csrf_token": token, "until": until, "reason": "Talks"})
    db_session.refresh(ann.debtor)
    assert ann.debtor.hold_until.isoformat() == until and ann.debtor.hold_reason == "Talks"
    debtor_page = client.get(f"/cockpit/debtors/{ann.debtor_id}").text
    assert "Held until" in debtor_page and "Reminders held until" in debtor_page and "Talks" in debtor_page
    past = (org.today() - timedelta(days=1)).isoformat()
    invoice = bob.items[0].invoice
    client.post(f"/cockpit/invoices/{invoice.id}/hold", data={"csrf_token": token, "until": past})
    db_session.refresh(invoice)
    assert invoice.hold_until is None
    client.post(f"/cockpit/invoices/{invoice.id}/hold", data={"csrf_token": token, "until": until})
    db_session.refresh(invoice)
    assert invoice.hold_until.isoformat() == until
    plan(db_session, org.id, today=org.today())
    assert db_session.scalars(select(Reminder).where(Reminder.status == "scheduled")).all() == []
    client.post(f"/cockpit/debtors/{debtor.id}/hold", data={"csrf_token": token, "action": "lift"})
    db_session.refresh(debtor)
    assert debtor.hold_until is None


def test_a_move_only_to_a_day_reminders_go_out(client, db_session, org, signed_in, planned):
    from datetime import date

    ann, _ = planned
    token = csrf_from(client.get(f"/cockpit/reminders/{ann.id}").text)
    saturday = org.today() + timedelta(days=(5 - org.today().weekday()) % 7 or 7)
    assert saturday.weekday() == 5
    client.post(f"/cockpit/reminders/{ann.id}/move", data={"csrf_token": token, "send_on": saturday.isoformat()})
    page = client.get(f"/cockpit/reminders/{ann.id}").text
    assert "weekend day or public holiday" in page
    kings_day = date(org.today().year + 1, 4, 27)
    if kings_day.weekday() < 5:
        client.post(f"/cockpit/reminders/{ann.id}/move", data={"csrf_token": token, "send_on": kings_day.isoformat()})
        assert "weekend day or public holiday" in client.get(f"/cockpit/reminders/{ann.id}").text
    db_session.refresh(ann)
    assert not ann.pinned


def test_an_invoice_page_shows_its_coming_reminder(client, signed_in, planned):
    ann, _ = planned
    invoice = ann.items[0].invoice
    page = client.get(f"/cockpit/invoices/{invoice.id}").text
    assert f"/cockpit/reminders/{ann.id}" in page and "Hold reminders until" in page
