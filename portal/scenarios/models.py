"""Communication scenarios: a ladder of steps relative to an invoice's issue or due date."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.types import UTCDateTime, utcnow, vocabulary


class Anchor(StrEnum):
    """The date a step's days count from."""

    ISSUE_DATE = "issue_date"
    DUE_DATE = "due_date"


class Channel(StrEnum):
    """How a step reaches the debtor."""

    EMAIL = "email"
    PHONE = "phone"
    LETTER = "letter"


class Tone(StrEnum):
    """How a step sounds."""

    COURTESY = "courtesy"
    FRIENDLY = "friendly"
    NEUTRAL = "neutral"
    FIRM = "firm"
    FINAL = "final"


ANCHORS = tuple(Anchor)
CHANNELS = tuple(Channel)
TONES = tuple(Tone)
LANGUAGES = ("nl", "en")


class Scenario(db.Model):
    __tablename__ = "scenarios"
    __table_args__ = (UniqueConstraint("organisation_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    # friendly | standard | strict for the three every organisation starts with; anything for its own.
    key: Mapped[str] = mapped_column(String(30))
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(500), default="")
    is_default: Mapped[bool] = mapped_column(default=False)  # what a new debtor gets
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    steps: Mapped[list["Step"]] = relationship(
        back_populates="scenario", cascade="all, delete-orphan", order_by="Step.position"
    )


class Step(db.Model):
    """One contact of a scenario. Texts use placeholders from portal.reminders.texts only, never Jinja."""

    __tablename__ = "scenario_steps"
    __table_args__ = (UniqueConstraint("scenario_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scenario_id: Mapped[int] = mapped_column(ForeignKey("scenarios.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column()
    anchor: Mapped[Anchor] = mapped_column(vocabulary(Anchor, 10, "anchor"), default=Anchor.DUE_DATE)
    # Days after the anchor; negative before a due date is a courtesy reminder.
    offset_days: Mapped[int] = mapped_column(default=0)
    channel: Mapped[Channel] = mapped_column(vocabulary(Channel, 10, "channel"), default=Channel.EMAIL)
    tone: Mapped[Tone] = mapped_column(vocabulary(Tone, 10, "tone"), default=Tone.NEUTRAL)
    include_pay_link: Mapped[bool] = mapped_column(default=True)
    is_final_notice: Mapped[bool] = mapped_column(default=False)
    # Late-payment law: sending this step adds collection costs / starts statutory interest on its invoices, where
    # the organisation's legal profile allows (for a consumer under Dutch law, costs only after the 14-day letter).
    adds_costs: Mapped[bool] = mapped_column(default=False, server_default=false())
    adds_interest: Mapped[bool] = mapped_column(default=False, server_default=false())
    subject_nl: Mapped[str] = mapped_column(String(200), default="")
    body_nl: Mapped[str] = mapped_column(Text(), default="")
    subject_en: Mapped[str] = mapped_column(String(200), default="")
    body_en: Mapped[str] = mapped_column(Text(), default="")

    scenario: Mapped[Scenario] = relationship(back_populates="steps")

    def text(self, language: str) -> tuple[str, str]:
        """(subject, body) in the debtor's language, falling back to the other one when empty."""
        for lang in (language, *(lang for lang in LANGUAGES if lang != language)):
            subject, body = getattr(self, f"subject_{lang}"), getattr(self, f"body_{lang}")
            if subject and body:
                return subject, body
        return "", ""
