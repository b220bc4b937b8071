"""An organisation's own statutory interest rate tables, copied from the published seeds when first edited."""

from datetime import date

from sqlalchemy import Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db

# nl_commercial: art. 6:119a BW; nl_consumer: art. 6:119 BW; ecb_reference: the ECB rate the EU profile adds 8 to.
RATE_TABLES = ("nl_commercial", "nl_consumer", "ecb_reference")


class LawRate(db.Model):
    """A rate in force from ``effective_on`` until the next row's date, in hundredths of a percent (1015 = 10.15%):
    integers, because SQLite has no decimal type."""

    __tablename__ = "law_rates"
    __table_args__ = (UniqueConstraint("organisation_id", "rate_table", "effective_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    rate_table: Mapped[str] = mapped_column(String(16))
    effective_on: Mapped[date] = mapped_column(Date())
    basis_points: Mapped[int] = mapped_column()
