"""A planning round for one organisation: what both planning jobs (the clock's and the one rung after an action) do."""

from datetime import datetime

from sqlalchemy.orm import Session

from portal.arrangements import service as arrangements
from portal.organisations.calendar import first_day
from portal.organisations.models import Organisation
from portal.promises.service import check_promises
from portal.reminders.plan_apply import PlanResult
from portal.reminders.planning import plan
from portal.types import utcnow


def plan_organisation(
    session: Session, organisation_id: int, *, base_url: str, mail_from: str, now: datetime | None = None
) -> PlanResult | None:
    """Settle promises and payment plans as of the organisation's today, plan its reminders, then send the friendly
    reminders of installments that are due. Promises and plans come first: a broken one frees its invoices, which
    this same round then plans. Commits after planning (its lock is held until then) and at the end. None when the
    organisation is gone. Safe to run twice, and by two clocks at once."""
    organisation = session.get(Organisation, organisation_id)
    if organisation is None:
        return None
    now = now or utcnow()
    today = now.astimezone(organisation.tz).date()
    check_promises(session, organisation_id, today)
    arrangements.check(session, organisation_id, today, mail_from=mail_from)
    result = plan(session, organisation_id, first=first_day(organisation, now))
    session.commit()
    # A plan's installments have their own friendly reminders, each sent once.
    arrangements.remind(session, organisation_id, today, now, base_url=base_url, mail_from=mail_from)
    session.commit()
    return result
