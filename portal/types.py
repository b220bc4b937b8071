"""Column types that behave the same on PostgreSQL and on SQLite, the embedded default."""

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import BigInteger, DateTime, Enum, Numeric, types


class Money(types.TypeDecorator):
    """Decimal amounts with two places: NUMERIC(14, 2) on PostgreSQL, integer cents on SQLite.

    SQLite has no decimal type and would round-trip through float; cents keep sums exact there.
    """

    impl = Numeric(14, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(14, 2, asdecimal=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("money must be Decimal, not float")
        value = Decimal(value)
        if value != value.quantize(Decimal("0.01")):
            raise ValueError(f"money has at most two decimals: {value}")
        if dialect.name == "sqlite":
            return int(value * 100)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if dialect.name == "sqlite":
            return (Decimal(int(value)) / 100).quantize(Decimal("0.01"))
        return Decimal(value).quantize(Decimal("0.01"))


class UTCDateTime(types.TypeDecorator):
    """Timezone-aware timestamps stored in UTC; SQLite hands back naive values, which are UTC by construction."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: Duly stores aware timestamps only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def vocabulary(enum: type[StrEnum], length: int, name: str, *, check: bool = True) -> Enum:
    """A column whose values are an enum's: VARCHAR(length) with a CHECK constraint ``ck_<table>_<name>`` listing
    the values, on PostgreSQL and SQLite alike, read back as the enum's members. Members are strings, so
    ``invoice.status == "open"`` holds; a value outside the enum is refused before it reaches the database."""
    return Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=check,
        length=length,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )
