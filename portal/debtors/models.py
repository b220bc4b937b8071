"""A debtor is a customer of the organisation, with its contacts."""

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, Index, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.types import UTCDateTime, utcnow, vocabulary


class DebtorKind(StrEnum):
    """A business or a consumer: the law treats them differently."""

    BUSINESS = "business"
    CONSUMER = "consumer"


class ContactRole(StrEnum):
    """What a contact of a debtor is for: invoices, reminders (dunning), or neither."""

    INVOICE = "invoice"
    DUNNING = "dunning"
    OTHER = "other"


DEBTOR_KINDS = tuple(DebtorKind)
CONTACT_ROLES = tuple(ContactRole)


class Debtor(db.Model):
    __tablename__ = "debtors"
    __table_args__ = (
        # The supplier's own customer number, unique within its organisation when given.
        UniqueConstraint("organisation_id", "number"),
        Index("ix_debtors_organisation_id_name", "organisation_id", "name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    number: Mapped[str | None] = mapped_column(String(50), default=None)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[DebtorKind] = mapped_column(vocabulary(DebtorKind, 10, "kind"), default=DebtorKind.BUSINESS)
    language: Mapped[str] = mapped_column(String(5), default="nl")
    email: Mapped[str] = mapped_column(String(254), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    postcode: Mapped[str] = mapped_column(String(20), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    country: Mapped[str] = mapped_column(String(2), default="NL")
    vat_number: Mapped[str] = mapped_column(String(30), default="")
    company_number: Mapped[str] = mapped_column(String(30), default="")  # KvK in the Netherlands
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    # The scenario chosen from payment behaviour (portal.reminders.behaviour); None is the organisation's default.
    scenario_id: Mapped[int | None] = mapped_column(ForeignKey("scenarios.id", ondelete="SET NULL"), default=None)
    scenario_reason: Mapped[str] = mapped_column(String(300), default="", server_default="")
    # A scenario the profile points to but that has not held long enough to switch to (hysteresis).
    scenario_candidate_id: Mapped[int | None] = mapped_column(
        ForeignKey("scenarios.id", ondelete="SET NULL"), default=None
    )
    scenario_candidate_days: Mapped[int] = mapped_column(default=0, server_default="0")
    scenario_evaluated_on: Mapped[date | None] = mapped_column(Date(), default=None)
    # The supplier's choice wins over the computed one until override_until (no end date: for good).
    override_scenario_id: Mapped[int | None] = mapped_column(
        ForeignKey("scenarios.id", ondelete="SET NULL"), default=None
    )
    override_until: Mapped[date | None] = mapped_column(Date(), default=None)
    # No reminders to this debtor up to and including hold_until.
    hold_until: Mapped[date | None] = mapped_column(Date(), default=None)
    hold_reason: Mapped[str] = mapped_column(String(300), default="", server_default="")
    # The supplier gave up collection costs or statutory interest for this debtor (a reason is required): nothing
    # of it is claimed any more, and what was paid of it stays paid.
    waive_costs: Mapped[bool] = mapped_column(default=False, server_default=false())
    waive_costs_reason: Mapped[str] = mapped_column(String(300), default="", server_default="")
    waive_interest: Mapped[bool] = mapped_column(default=False, server_default=false())
    waive_interest_reason: Mapped[str] = mapped_column(String(300), default="", server_default="")

    contacts: Mapped[list["Contact"]] = relationship(
        back_populates="debtor", cascade="all, delete-orphan", order_by="Contact.id"
    )

    def contact_for(self, role: str) -> "Contact | None":
        return next((c for c in self.contacts if c.role == role), None)

    @property
    def dunning_email(self) -> str:
        """Reminders go to the dunning contact when there is one, else to the invoice contact or the debtor."""
        for role in ("dunning", "invoice"):
            contact = self.contact_for(role)
            if contact and contact.email:
                return contact.email
        return self.email


class Contact(db.Model):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtors.id", ondelete="CASCADE"), index=True)
    role: Mapped[ContactRole] = mapped_column(vocabulary(ContactRole, 10, "role"), default=ContactRole.INVOICE)
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")

    debtor: Mapped[Debtor] = relationship(back_populates="contacts")
