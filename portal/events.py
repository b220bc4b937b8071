"""The audit trail: one event for every state change, shown as the timeline."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from portal.extensions import db
from portal.types import UTCDateTime, utcnow


class Event(db.Model):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_org_created", "organisation_id", "created_at"),
        Index("ix_events_debtor_created", "debtor_id", "created_at"),
        Index("ix_events_invoice", "invoice_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    # "area:object:verb", e.g. "invoice:created", "payment:manual:booked", "user:invited".
    kind: Mapped[str] = mapped_column(String(60))
    debtor_id: Mapped[int | None] = mapped_column(ForeignKey("debtors.id"), default=None)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), default=None)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), default=None)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    debtor = relationship("Debtor")


def record(
    session: Session,
    organisation_id: int,
    kind: str,
    *,
    debtor_id: int | None = None,
    invoice_id: int | None = None,
    payment_id: int | None = None,
    actor_user_id: int | None = None,
    **data: Any,
) -> Event:
    """Add an event to the caller's transaction, so that it is kept exactly when the change it describes is."""
    event = Event(
        organisation_id=organisation_id,
        kind=kind,
        debtor_id=debtor_id,
        invoice_id=invoice_id,
        payment_id=payment_id,
        actor_user_id=actor_user_id,
        data={k: str(v) if not isinstance(v, int | str | bool | None) else v for k, v in data.items()},
    )
    session.add(event)
    return event
