"""The organisation's calendar of sending days: its timezone, send window, weekends and public holidays.

Reminders, installment notices and deliveries go out on a sending day, from the organisation's send hour; "today"
is the organisation's local date (``Organisation.today``).
"""

from datetime import UTC, date, datetime, time, timedelta

import holidays

from portal.organisations.models import Organisation
from portal.types import utcnow


def window_opens(organisation: Organisation, day: date) -> datetime:
    """The UTC instant the organisation's send window opens on ``day``. The zone's own rules decide it, so a DST
    change moves it by the hour it should."""
    return datetime.combine(day, time(organisation.send_hour), tzinfo=organisation.tz).astimezone(UTC)


def send_days(organisation: Organisation, first: date, last: date) -> list[tuple[date, date, datetime]]:
    """(day, the first day on or after it a reminder may go out, when that day's send window opens in UTC)."""
    country_holidays = (
        holidays.country_holidays(organisation.holiday_country, years=range(first.year, last.year + 2))
        if organisation.holiday_country
        else {}
    )

    def sendable(day: date) -> bool:
        return not (organisation.business_days_only and day.weekday() >= 5) and day not in country_holidays

    rows = []
    next_sendable = last + timedelta(days=1)
    while not sendable(next_sendable):
        next_sendable += timedelta(days=1)
    day = last
    while day >= first:  # backwards, so that each day knows the next sendable one
        if sendable(day):
            next_sendable = day
        rows.append((day, next_sendable, window_opens(organisation, next_sendable)))
        day -= timedelta(days=1)
    rows.reverse()
    return rows


def first_day(organisation: Organisation, now: datetime | None = None) -> date:
    """The first day planning may put a reminder on: today, unless today's send window has closed."""
    local = (now or utcnow()).astimezone(organisation.tz)
    return local.date() if local.hour < organisation.send_until_hour else local.date() + timedelta(days=1)


def next_send_day(organisation: Organisation, now: datetime | None = None) -> date:
    """The first day a reminder planned now would go out: the first day planning may use, or the next one after
    it that is not a weekend day or public holiday."""
    first = first_day(organisation, now)
    [(_, sendable, _)] = send_days(organisation, first, first)
    return sendable
