"""What a debtor writes to the supplier from the self-service page."""

from flask import current_app
from sqlalchemy.orm import Session

from portal import events
from portal.debtors.models import Debtor
from portal.errors import DomainError
from portal.events import EventKind
from portal.locales import lazy as _l
from portal.mail.models import MailMessage
from portal.mail.service import queue_mail
from portal.organisations.models import Organisation
from portal.organisations.service import supplier_address
from portal.text import clean


class MessageError(DomainError):
    """A message the debtor cannot send as written; ``field`` names the form field."""


def message_supplier(
    session: Session,
    organisation: Organisation,
    debtor: Debtor,
    message: str,
    reply_to: str = "",
    *,
    mail_from: str | None = None,
) -> MailMessage | None:
    """A message from the debtor to the supplier: on the timeline and in the cockpit, and mailed to the supplier."""
    message = clean(message)
    if not message:
        raise MessageError(_l("Write your message."), "message")
    reply_to = " ".join((reply_to or "").split())[:200]
    to = supplier_address(session, organisation)
    mail = None
    if to:
        mail = queue_mail(
            session,
            to=to,
            template="debtor_message",
            context={"organisation": organisation, "debtor": debtor, "message": message, "reply_to": reply_to},
            from_address=mail_from or current_app.config["MAIL_FROM"],
            organisation_id=organisation.id,
        )
    events.record(
        session,
        organisation.id,
        EventKind.DEBTOR_MESSAGE_SENT,
        debtor_id=debtor.id,
        message=message,
        reply_to=reply_to,
        mailed_to=to,
    )
    return mail
