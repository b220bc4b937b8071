"""The one way Duly sends mail: render a template folder into an outbox row, deliver it from a job.

With SMTP_URL set, delivery talks SMTP; without one (the demo) the message stays in the local outbox, which the
cockpit shows as a mailbox.
"""

import logging
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import unquote, urlsplit

from flask import render_template
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, object_session

from portal.epc import CONTENT_ID, png
from portal.invoices.models import InvoiceDocument
from portal.jobs import enqueue_after_commit
from portal.mail.models import MailMessage
from portal.types import utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
SENDING_LEASE = timedelta(minutes=10)
REDACTED = "[This message held a one-time link. It was removed after delivery.]"


# CR and LF, and everything else that str.splitlines() (and so a header parser) may take for a line break.
_LINE_BREAKS = frozenset("\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029")


def check_header_safe(*values: str) -> None:
    """Names and addresses end up in mail headers: a CR or LF there would let them add recipients."""
    for value in values:
        if value and (not _LINE_BREAKS.isdisjoint(value) or "\x00" in value):
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
    # One line, whatever names the template put in, and no longer than the column (PostgreSQL refuses more).
    subject = " ".join(render_template(f"email/{template}/subject.txt", **context).split())
    limit = MailMessage.__table__.c.subject.type.length
    if len(subject) > limit:
        subject = subject[: limit - 1] + "\u2026"
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


class _HookFailed(Exception):
    """``before_data`` itself failed (e.g. the database went away): not an SMTP outcome, so it is raised as is."""


class LostClaim(Exception):
    """The hook before DATA found the message is no longer this sender's to send: nothing was offered."""


class _DataTracking:
    """Remembers whether the DATA command was sent: from then on the server may hold the mail. A ``before_data``
    hook runs just before it (a reminder commits its 'sending' state there); returning False stops the send."""

    data_started = False
    before_data = None

    def data(self, msg):
        if self.before_data is not None:
            try:
                go_on = self.before_data()
            except Exception as exc:
                raise _HookFailed() from exc
            if not go_on:
                raise LostClaim()
        self.data_started = True
        return super().data(msg)


class _SMTP(_DataTracking, smtplib.SMTP):
    pass


class _SMTP_SSL(_DataTracking, smtplib.SMTP_SSL):  # noqa: N801 - mirrors smtplib's name
    pass


@dataclass
class Outcome:
    """What became of one message: sent | outbox | temporary (4xx, or no answer) | failed (5xx) | unknown (the
    connection went during DATA: the server may have it) | lost (``before_data`` said no; nothing was offered)."""

    status: str
    code: int = 250
    error: str = ""


_STALE = ("SMTPServerDisconnected", "ConnectionResetError", "BrokenPipeError")


class Connection:
    """An SMTP connection kept open for several messages (a worker's batch), or the outbox when there is no
    SMTP_URL. Any trouble closes it; the next message opens a new one."""

    def __init__(self, smtp_url: str):
        self.smtp_url = smtp_url
        self._conn: smtplib.SMTP | None = None
        self._used = False  # a message went through it: the server may since have closed it for idling

    def send(self, email: EmailMessage, before_data: Callable[[], bool] | None = None) -> tuple[Outcome, bool]:
        """(outcome, whether DATA was reached). ``before_data`` runs just before DATA, or at once for the outbox."""
        if not self.smtp_url:
            if before_data is not None and not before_data():
                return Outcome("lost"), False
            return Outcome("outbox"), True
        kept = self._conn is not None and self._used
        outcome, started = self._send(email, before_data)
        if kept and not started and outcome.error.startswith(_STALE):
            outcome, started = self._send(email, before_data)  # the kept connection had gone stale: once anew
        return outcome, started

    def _send(self, email: EmailMessage, before_data) -> tuple[Outcome, bool]:
        conn = self._conn
        try:
            if conn is None:
                conn = self._conn = _smtp_connection(self.smtp_url)
            conn.before_data, conn.data_started = before_data, False
            conn.send_message(email)
        except LostClaim:
            self.close()
            return Outcome("lost"), False
        except _HookFailed as failed:
            self.close()
            raise failed.__cause__ from None
        except Exception as exc:  # noqa: BLE001 - every outcome must be recorded, or the row stays 'sending'
            started = getattr(conn, "data_started", False)
            self.close()
            return _classify(exc, started), started
        self._used = True
        return Outcome("sent"), True

    def close(self) -> None:
        if self._conn is not None:
            _quit(self._conn)
        self._conn, self._used = None, False

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _smtp_connection(smtp_url: str) -> smtplib.SMTP:
    url = urlsplit(smtp_url)
    timeout = 30
    if url.scheme == "smtps":
        context = ssl.create_default_context()
        conn: smtplib.SMTP = _SMTP_SSL(url.hostname, url.port or 465, timeout=timeout, context=context)
    elif url.scheme in ("smtp", "smtp+starttls"):
        conn = _SMTP(url.hostname, url.port or 25, timeout=timeout)
        try:
            if url.scheme == "smtp+starttls":
                conn.starttls(context=ssl.create_default_context())
        except BaseException:
            conn.close()
            raise
    else:
        raise ValueError(f"SMTP_URL scheme must be smtp, smtp+starttls or smtps, not {url.scheme}")
    if url.username:
        try:
            conn.login(unquote(url.username), unquote(url.password or ""))
        except BaseException:
            conn.close()
            raise
    return conn


def _quit(conn: smtplib.SMTP) -> None:
    """QUIT after the fact: the outcome of the message is known by now, so nothing QUIT does may change it."""
    try:
        conn.quit()
    except (OSError, smtplib.SMTPException):
        pass
    finally:
        conn.close()


def as_email(message: MailMessage, attachments: list | None = None) -> EmailMessage:
    """The message as it goes over SMTP. ``attachments`` (InvoiceDocuments) default to the message's own; a
    message not stored yet (a reminder's, stored only just before DATA) passes them."""
    email = EmailMessage()
    email["From"] = message.from_address
    email["To"] = message.to_address
    email["Subject"] = message.subject
    # A reminder's Message-ID comes from the reminder: should it ever reach a server twice, it is one message.
    email["Message-ID"] = message.message_id or make_msgid(idstring=f"duly-{message.id}", domain="duly.invalid")
    email.set_content(message.body_text)
    if message.body_html:
        email.add_alternative(message.body_html, subtype="html")
        if message.inline_qr:
            # The picture beside the HTML it belongs in (multipart/related), named as the HTML's cid: says.
            email.get_body(("html",)).add_related(png(message.inline_qr), "image", "png", cid=f"<{CONTENT_ID}>")
    for document in _attachments(message) if attachments is None else attachments:
        maintype, _, subtype = document.content_type.partition("/")
        email.add_attachment(
            document.content, maintype=maintype, subtype=subtype or "octet-stream", filename=document.filename
        )
    return email


def _attachments(message: MailMessage) -> list:
    if not message.attachment_ids:
        return []

    session = object_session(message)
    return list(session.scalars(select(InvoiceDocument).where(InvoiceDocument.id.in_(message.attachment_ids))))


def deliver(session: Session, message_id: int, smtp_url: str, now: datetime | None = None) -> str:
    """Send one queued message at most once; safe to call again for the same id. Returns the new status."""
    now = now or utcnow()
    message = _claim(session, message_id, now)
    if message is None:
        current = session.get(MailMessage, message_id)
        return current.status if current else "missing"
    return transmit(session, message, smtp_url, now)


def transmit(
    session: Session, message: MailMessage, smtp_url: str, now: datetime, connection: Connection | None = None
) -> str:
    """Hand a message in status 'sending' (committed) to SMTP, or keep it in the outbox; record and commit the
    outcome."""
    email = as_email(message)
    # End the transaction that loading the message began before talking to a server that may take seconds: on
    # SQLite every transaction holds the write lock, and everywhere it would hold a connection.
    session.commit()
    if connection is None:
        with Connection(smtp_url) as own:
            outcome, _ = own.send(email)
    else:
        outcome, _ = connection.send(email)
    record_outcome(message, outcome, now)
    session.commit()
    return message.status


def record_outcome(message: MailMessage, outcome: Outcome, now: datetime) -> None:
    """The message's new state: sent or kept in the outbox, retried after a temporary refusal (with back-off),
    failed, or unknown (never resent by itself)."""
    if outcome.status in ("sent", "outbox"):
        message.status, message.sent_at = outcome.status, now
        if message.sensitive and outcome.status == "sent":
            message.body_text = message.body_html = REDACTED
    elif outcome.status == "unknown":
        message.status = "unknown"
        message.last_error = outcome.error[:500]
    else:
        _failed_attempt(message, now, outcome.code, outcome.error)


def _reply_text(error: bytes | str) -> str:
    return error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)


def _classify(exc: Exception, data_started: bool) -> Outcome:
    """Before DATA the server has not been offered the message: temporary trouble is retried, a refusal is final.
    During DATA a clear SMTP reply decides; anything else (a lost connection, a timeout) may have delivered it."""
    if data_started:
        if isinstance(exc, smtplib.SMTPResponseException):
            return _refusal(exc.smtp_code, _reply_text(exc.smtp_error))
        return Outcome("unknown", 0, f"connection lost during DATA, not resent: {type(exc).__name__}: {exc}")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        replies = list(exc.recipients.values())
        error = "; ".join(f"{addr}: {code} {_reply_text(text)}" for addr, (code, text) in exc.recipients.items())
        temporary = bool(replies) and all(400 <= code < 500 for code, _ in replies)  # e.g. greylisting
        return _refusal(450 if temporary else 550, error)
    if isinstance(exc, smtplib.SMTPResponseException):  # sender refused, HELO/connect/auth refused
        return _refusal(exc.smtp_code, _reply_text(exc.smtp_error))
    if isinstance(exc, smtplib.SMTPNotSupportedError):  # e.g. a non-ASCII address and no SMTPUTF8
        return _refusal(554, str(exc))
    if not isinstance(exc, OSError | smtplib.SMTPException):
        log.warning("unexpected error before DATA", exc_info=exc)
    return _refusal(421, f"{type(exc).__name__}: {exc}")


def _refusal(code: int, error: str) -> Outcome:
    return Outcome("temporary" if 400 <= code < 500 else "failed", code, error)


def backoff(attempts: int) -> timedelta:
    """How long a temporary refusal waits before try ``attempts + 1``: 30 s, doubling."""
    return timedelta(seconds=30 * 2 ** (attempts - 1))


def _failed_attempt(message: MailMessage, now: datetime, code: int, error: str) -> None:
    """A temporary (4xx) refusal waits with exponential back-off; a permanent one, or the last try, fails."""
    message.last_error = f"{code} {error}"[:500]
    if 400 <= code < 500 and message.attempts < MAX_ATTEMPTS:
        message.status = "queued"
        message.next_attempt_at = now + backoff(message.attempts)
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
