"""The tenant (a supplier organisation), its users and their one-time tokens."""

import hashlib
import hmac
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from flask import current_app
from flask_login import UserMixin
from sqlalchemy import ForeignKey, String, UniqueConstraint, false, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.crypto import EncryptedText
from portal.extensions import db
from portal.types import Money, UTCDateTime, utcnow, vocabulary


class Role(StrEnum):
    """What a user may do, in order: an owner can do what a controller can, a controller what a viewer can."""

    OWNER = "owner"
    CONTROLLER = "controller"
    VIEWER = "viewer"


ROLES = tuple(Role)
LAW_PROFILES = ("nl", "eu", "none")
COSTS_BASES = ("auto", "together", "per_invoice")
REFERENCE_SCHEMES = ("rf", "nl")
# Mollie method ids (docs.mollie.com/reference/payment-methods) a supplier can offer on the self-service page.
MOLLIE_METHODS = ("ideal", "creditcard", "applepay", "paypal", "bancontact", "klarna", "banktransfer", "belfius", "kbc")
DEFAULT_MOLLIE_METHODS = "ideal,creditcard,applepay,paypal,bancontact"
METHOD_NAMES = {
    "ideal": "iDEAL",
    "creditcard": "Card",
    "applepay": "Apple Pay",
    "paypal": "PayPal",
    "bancontact": "Bancontact",
    "klarna": "Klarna",
    "banktransfer": "Bank transfer (through Mollie)",
    "belfius": "Belfius",
    "kbc": "KBC/CBC",
}


class Organisation(db.Model):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Amsterdam")
    locale: Mapped[str] = mapped_column(String(10), default="nl")
    home_currency: Mapped[str] = mapped_column(String(3), default="EUR")
    sender_name: Mapped[str] = mapped_column(String(200), default="")
    sender_email: Mapped[str] = mapped_column(String(254), default="")
    iban: Mapped[str] = mapped_column(String(34), default="")
    bic: Mapped[str] = mapped_column(String(11), default="")
    # How payment references are generated for new invoices: ISO 11649 "rf" or the Dutch betalingskenmerk "nl".
    reference_scheme: Mapped[str] = mapped_column(String(2), default="rf")
    brand_colour: Mapped[str] = mapped_column(String(7), default="#1e6b52")
    mollie_api_key: Mapped[str | None] = mapped_column(EncryptedText(), default=None)
    # Scenario choice from payment behaviour (portal.reminders.behaviour): days late weighted by recency, the
    # thresholds between friendly, standard and strict, and the margin a debtor must pass them by to move.
    behaviour_half_life_days: Mapped[int] = mapped_column(default=180, server_default="180")
    behaviour_min_paid: Mapped[int] = mapped_column(default=3, server_default="3")
    behaviour_friendly_max_days: Mapped[int] = mapped_column(default=3, server_default="3")
    behaviour_strict_min_days: Mapped[int] = mapped_column(default=20, server_default="20")
    behaviour_margin_days: Mapped[int] = mapped_column(default=3, server_default="3")
    # Reminder planning: local hours a reminder may go out from (and no longer after), weekdays only unless told,
    # no public holidays of holiday_country, at least min_gap_days between two contacts with the same debtor.
    send_hour: Mapped[int] = mapped_column(default=9, server_default="9")
    send_until_hour: Mapped[int] = mapped_column(default=17, server_default="17")
    business_days_only: Mapped[bool] = mapped_column(default=True, server_default=true())
    holiday_country: Mapped[str] = mapped_column(String(2), default="NL", server_default="NL")
    min_gap_days: Mapped[int] = mapped_column(default=7, server_default="7")
    # Duly mails new invoices itself (with their stored PDF) as the first step.
    deliver_invoices: Mapped[bool] = mapped_column(default=False, server_default=false())
    # How long the self-service link in a message keeps working.
    link_lifetime_days: Mapped[int] = mapped_column(default=60, server_default="60")
    # Self-service: the Mollie methods offered (comma-separated Mollie method ids), how far ahead a debtor may
    # promise to pay, the grace after a promised date before reminders resume, and how long "I have already paid"
    # pauses reminders while the supplier checks.
    mollie_methods: Mapped[str] = mapped_column(
        String(200), default=DEFAULT_MOLLIE_METHODS, server_default=DEFAULT_MOLLIE_METHODS
    )
    promise_max_days: Mapped[int] = mapped_column(default=30, server_default="30")
    promise_grace_days: Mapped[int] = mapped_column(default=3, server_default="3")
    paid_claim_hold_days: Mapped[int] = mapped_column(default=7, server_default="7")
    # Payment arrangements (installment plans). Debtors on these scenarios (keys) may propose one on their page;
    # every plan keeps within the limits (count, smallest installment, total, days to the last installment); a
    # proposal within the automatic limits is approved at once, others wait for the supplier. An installment
    # still open arrangement_grace_days after its due date breaks the plan.
    arrangement_scenarios: Mapped[str] = mapped_column(
        String(100), default="friendly,standard", server_default="friendly,standard"
    )
    arrangement_max_installments: Mapped[int] = mapped_column(default=12, server_default="12")
    # (Money's stored form differs by database, so the migration gives these their server defaults.)
    arrangement_min_installment: Mapped[Decimal] = mapped_column(Money(), default=Decimal("25.00"))
    arrangement_max_total: Mapped[Decimal] = mapped_column(Money(), default=Decimal("10000.00"))
    arrangement_max_days: Mapped[int] = mapped_column(default=365, server_default="365")
    arrangement_auto_installments: Mapped[int] = mapped_column(default=6, server_default="6")
    arrangement_auto_total: Mapped[Decimal] = mapped_column(Money(), default=Decimal("2500.00"))
    arrangement_auto_days: Mapped[int] = mapped_column(default=180, server_default="180")
    arrangement_grace_days: Mapped[int] = mapped_column(default=7, server_default="7")
    # Late-payment law (portal.law): the legal profile for business and for consumer debtors (nl, eu or none);
    # whether VAT is added to collection costs (only where the organisation cannot reclaim it) and at what rate;
    # whether costs are reckoned over the invoices claimed together in one letter or per invoice (auto: together
    # under the Dutch WIK, per invoice for the EU's EUR 40); the days until a message counts as received (mail:
    # calendar days; letter: business days), from which a consumer's 14 days run; and whether payments go to costs,
    # then interest, then principal (art. 6:44 BW).
    law_business: Mapped[str] = mapped_column(String(4), default="none", server_default="none")
    law_consumer: Mapped[str] = mapped_column(String(4), default="none", server_default="none")
    costs_add_vat: Mapped[bool] = mapped_column(default=False, server_default=false())
    costs_vat_rate: Mapped[int] = mapped_column(default=21, server_default="21")
    costs_basis: Mapped[str] = mapped_column(String(12), default="auto", server_default="auto")
    receipt_days_email: Mapped[int] = mapped_column(default=1, server_default="1")
    receipt_days_letter: Mapped[int] = mapped_column(default=2, server_default="2")
    legal_order: Mapped[bool] = mapped_column(default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    users: Mapped[list["User"]] = relationship(back_populates="organisation")

    @property
    def offered_methods(self) -> list[str]:
        return [m for m in self.mollie_methods.split(",") if m in MOLLIE_METHODS]

    def law_profile(self, debtor_kind: str) -> str:
        """The legal profile (nl, eu, none) that applies to a debtor of this kind."""
        return self.law_consumer if debtor_kind == "consumer" else self.law_business

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def today(self) -> date:
        """The organisation's local date: the one meaning of "today" in Duly."""
        return utcnow().astimezone(self.tz).date()


class TokenPurpose(StrEnum):
    """What an emailed token is for."""

    RESET = "reset"
    INVITE = "invite"


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    # Stored lower-cased; one login per address across Duly keeps sign-in a single form.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    role: Mapped[Role] = mapped_column(vocabulary(Role, 20, "role"), default=Role.VIEWER)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    organisation: Mapped[Organisation] = relationship(back_populates="users")

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active and self.password_hash is not None

    def get_id(self) -> str:
        """What a session remembers of its user: the id and a stamp of the password (Flask-Login's "alternative
        token"). A new password changes the stamp, so a reset ends every other session of the account, a stolen
        one included; the session that set it signs in again."""
        return f"{self.id}:{self.session_stamp()}"

    def session_stamp(self) -> str:
        # Keyed with the app's secret: the cookie, which anyone holding it can read, tells nothing of the hash.
        key = current_app.config["SECRET_KEY"].encode()
        return hmac.new(key, (self.password_hash or "").encode(), hashlib.sha256).hexdigest()[:20]

    def can(self, role: str) -> bool:
        """Roles are ordered: an owner can do what a controller can, a controller what a viewer can."""
        return ROLES.index(self.role) <= ROLES.index(role)


class AuthToken(db.Model):
    """A password-reset or invitation token; only its SHA-256 is stored, it expires and works once."""

    __tablename__ = "auth_tokens"
    __table_args__ = (UniqueConstraint("token_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[TokenPurpose] = mapped_column(vocabulary(TokenPurpose, 20, "purpose"))
    token_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User] = relationship()


class UserSession(db.Model):
    """A signed-in browser: the session cookie carries a random token, of which only the SHA-256 is stored. Signing
    out deletes the row, a new password deletes them all: a copied cookie stops working with them, where Flask's
    signed cookie alone would work until it expires."""

    __tablename__ = "user_sessions"
    __table_args__ = (UniqueConstraint("token_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
