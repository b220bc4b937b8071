"""Making self-service links: a random token in the mail, its SHA-256 in the database.

Every message gets a link of its own ("message"); the supplier can hand one out ("manual": a new one replaces the
previous manual one) or mail one ("mailed"), and a debtor whose link has expired can ask for one by mail. The
token is only ever in what carries it: the URL is returned to the caller and never stored or recorded.
"""

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import func, select, union, update
from sqlalchemy.orm import Session

from portal.debtors.models import Contact, Debtor
from portal.errors import DomainError
from portal.events import EventKind, record
from portal.links.models import AccessLink
from portal.locales import in_debtor_language
from portal.mail.models import MailMessage
from portal.mail.senders import sender
from portal.mail.service import check_header_safe, queue_mail
from portal.organisations.models import Organisation

LINK_LIFETIME = timedelta(days=60)  # the default of Organisation.link_lifetime_days


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_link(
    organisation_id: int,
    debtor_id: int,
    base_url: str,
    now: datetime,
    reminder_id: int | None = None,
    lifetime: timedelta = LINK_LIFETIME,
) -> tuple[str, AccessLink]:
    """A new link for the debtor (192 random bits): the URL, which is nowhere else but in what carries it, and the
    row to store with the hash (the caller adds it when what carries the link is committed)."""
    token = secrets.token_urlsafe(24)
    link = AccessLink(
        organisation_id=organisation_id,
        debtor_id=debtor_id,
        reminder_id=reminder_id,
        token_hash=hash_token(token),
        expires_at=now + lifetime,
    )
    return f"{base_url}/s/{token}", link


# A self-service link in a mail's body: ``/s/`` and its token (``/s/paid`` and the other pages have short names).
LINK_TOKEN = re.compile(r"(/s/)[A-Za-z0-9_-]{16,}")


def hide_tokens(body: str, placeholder: str) -> str:
    """``body`` with every self-service link's token replaced by ``placeholder`` (the ``/s/`` before it kept)."""
    return LINK_TOKEN.sub(lambda match: match.group(1) + placeholder, body or "")


def find_link(session: Session, token: str, now: datetime) -> AccessLink | None:
    """The link a token opens: known, not revoked, not expired. Anything else is None, whichever it was."""
    if not token or len(token) > 100:
        return None
    link = session.scalar(select(AccessLink).where(AccessLink.token_hash == hash_token(token)))
    return link if link is not None and usable(link, now) else None


def usable(link: AccessLink, now: datetime) -> bool:
    return link.revoked_at is None and link.expires_at > now


# One address may be several debtors' (one per supplier, or a bookkeeper's for many clients): a bound on the mails
# one request sends, so that it cannot turn into a mail bomb.
MAX_FRESH_LINKS = 10


class LinkError(DomainError):
    """A link cannot be made or mailed: the message says why, fit for the supplier."""


def link_lifetime(organisation: Organisation) -> timedelta:
    return timedelta(days=organisation.link_lifetime_days)


def _debtor(session: Session, organisation_id: int, debtor_id: int) -> tuple[Organisation, Debtor]:
    debtor = session.get(Debtor, debtor_id)
    if debtor is None or debtor.organisation_id != organisation_id:
        raise LinkError("no such debtor")
    return session.get(Organisation, organisation_id), debtor


def working_links(session: Session, organisation_id: int, debtor_id: int, now: datetime) -> dict[str, int]:
    """How many of the debtor's links still open the page, by kind."""
    rows = session.execute(
        select(AccessLink.kind, func.count())
        .where(
            AccessLink.organisation_id == organisation_id,
            AccessLink.debtor_id == debtor_id,
            AccessLink.revoked_at.is_(None),
            AccessLink.expires_at > now,
        )
        .group_by(AccessLink.kind)
    )
    return dict(rows.all())


def _revoke(session: Session, organisation_id: int, debtor_id: int, now: datetime, kind: str | None = None) -> int:
    stmt = update(AccessLink).where(
        AccessLink.organisation_id == organisation_id,
        AccessLink.debtor_id == debtor_id,
        AccessLink.revoked_at.is_(None),
        AccessLink.expires_at > now,
    )
    if kind is not None:
        stmt = stmt.where(AccessLink.kind == kind)
    # "fetch": links already loaded in this session (a visit's) see the revocation too.
    return session.execute(stmt.values(revoked_at=now).execution_options(synchronize_session="fetch")).rowcount


def revoke_links(
    session: Session, organisation_id: int, debtor_id: int, now: datetime, actor_user_id: int | None = None
) -> int:
    """Every working link of the debtor stops working now, those in sent messages too. Returns how many."""
    _debtor(session, organisation_id, debtor_id)
    count = _revoke(session, organisation_id, debtor_id, now)
    record(
        session,
        organisation_id,
        EventKind.SELFSERVICE_LINKS_REVOKED,
        debtor_id=debtor_id,
        actor_user_id=actor_user_id,
        count=count,
    )
    return count


def manual_link(
    session: Session,
    organisation_id: int,
    debtor_id: int,
    base_url: str,
    now: datetime,
    actor_user_id: int | None = None,
    source: str = "cockpit",
) -> str:
    """A link for the supplier to pass on by hand. It replaces the previous manual one (which may have been
    passed to the wrong person); links in sent messages stay valid. Returns the URL: show it, never keep it."""
    organisation, debtor = _debtor(session, organisation_id, debtor_id)
    replaced = _revoke(session, organisation_id, debtor_id, now, kind="manual")
    url, link = new_link(organisation_id, debtor_id, base_url, now, lifetime=link_lifetime(organisation))
    link.kind = "manual"
    session.add(link)
    session.flush()
    record(
        session,
        organisation_id,
        EventKind.SELFSERVICE_LINK_MADE,
        debtor_id=debtor_id,
        actor_user_id=actor_user_id,
        link_id=link.id,
        expires_on=link.expires_at.astimezone(organisation.tz).date().isoformat(),
        replaced=replaced,
        source=source,
    )
    return url


def mail_link(
    session: Session,
    organisation_id: int,
    debtor_id: int,
    base_url: str,
    mail_from: str,
    now: datetime,
    *,
    to: str | None = None,
    requested: bool = False,
    actor_user_id: int | None = None,
) -> MailMessage:
    """Mail the debtor a new link ("mailed"), in its language and from the organisation's sender: to ``to``, an
    address of the debtor's, else to where reminders go. The mail goes through the outbox, after the commit."""
    organisation, debtor = _debtor(session, organisation_id, debtor_id)
    address = (to or debtor.dunning_email).strip()
    if not address:
        raise LinkError("the debtor has no email address")
    try:
        check_header_safe(address)
    except ValueError as exc:
        raise LinkError(str(exc)) from None
    url, link = new_link(organisation_id, debtor_id, base_url, now, lifetime=link_lifetime(organisation))
    link.kind = "mailed"
    session.add(link)
    session.flush()
    with in_debtor_language(debtor.language):
        message = queue_mail(
            session,
            to=address,
            template="selfservice_link",
            context={
                "organisation": organisation,
                "debtor": debtor,
                "link": url,
                "expires_on": link.expires_at.astimezone(organisation.tz).date(),
                "requested": requested,
            },
            from_address=sender(organisation, mail_from),
            organisation_id=organisation_id,
            sensitive=True,  # blanked once an SMTP server has it: the token is in the body
        )
    record(
        session,
        organisation_id,
        EventKind.SELFSERVICE_LINK_MAILED,
        debtor_id=debtor_id,
        actor_user_id=actor_user_id,
        link_id=link.id,
        to=address,
        requested=requested,
    )
    return message


def debtors_with_address(session: Session, email: str) -> list[Debtor]:
    """The debtors, of any organisation, whose own address or invoice or dunning contact's address this is."""
    address = email.strip().lower()
    if not address or "@" not in address or len(address) > 254:
        return []
    ids = union(
        select(Debtor.id).where(func.lower(Debtor.email) == address),
        select(Contact.debtor_id).where(Contact.role.in_(("invoice", "dunning")), func.lower(Contact.email) == address),
    ).subquery()
    return list(
        session.scalars(
            select(Debtor).where(Debtor.id.in_(select(ids.c[0]))).order_by(Debtor.id).limit(MAX_FRESH_LINKS)
        )
    )


def mail_fresh_link(session: Session, email: str, base_url: str, mail_from: str, now: datetime) -> int:
    """A debtor asked for a new link on the expired-link page: mail each debtor this address belongs to a link
    of its own, to this address. Nothing tells the asker whether any did; returns how many (for the logs)."""
    address = email.strip().lower()
    sent = 0
    for debtor in debtors_with_address(session, address):
        try:
            mail_link(session, debtor.organisation_id, debtor.id, base_url, mail_from, now, to=address, requested=True)
        except LinkError:
            continue
        sent += 1
    return sent
