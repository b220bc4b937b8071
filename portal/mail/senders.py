"""Who a mail is from, and where a debtor's message to the supplier goes."""

from email.utils import formataddr, parseaddr

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.organisations.models import Organisation, User


def sender(organisation: Organisation, mail_from: str) -> str:
    """The organisation's name on Duly's sending address (SPF and DKIM are Duly's), unless it set its own."""
    name, address = parseaddr(mail_from)
    if organisation.sender_email:
        address = organisation.sender_email
    return formataddr((organisation.sender_name or organisation.name, address))


def supplier_address(session: Session, organisation: Organisation) -> str:
    """Where a debtor's message goes: the organisation's sender address, else its first owner."""
    if organisation.sender_email:
        return organisation.sender_email
    owner = session.scalar(
        select(User.email)
        .where(User.organisation_id == organisation.id, User.role == "owner", User.active.is_(True))
        .order_by(User.id)
    )
    return owner or ""
