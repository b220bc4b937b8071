"""Who a mail is from."""

from email.utils import formataddr, parseaddr


def sender(organisation, mail_from: str) -> str:
    """The organisation's name on Duly's sending address (SPF and DKIM are Duly's), unless it set its own.
    ``organisation`` is an Organisation (or anything with its sender_name, name and sender_email): the mail
    package sits below the organisations that use it."""
    name, address = parseaddr(mail_from)
    if organisation.sender_email:
        address = organisation.sender_email
    return formataddr((organisation.sender_name or organisation.name, address))
