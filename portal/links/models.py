"""The links that open a debtor's self-service page: a random token in what carries it, its hash here."""

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.types import UTCDateTime, utcnow

# message: carried by a reminder or a delivery; manual: made in the cockpit or by `flask debtors link` to pass on
# by hand (a new one revokes the previous manual one); mailed: sent on request from the expired-link page or the
# cockpit.
LINK_KINDS = ("message", "manual", "mailed")


class AccessLink(db.Model):
    __tablename__ = "access_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtors.id"), index=True)
    # The reminder whose mail carried it, when one did.
    reminder_id: Mapped[int | None] = mapped_column(ForeignKey("reminders.id", ondelete="SET NULL"), default=None)
    kind: Mapped[str] = mapped_column(String(10), default="message", server_default="message")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
