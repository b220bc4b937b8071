"""Making self-service links: a random token in the mail, its SHA-256 in the database."""

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.selfservice.models import AccessLink

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


def find_link(session: Session, token: str, now: datetime) -> AccessLink | None:
    """The link a token opens: known, not revoked, not expired. Anything else is None, whichever it was."""
    if not token or len(token) > 100:
        return None
    link = session.scalar(select(AccessLink).where(AccessLink.token_hash == hash_token(token)))
    return link if link is not None and usable(link, now) else None


def usable(link: AccessLink, now: datetime) -> bool:
    return link.revoked_at is None and link.expires_at > now
