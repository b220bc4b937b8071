"""The audit trail: one event for every state change, shown as the timeline."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from portal.extensions import db
from portal.types import UTCDateTime, utcnow, vocabulary


class EventKind(StrEnum):
    """Every kind of event Duly records, "area:object:verb". The timeline (templates/_macros/events.html) says each
    in words; a test holds the two together."""

    ARRANGEMENT_APPROVED = "arrangement:approved"
    ARRANGEMENT_BROKEN = "arrangement:broken"
    ARRANGEMENT_COMPLETED = "arrangement:completed"
    ARRANGEMENT_COUNTERED = "arrangement:countered"
    ARRANGEMENT_CREATED = "arrangement:created"
    ARRANGEMENT_INSTALLMENT_REMINDED = "arrangement:installment:reminded"
    ARRANGEMENT_OFFER_ACCEPTED = "arrangement:offer:accepted"
    ARRANGEMENT_OFFER_DECLINED = "arrangement:offer:declined"
    ARRANGEMENT_PROPOSED = "arrangement:proposed"
    ARRANGEMENT_REJECTED = "arrangement:rejected"
    BANK_STATEMENT_IMPORTED = "bank:statement:imported"
    BANK_TRANSACTION_DISMISSED = "bank:transaction:dismissed"
    CREDIT_NOTE_CREATED = "credit_note:created"
    DEBTOR_CHANGED = "debtor:changed"
    DEBTOR_COSTS_CLAIMED = "debtor:costs:claimed"
    DEBTOR_COSTS_WAIVED = "debtor:costs:waived"
    DEBTOR_CREATED = "debtor:created"
    DEBTOR_INTEREST_CLAIMED = "debtor:interest:claimed"
    DEBTOR_INTEREST_WAIVED = "debtor:interest:waived"
    DEBTOR_MESSAGE_SENT = "debtor:message:sent"
    DEBTOR_SCENARIO_CHANGED = "debtor:scenario:changed"
    DISPUTE_OPENED = "dispute:opened"
    DISPUTE_RESOLVED = "dispute:resolved"
    HOLD_LIFTED = "hold:lifted"
    HOLD_SET = "hold:set"
    INVOICE_CHANGED = "invoice:changed"
    INVOICE_COSTS_ANNOUNCED = "invoice:costs:announced"
    INVOICE_COSTS_CHARGED = "invoice:costs:charged"
    INVOICE_CREATED = "invoice:created"
    INVOICE_CREDIT_NOTE_ALLOCATED = "invoice:credit_note:allocated"
    INVOICE_DUE_DATE_STATUTORY = "invoice:due_date:statutory"
    INVOICE_INTEREST_STARTED = "invoice:interest:started"
    INVOICE_PAID_CLAIMED = "invoice:paid:claimed"
    INVOICE_PAYMENT_ALLOCATED = "invoice:payment:allocated"
    INVOICE_PAYMENT_REVERSED = "invoice:payment:reversed"
    INVOICE_TOTAL_CHANGED = "invoice:total:changed"
    LAW_RATE_ADDED = "law:rate:added"
    LAW_RATE_DELETED = "law:rate:deleted"
    ORGANISATION_CREATED = "organisation:created"
    ORGANISATION_SETTINGS_CHANGED = "organisation:settings:changed"
    PAYMENT_BANK_BOOKED = "payment:bank:booked"
    PAYMENT_DEMO_BOOKED = "payment:demo:booked"
    PAYMENT_MANUAL_BOOKED = "payment:manual:booked"
    PAYMENT_MOLLIE_BOOKED = "payment:mollie:booked"
    PAYMENT_MOLLIE_CANCELED = "payment:mollie:canceled"
    PAYMENT_MOLLIE_EXPIRED = "payment:mollie:expired"
    PAYMENT_MOLLIE_FAILED = "payment:mollie:failed"
    PAYMENT_MOLLIE_FLAGGED = "payment:mollie:flagged"
    PAYMENT_MOLLIE_STARTED = "payment:mollie:started"
    PAYMENT_REVERSED = "payment:reversed"
    PROMISE_BROKEN = "promise:broken"
    PROMISE_KEPT = "promise:kept"
    PROMISE_MADE = "promise:made"
    PROMISE_WITHDRAWN = "promise:withdrawn"
    REMINDER_BLOCKED = "reminder:blocked"
    REMINDER_DONE = "reminder:done"
    REMINDER_EDITED = "reminder:edited"
    REMINDER_FAILED = "reminder:failed"
    REMINDER_MERGED = "reminder:merged"
    REMINDER_MOVED = "reminder:moved"
    REMINDER_SEND_NOW = "reminder:send_now"
    REMINDER_SENT = "reminder:sent"
    REMINDER_SKIPPED = "reminder:skipped"
    REMINDER_TODO = "reminder:todo"
    REMINDER_UNBLOCKED = "reminder:unblocked"
    REMINDER_UNKNOWN = "reminder:unknown"
    SCENARIO_STEP_CHANGED = "scenario:step:changed"
    SELFSERVICE_LINK_MADE = "selfservice:link:made"
    SELFSERVICE_LINK_MAILED = "selfservice:link:mailed"
    SELFSERVICE_LINKS_REVOKED = "selfservice:links:revoked"
    USER_INVITED = "user:invited"
    USER_JOINED = "user:joined"
    USER_PASSWORD_RESET = "user:password:reset"  # noqa: S105 - an event kind, not a password
    USER_ROLE_CHANGED = "user:role:changed"

    @classmethod
    def of(cls, area: str) -> tuple["EventKind", ...]:
        """The kinds of one area ("arrangement", "promise", ...): a query's ``Event.kind.in_(...)``."""
        return tuple(kind for kind in cls if kind.startswith(f"{area}:"))

    @classmethod
    def bookings(cls) -> tuple["EventKind", ...]:
        """Money received, by method."""
        return tuple(kind for kind in cls if kind.startswith("payment:") and kind.endswith(":booked"))


class Event(db.Model):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_org_created", "organisation_id", "created_at"),
        Index("ix_events_debtor_created", "debtor_id", "created_at"),
        Index("ix_events_invoice", "invoice_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    # No CHECK constraint: the timeline's vocabulary grows with every feature, and a migration per new kind would buy
    # nothing that EventKind (refused before the insert) does not give already.
    kind: Mapped[EventKind] = mapped_column(vocabulary(EventKind, 60, "kind", check=False))
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
    kind: EventKind | str,
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
        kind=EventKind(kind),  # an unknown kind is a ValueError here, not a line the timeline cannot say
        debtor_id=debtor_id,
        invoice_id=invoice_id,
        payment_id=payment_id,
        actor_user_id=actor_user_id,
        data={k: str(v) if not isinstance(v, int | str | bool | None) else v for k, v in data.items()},
    )
    session.add(event)
    return event
