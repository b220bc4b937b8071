"""The links that open a debtor's self-service page: a random token in what carries it, its hash here."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.types import UTCDateTime, utcnow, vocabulary


class LinkKind(StrEnum):
    """How a link reached the debtor."""

    MESSAGE = "message"
    MANUAL = "manual"
    MAILED = "mailed"


# message: carried by a reminder or a delivery; manual: made in the cockpit or by `flask debtors link` to pass on
# by hand (a new one revokes the previous manual one); mailed: sent on request from the expired-link page or the
# cockpit.
LINK_KINDS = tuple(LinkKind)


class AccessLink(db.Model):
    __tablename__ = "access_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtors.id"), index=True)
    # The reminder whose mail carried it, when one did.
    reminder_id: Mapped[int | None] = mapped_column(ForeignKey("reminders.id", ondelete="SET NULL"), default=None)
    kind: Mapped[LinkKind] = mapped_column(
        vocabulary(LinkKind, 10, "kind"), default=LinkKind.MESSAGE, server_default=LinkKind.MESSAGE
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
