"""mail.service against a real SMTP server: rendering, delivering at most once, retrying, refusing, sweeping."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
import time_machine

from portal.mail import service
from portal.mail.models import MailMessage
from portal.types import utcnow
from tests.mail.smtp_server import (
    DisconnectBeforeDataHandler,
    DisconnectDuringDataHandler,
    RcptHandler,
    RejectHandler,
    TempFailFirstHandler,
)

LINK = "https://duly.test/password/reset/tok3n-abc"
FROM = "Duly <no-reply@duly.test>"


@pytest.fixture(autouse=True)
def _own_queue(rq_queue):
    """Commits here ring a doorbell: keep those jobs in a queue of this test's own."""
    return rq_queue


def queue_reset(session, *, to="ann@example.com", sensitive=True, name="Ann Smit") -> MailMessage:
    user = SimpleNamespace(name=name, email=to)
    message = service.queue_mail(
        session,
        to=to,
        template="password_reset",
        context={"user": user, "link": LINK, "hours": 2},
        from_address=FROM,
        sensitive=sensitive,
    )
    session.commit()
    return message


def reload(session, message_id: int) -> MailMessage:
    session.expire_all()
    return session.get(MailMessage, message_id)


def test_queue_mail_renders_the_template_folder(db_session):
    message = queue_reset(db_session)
    message = reload(db_session, message.id)
    assert message.status == "queued"
    assert message.template == "password_reset"
    assert message.to_address == "ann@example.com"
    assert message.from_address == FROM
    assert message.subject == "Choose a new Duly password"
    assert message.sensitive is True
    assert message.attempts == 0
    assert message.next_attempt_at is None and message.sent_at is None
    assert "Hello Ann Smit," in message.body_text
    assert LINK in message.body_text and "within 2 hours" in message.body_text
    assert f'<a href="{LINK}">' in message.body_html


def test_queue_mail_escapes_html_but_not_text(db_session):
    message = queue_reset(db_session, name="<b>Ann</b> & co")
    assert "Hello <b>Ann</b> & co," in message.body_text
    assert "&lt;b&gt;Ann&lt;/b&gt; &amp; co" in message.body_html


def test_queue_mail_keeps_the_subject_on_one_line_and_within_the_column(db_session):
    inviter = SimpleNamespace(name="Bo\nBcc: evil@example.com " + "x" * 300, email="bo@example.com")
    message = service.queue_mail(
        db_session,
        to="new@example.com",
        template="invitation",
        context={
            "user": SimpleNamespace(name="New", email="new@example.com"),
            "inviter": inviter,
            "organisation": SimpleNamespace(name="Acme B.V."),
            "link": LINK,
            "days": 7,
        },
        from_address=FROM,
    )
    db_session.commit()  # PostgreSQL refuses a subject longer than the column
    subject = reload(db_session, message.id).subject
    assert "\n" not in subject and "\r" not in subject
    assert len(subject) == 300 and subject.startswith("Bo Bcc: evil@example.com xxx")


def test_deliver_sends_exactly_one_message(db_session, smtpd):
    message = queue_reset(db_session, sensitive=False)
    assert service.deliver(db_session, message.id, smtpd.url) == "sent"

    [mail] = smtpd.messages
    assert mail["From"] == FROM
    assert mail["To"] == "ann@example.com"
    assert mail["Subject"] == "Choose a new Duly password"
    assert mail["Message-ID"].endswith(f".duly-{message.id}@duly.invalid>")
    assert smtpd.handler.envelopes[0].rcpt_tos == ["ann@example.com"]
    text = mail.get_body(preferencelist=("plain",)).get_content()
    html = mail.get_body(preferencelist=("html",)).get_content()
    assert LINK in text and "Hello Ann Smit," in text
    assert f'<a href="{LINK}">' in html

    message = reload(db_session, message.id)
    assert (message.status, message.attempts, message.last_error) == ("sent", 1, "")
    assert message.sent_at is not None
    assert LINK in message.body_text  # not sensitive: the body stays

    assert service.deliver(db_session, message.id, smtpd.url) == "sent"
    assert len(smtpd.messages) == 1
    assert reload(db_session, message.id).attempts == 1


def test_a_sensitive_body_is_redacted_once_the_smtp_server_has_it(db_session, smtpd):
    message = queue_reset(db_session, sensitive=True)
    assert service.deliver(db_session, message.id, smtpd.url) == "sent"
    assert LINK in smtpd.messages[0].get_body(preferencelist=("plain",)).get_content()
    message = reload(db_session, message.id)
    assert message.body_text == message.body_html == service.REDACTED
    assert LINK not in message.body_text + message.body_html


def test_without_smtp_the_message_stays_in_the_outbox_with_its_body(db_session):
    message = queue_reset(db_session, sensitive=True)
    assert service.deliver(db_session, message.id, "") == "outbox"
    message = reload(db_session, message.id)
    assert message.status == "outbox" and message.sent_at is not None
    assert LINK in message.body_text and LINK in message.body_html
    assert service.deliver(db_session, message.id, "") == "outbox"
    assert reload(db_session, message.id).attempts == 1


def test_deliver_of_an_unknown_id_reports_missing(db_session, smtpd):
    assert service.deliver(db_session, 987654, smtpd.url) == "missing"
    assert smtpd.messages == []


def test_a_451_is_retried_after_the_back_off(db_session, make_smtpd):
    server = make_smtpd(TempFailFirstHandler())
    message = queue_reset(db_session)
    start = utcnow()
    assert service.deliver(db_session, message.id, server.url, now=start) == "queued"
    message = reload(db_session, message.id)
    assert message.attempts == 1
    assert message.next_attempt_at > start
    assert message.last_error.startswith("451 ") and "Try again later" in message.last_error
    assert "b'" not in message.last_error  # the reply as text, not a bytes repr
    assert server.messages == []

    # Too early: nothing happens.
    assert service.deliver(db_session, message.id, server.url, now=start + timedelta(seconds=1)) == "queued"
    assert server.handler.data_commands == 1

    due = message.next_attempt_at + timedelta(seconds=1)
    assert service.deliver(db_session, message.id, server.url, now=due) == "sent"
    assert service.deliver(db_session, message.id, server.url, now=due) == "sent"
    assert len(server.messages) == 1
    message = reload(db_session, message.id)
    assert (message.status, message.attempts) == ("sent", 2)


def test_the_back_off_doubles_and_gives_up_after_max_attempts(db_session, make_smtpd):
    server = make_smtpd(RcptHandler("450 4.2.0 Greylisted, come back later"))
    message = queue_reset(db_session)
    now = utcnow()
    waits = []
    for _ in range(service.MAX_ATTEMPTS - 1):
        assert service.deliver(db_session, message.id, server.url, now=now) == "queued"
        message = reload(db_session, message.id)
        waits.append(message.next_attempt_at - now)
        now = message.next_attempt_at
    assert waits[:3] == [timedelta(seconds=30), timedelta(seconds=60), timedelta(seconds=120)]
    assert service.deliver(db_session, message.id, server.url, now=now) == "failed"
    message = reload(db_session, message.id)
    assert message.attempts == service.MAX_ATTEMPTS
    assert "Greylisted" in message.last_error
    assert server.messages == []


def test_a_550_fails_for_good(db_session, make_smtpd):
    server = make_smtpd(RejectHandler())
    message = queue_reset(db_session)
    assert service.deliver(db_session, message.id, server.url) == "failed"
    message = reload(db_session, message.id)
    assert message.status == "failed"
    assert message.last_error.startswith("550 ") and "Message refused" in message.last_error
    assert message.next_attempt_at is None
    assert service.deliver(db_session, message.id, server.url) == "failed"
    assert server.handler.data_commands == 1
    assert message.id not in service.sweep(db_session, now=utcnow() + timedelta(days=1))


def test_a_refused_recipient_fails_for_good(db_session, make_smtpd):
    server = make_smtpd(RcptHandler("550 5.1.1 No such user"))
    message = queue_reset(db_session)
    assert service.deliver(db_session, message.id, server.url) == "failed"
    assert "No such user" in reload(db_session, message.id).last_error


def test_a_greylisted_recipient_is_retried(db_session, make_smtpd):
    server = make_smtpd(RcptHandler("450 4.2.0 Greylisted"))
    message = queue_reset(db_session)
    assert service.deliver(db_session, message.id, server.url) == "queued"
    message = reload(db_session, message.id)
    assert message.next_attempt_at is not None and "Greylisted" in message.last_error


def test_a_connection_lost_before_data_is_retried(db_session, make_smtpd):
    server = make_smtpd(DisconnectBeforeDataHandler())
    message = queue_reset(db_session)
    start = utcnow()
    assert service.deliver(db_session, message.id, server.url, now=start) == "queued"
    message = reload(db_session, message.id)
    assert message.last_error.startswith("421 ")
    later = message.next_attempt_at
    assert service.deliver(db_session, message.id, server.url, now=later) == "sent"
    assert len(server.messages) == 1


def test_no_smtp_server_listening_is_retried(db_session):
    from portal.launcher import free_port

    message = queue_reset(db_session)
    assert service.deliver(db_session, message.id, f"smtp://127.0.0.1:{free_port()}") == "queued"
    assert reload(db_session, message.id).last_error.startswith("421 ")


def test_a_bad_smtp_url_is_recorded_not_left_sending(db_session):
    message = queue_reset(db_session)
    assert service.deliver(db_session, message.id, "http://mail.example.com") == "queued"
    assert "scheme" in reload(db_session, message.id).last_error


def test_a_connection_lost_during_data_is_unknown_and_never_resent(db_session, make_smtpd):
    server = make_smtpd(DisconnectDuringDataHandler())
    message = queue_reset(db_session)
    assert service.deliver(db_session, message.id, server.url) == "unknown"
    message = reload(db_session, message.id)
    assert message.status == "unknown" and message.last_error
    assert len(server.handler.envelopes) == 1  # the server did get it

    assert service.deliver(db_session, message.id, server.url) == "unknown"
    assert message.id not in service.sweep(db_session, now=utcnow() + timedelta(days=1))
    assert reload(db_session, message.id).status == "unknown"
    assert server.handler.data_commands == 1


def test_sweep_marks_a_stale_send_unknown_and_returns_due_mail(db_session):
    stale = queue_reset(db_session, to="stale@example.com")
    fresh_send = queue_reset(db_session, to="busy@example.com")
    due = queue_reset(db_session, to="due@example.com")
    later = queue_reset(db_session, to="later@example.com")
    now = utcnow()
    for message, claimed in ((stale, now - timedelta(minutes=11)), (fresh_send, now - timedelta(minutes=2))):
        message.status, message.claimed_at = "sending", claimed
    later.next_attempt_at = now + timedelta(hours=1)
    db_session.commit()

    ours = {stale.id, fresh_send.id, due.id, later.id}  # (on SQLite, earlier tests' rows may linger)

    # A message younger than a minute still has its own job on the way.
    assert ours.isdisjoint(service.sweep(db_session, now=now))

    with time_machine.travel(now + timedelta(minutes=2), tick=False):
        found = service.sweep(db_session)
    assert sorted(ours.intersection(found)) == [due.id]
    assert reload(db_session, stale.id).status == "unknown"
    assert "not resent" in reload(db_session, stale.id).last_error
    assert reload(db_session, fresh_send.id).status == "sending"

    assert sorted(ours.intersection(service.sweep(db_session, now=now + timedelta(hours=2)))) == [due.id, later.id]
