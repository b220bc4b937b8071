"""The one way Duly sends mail: render a template folder into an outbox row, deliver it from a job.

With SMTP_URL set, delivery talks SMTP; without one (the demo) the message stays in the local outbox, which the
cockpit shows as a mailbox.
"""

import smtplib
import ssl
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import unquote, urlsplit

from flask import render_template
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from portal.jobs import enqueue_after_commit
from portal.mail.models import MailMessage
from portal.types import utcnow

MAX_ATTEMPTS = 8
SENDING_LEASE = timedelta(minutes=10)
REDACTED = "[This message held a one-time link. It was removed after delivery.]"


def check_header_safe(*values: str) -> None:
    """Names and addresses end up in mail headers: a CR or LF there would let them add recipients."""
    for value in values:
        if value and ("\r" in value or "\n" in value):
            raise ValueError("line breaks are not allowed in names and addresses")


def queue_mail(
    session: Session,
    *,
    to: str,
    template: str,
    context: dict,
    from_address: str,
    organisation_id: int | None = None,
    sensitive: bool = False,
) -> MailMessage:
    """Render ``templates/email/<template>/`` and queue the message for delivery after the commit."""
    check_header_safe(to, from_address)
    subject = render_template(f"email/{template}/subject.txt", **context).strip()
    check_header_safe(subject)
    message = MailMessage(
        organisation_id=organisation_id,
        template=template,
        to_address=to,
        from_address=from_address,
        subject=subject,
        body_text=render_template(f"email/{template}/body.txt", **context),
        body_html=render_template(f"email/{template}/body.html", **context),
        sensitive=sensitive,
    )
    session.add(message)
    session.flush()
    enqueue_after_commit(session, "workers.jobs.deliver_mail", message.id)
    return message


def _claim(session: Session, message_id: int, now: datetime) -> MailMessage | None:
    """queued -> sending, committed before SMTP so that a crash mid-send can never lead to a second send."""
    result = session.execute(
        update(MailMessage)
        .where(
            MailMessage.id == message_id,
            MailMessage.status == "queued",
            or_(MailMessage.next_attempt_at.is_(None), MailMessage.next_attempt_at <= now),
        )
        .values(status="sending", claimed_at=now, attempts=MailMessage.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if result.rowcount != 1:
        return None
    return session.get(MailMessage, message_id, populate_existing=True)


def _smtp_connection(smtp_url: str) -> smtplib.SMTP:
    url = urlsplit(smtp_url)
    timeout = 30
    if url.scheme == "smtps":
        conn: smtplib.SMTP = smtplib.SMTP_SSL(
            url.hostname, url.port or 465, timeout=timeout, context=ssl.create_default_context()
        )
    elif url.scheme in ("smtp", "smtp+starttls"):
        conn = smtplib.SMTP(url.hostname, url.port or 25, timeout=timeout)
        if url.scheme == "smtp+starttls":
            conn.starttls(context=ssl.create_default_context())
    else:
        raise ValueError(f"SMTP_URL scheme must be smtp, smtp+starttls or smtps, not {url.scheme}")
    if url.username:
        conn.login(unquote(url.username), unquote(url.password or ""))
    return conn


def _as_email(message: MailMessage) -> EmailMessage:
    email = EmailMessage()
    email["From"] = message.from_address
    email["To"] = message.to_address
    email["Subject"] = message.subject
    email["Message-ID"] = make_msgid(idstring=f"duly-{message.id}", domain="duly.invalid")
    email.set_content(message.body_text)
    if message.body_html:
        email.add_alternative(message.body_html, subtype="html")
    return email


def deliver(session: Session, message_id: int, smtp_url: str, now: datetime | None = None) -> str:
    """Send one queued message at most once; safe to call again for the same id. Returns the new status."""
    now = now or utcnow()
    message = _claim(session, message_id, now)
    if message is None:
        current = session.get(MailMessage, message_id)
        return current.status if current else "missing"
    if not smtp_url:
        message.status, message.sent_at = "outbox", now
        session.commit()
        return message.status
    started_data = False
    try:
        with _smtp_connection(smtp_url) as conn:
            started_data = True
            conn.send_message(_as_email(message))
    except smtplib.SMTPResponseException as exc:
        _failed_attempt(message, now, exc.smtp_code, str(exc.smtp_error or exc))
    except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
        message.status, message.last_error = "failed", str(exc)[:500]
    except (OSError, smtplib.SMTPException) as exc:
        # Lost before DATA: safe to retry. Lost during DATA: the server may have the mail, so never resend.
        if started_data and isinstance(exc, smtplib.SMTPServerDisconnected):
            message.status, message.last_error = "unknown", str(exc)[:500]
        else:
            _failed_attempt(message, now, 421, str(exc))
    else:
        message.status, message.sent_at = "sent", now
        if message.sensitive:
            message.body_text = message.body_html = REDACTED
    session.commit()
    return message.status


def _failed_attempt(message: MailMessage, now: datetime, code: int, error: str) -> None:
    message.last_error = f"{code} {error}"[:500]
    if 400 <= code < 500 and message.attempts < MAX_ATTEMPTS:
        message.status = "queued"
        message.next_attempt_at = now + timedelta(seconds=30 * 2 ** (message.attempts - 1))
    else:
        message.status = "failed"


def sweep(session: Session, now: datetime | None = None) -> list[int]:
    """Find what Redis may have lost: due queued messages to re-enqueue, stale sends to mark unknown."""
    now = now or utcnow()
    session.execute(
        update(MailMessage)
        .where(MailMessage.status == "sending", MailMessage.claimed_at < now - SENDING_LEASE)
        .values(status="unknown", last_error="worker stopped during delivery; not resent")
        .execution_options(synchronize_session=False)
    )
    due = list(
        session.scalars(
            select(MailMessage.id).where(
                MailMessage.status == "queued",
                or_(MailMessage.next_attempt_at.is_(None), MailMessage.next_attempt_at <= now),
                MailMessage.created_at < now - timedelta(minutes=1),
            )
        )
    )
    session.commit()
    return due
