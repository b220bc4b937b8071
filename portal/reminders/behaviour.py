"""Scenario choice from payment behaviour: a profile per debtor, a choice explained in words, a daily evaluation.

A debtor's profile comes from its paid invoices, recent ones counting most (a half-life). The evaluation runs once per
organisation-local day and moves a debtor to another scenario only after two consecutive evaluations past a threshold
by its margin, so that a debtor hovering around a threshold does not flip between tones. A supplier's override wins.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from portal.arrangements.models import Arrangement
from portal.debtors.models import Debtor
from portal.disputes.models import Dispute
from portal.events import EventKind, record
from portal.invoices.models import Invoice
from portal.ledger.models import DebtorBalance
from portal.organisations.models import Organisation
from portal.promises.models import Promise
from portal.scenarios.defaults import default_scenario_id, ensure_default_scenarios
from portal.scenarios.models import Scenario

RECENT = 6  # "5 of the last 6 invoices": the window for the share paid late
CONFIRMATIONS = 2  # consecutive daily evaluations past a threshold before a debtor moves
# A promise to pay broken in the last year weighs as this many days late on the average the choice is made on: one
# moves a prompt payer out of friendly, two make strict of an otherwise punctual one. Disputes are counted but do
# not weigh: a dispute is as often the supplier's mistake as a way to stall.
BROKEN_PROMISE_DAYS = 10
MEMORY_DAYS = 365
_STREAM_BATCH = 5000
_ID_CHUNK = 1000  # stays under SQLite's and psycopg's bound-parameter limits


@dataclass(frozen=True)
class Settings:
    """The organisation's thresholds, in days late."""

    half_life_days: int = 180
    min_paid: int = 3
    friendly_max_days: int = 3
    strict_min_days: int = 20
    margin_days: int = 3
    default_key: str = "standard"

    @classmethod
    def of(cls, organisation: Organisation, default_key: str = "standard") -> "Settings":
        return cls(
            half_life_days=organisation.behaviour_half_life_days,
            min_paid=organisation.behaviour_min_paid,
            friendly_max_days=organisation.behaviour_friendly_max_days,
            strict_min_days=organisation.behaviour_strict_min_days,
            margin_days=organisation.behaviour_margin_days,
            default_key=default_key,
        )


@dataclass
class Profile:
    debtor_id: int
    paid_count: int = 0
    weighted_days_late: float = 0.0  # average days late on paid invoices, weighted by recency
    recent_count: int = 0  # the last RECENT paid invoices ...
    recent_late: int = 0  # ... and how many of them were paid more than the strict threshold late
    broken_promises: int = 0  # in the last MEMORY_DAYS (by the date promised)
    broken_plans: int = 0  # payment arrangements broken in the last MEMORY_DAYS
    disputes: int = 0  # opened in the last MEMORY_DAYS
    open_exposure: Decimal = Decimal("0.00")  # open amount in the organisation's home currency

    @property
    def recent_share_late(self) -> float:
        return self.recent_late / self.recent_count if self.recent_count else 0.0


def profile(session: Session, organisation_id: int, debtor_ids: list[int] | None, today: date) -> dict[int, Profile]:
    """Profiles of the given debtors (None: every debtor with a paid invoice or an open balance)."""
    organisation = session.get(Organisation, organisation_id)
    profiles: dict[int, Profile] = {}
    if debtor_ids is not None:
        profiles = {debtor_id: Profile(debtor_id) for debtor_id in debtor_ids}
    for chunk in _chunks(debtor_ids):
        _add_paid_invoices(session, organisation, chunk, today, profiles)
        _add_exposure(session, organisation, chunk, profiles)
        _add_broken_and_disputed(session, organisation_id, chunk, today, profiles)
    return profiles


def _add_paid_invoices(
    session: Session, organisation: Organisation, chunk: list[int] | None, today: date, profiles: dict[int, Profile]
) -> None:
    """How late each debtor paid: the average weighted by recency, and the share of its recent invoices paid late."""
    half_life = max(organisation.behaviour_half_life_days, 1)
    strict_min = organisation.behaviour_strict_min_days
    # Plain columns, streamed in debtor order: a million paid invoices never sit in memory as objects.
    query = (
        select(Invoice.debtor_id, Invoice.due_date, Invoice.settled_on)
        .where(
            Invoice.organisation_id == organisation.id,
            Invoice.kind == "invoice",
            Invoice.status == "paid",
            Invoice.settled_on.is_not(None),
            Invoice.due_date.is_not(None),
        )
        .order_by(Invoice.debtor_id, Invoice.settled_on.desc(), Invoice.id.desc())
        .execution_options(yield_per=_STREAM_BATCH)
    )
    if chunk is not None:
        query = query.where(Invoice.debtor_id.in_(chunk))
    current, weight_sum, weighted_late = None, 0.0, 0.0
    for debtor_id, due_date, settled_on in session.execute(query):
        if current is None or current.debtor_id != debtor_id:
            _finish(current, weight_sum, weighted_late)
            current = profiles.setdefault(debtor_id, Profile(debtor_id))
            weight_sum, weighted_late = 0.0, 0.0
        days_late = max(0, (settled_on - due_date).days)
        weight = 0.5 ** (max(0, (today - settled_on).days) / half_life)
        weight_sum += weight
        weighted_late += weight * days_late
        current.paid_count += 1
        if current.recent_count < RECENT:  # rows come newest first
            current.recent_count += 1
            current.recent_late += days_late > strict_min
    _finish(current, weight_sum, weighted_late)


def _add_exposure(
    session: Session, organisation: Organisation, chunk: list[int] | None, profiles: dict[int, Profile]
) -> None:
    """What each debtor owes now, in the organisation's home currency."""
    exposure = (
        select(DebtorBalance.debtor_id, func.sum(DebtorBalance.open_amount))
        .where(
            DebtorBalance.organisation_id == organisation.id,
            DebtorBalance.currency == organisation.home_currency,
        )
        .group_by(DebtorBalance.debtor_id)
    )
    if chunk is not None:
        exposure = exposure.where(DebtorBalance.debtor_id.in_(chunk))
    for debtor_id, amount in session.execute(exposure):
        profiles.setdefault(debtor_id, Profile(debtor_id)).open_exposure = Decimal(amount or 0)


def _add_broken_and_disputed(
    session: Session, organisation_id: int, chunk: list[int] | None, today: date, profiles: dict[int, Profile]
) -> None:
    """The payment plans and promises each debtor broke, and the disputes it opened, in the last MEMORY_DAYS."""
    since = today - timedelta(days=MEMORY_DAYS)
    broken = (
        select(Promise.debtor_id, func.count())
        .where(Promise.organisation_id == organisation_id, Promise.status == "broken", Promise.promised_on >= since)
        .group_by(Promise.debtor_id)
    )
    disputes = (
        select(Dispute.debtor_id, func.count())
        .where(
            Dispute.organisation_id == organisation_id,
            Dispute.created_at >= datetime.combine(since, time(), tzinfo=UTC),
        )
        .group_by(Dispute.debtor_id)
    )
    plans = (
        select(Arrangement.debtor_id, func.count())
        .where(
            Arrangement.organisation_id == organisation_id,
            Arrangement.status == "broken",
            Arrangement.ended_at >= datetime.combine(since, time(), tzinfo=UTC),
        )
        .group_by(Arrangement.debtor_id)
    )
    if chunk is not None:
        broken = broken.where(Promise.debtor_id.in_(chunk))
        disputes = disputes.where(Dispute.debtor_id.in_(chunk))
        plans = plans.where(Arrangement.debtor_id.in_(chunk))
    for debtor_id, count in session.execute(plans):
        profiles.setdefault(debtor_id, Profile(debtor_id)).broken_plans = count
    for debtor_id, count in session.execute(broken):
        profiles.setdefault(debtor_id, Profile(debtor_id)).broken_promises = count
    for debtor_id, count in session.execute(disputes):
        profiles.setdefault(debtor_id, Profile(debtor_id)).disputes = count


def _chunks(debtor_ids: list[int] | None) -> Iterable[list[int] | None]:
    if debtor_ids is None:
        yield None
        return
    for start in range(0, len(debtor_ids), _ID_CHUNK):
        yield debtor_ids[start : start + _ID_CHUNK]


def _finish(current: Profile | None, weight_sum: float, weighted_late: float) -> None:
    if current is not None and weight_sum:
        current.weighted_days_late = weighted_late / weight_sum


def choose(profile: Profile, settings: Settings, current_key: str | None = None) -> tuple[str, str]:
    """The scenario the profile points to, and why in words.

    With ``current_key`` a debtor crosses a threshold only by its margin: into strict at strict_min + margin, out of
    it below strict_min - margin, and the same around friendly_max. Without it, the plain thresholds apply.
    Each promise broken in the last year adds BROKEN_PROMISE_DAYS to the average the thresholds are compared with,
    and the reason says so; it also ends a new customer's benefit of the doubt.
    """
    broken = profile.broken_promises + profile.broken_plans
    if profile.paid_count < settings.min_paid and not broken:
        return settings.default_key, f"new customer: fewer than {settings.min_paid} paid invoices"
    average = profile.weighted_days_late
    judged = average + BROKEN_PROMISE_DAYS * broken
    margin = settings.margin_days if current_key is not None else 0
    strict_from = settings.strict_min_days + (-margin if current_key == "strict" else margin)
    friendly_to = settings.friendly_max_days + (margin if current_key == "friendly" else -margin)
    if judged >= strict_from:
        key = "strict"
        how = (
            f"{profile.recent_late} of the last {profile.recent_count} invoices paid more than "
            f"{_days(settings.strict_min_days)} late (on average {_days(average)} late)"
        )
    elif judged <= friendly_to:
        key, how = "friendly", f"paid on average {_days(average)} late over the last {_invoices(profile)}"
    else:
        key, how = "standard", f"paid on average {_days(average)} late over the last {_invoices(profile)}"
    if broken:
        if profile.paid_count < settings.min_paid:
            how = f"new customer (fewer than {settings.min_paid} paid invoices)"
        words = []
        if profile.broken_promises:
            n = profile.broken_promises
            words.append("1 promise to pay" if n == 1 else f"{n} promises to pay")
        if profile.broken_plans:
            n = profile.broken_plans
            words.append("1 payment plan" if n == 1 else f"{n} payment plans")
        counts = "counts" if broken == 1 else "count"
        how += (
            f"; {' and '.join(words)} broken in the last year ({counts} as {_days(BROKEN_PROMISE_DAYS * broken)} late)"
        )
    return key, f"{key}: {how}"


def _days(value: float) -> str:
    days = round(value)
    return "1 day" if days == 1 else f"{days} days"


def _invoices(profile: Profile) -> str:
    return "invoice" if profile.paid_count == 1 else f"{profile.paid_count} invoices"


def evaluate(session: Session, organisation_id: int, today: date) -> dict[str, int]:
    """Evaluate every debtor of the organisation once for ``today`` (its local date). Safe to run again."""
    organisation = session.get(Organisation, organisation_id)
    ensure_default_scenarios(session, organisation_id)
    scenarios = _Scenarios.of(session, organisation_id)
    settings = Settings.of(organisation, scenarios.default_key)

    counts = {"evaluated": 0, "changed": 0, "pending": 0, "skipped": 0}
    debtors = session.execute(
        select(Debtor.id, Debtor.scenario_id, Debtor.scenario_candidate_id, Debtor.scenario_candidate_days)
        .where(Debtor.organisation_id == organisation_id)
        .where((Debtor.scenario_evaluated_on.is_(None)) | (Debtor.scenario_evaluated_on != today))
    ).all()
    counts["skipped"] = session.scalar(
        select(func.count()).where(Debtor.organisation_id == organisation_id, Debtor.scenario_evaluated_on == today)
    )
    if not debtors:
        return counts
    profiles = profile(session, organisation_id, None, today)

    updates = []
    for debtor_id, scenario_id, candidate_id, candidate_days in debtors:
        current_key = scenarios.key_by_id.get(scenario_id, scenarios.default_key)
        key, reason = choose(profiles.get(debtor_id) or Profile(debtor_id), settings, current_key)
        target_id = scenarios.id_by_key.get(key)
        values = {"id": debtor_id, "scenario_evaluated_on": today, "scenario_reason": reason}
        if key == current_key or target_id is None:
            values |= {"scenario_candidate_id": None, "scenario_candidate_days": 0}
        else:
            days = candidate_days + 1 if candidate_id == target_id else 1
            change = _move_or_wait(session, organisation_id, debtor_id, days, current_key, key, reason, scenarios)
            values |= change
            counts["changed" if "scenario_id" in change else "pending"] += 1
        updates.append(values)
        counts["evaluated"] += 1
    session.execute(update(Debtor), updates)  # one executemany by primary key, not an object per debtor
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Debtor):  # loaded debtors must not keep the values from before the bulk update
            session.expire(obj)
    return counts


@dataclass(frozen=True)
class _Scenarios:
    """The organisation's scenarios by key and by id, and the key of its default."""

    id_by_key: dict[str, int]
    key_by_id: dict[int, str]
    default_key: str

    @classmethod
    def of(cls, session: Session, organisation_id: int) -> "_Scenarios":
        scenarios = session.execute(
            select(Scenario.id, Scenario.key, Scenario.is_default).where(Scenario.organisation_id == organisation_id)
        ).all()
        return cls(
            id_by_key={key: scenario_id for scenario_id, key, _ in scenarios},
            key_by_id={scenario_id: key for scenario_id, key, _ in scenarios},
            default_key=next((key for _, key, is_default in scenarios if is_default), "standard"),
        )


def _move_or_wait(
    session: Session,
    organisation_id: int,
    debtor_id: int,
    days: int,
    current_key: str,
    key: str,
    reason: str,
    scenarios: _Scenarios,
) -> dict:
    """The debtor's new values when its profile points to another scenario for the ``days``-th evaluation running:
    moved (and on the timeline) after CONFIRMATIONS of them, a candidate until then."""
    target_id = scenarios.id_by_key[key]
    if days < CONFIRMATIONS:
        # Not yet: the debtor stays where it is, and the reason says what tomorrow may bring.
        return {
            "scenario_reason": f"{reason} (moves from {current_key} if this holds tomorrow)",
            "scenario_candidate_id": target_id,
            "scenario_candidate_days": days,
        }
    record(
        session,
        organisation_id,
        EventKind.DEBTOR_SCENARIO_CHANGED,
        debtor_id=debtor_id,
        **{"from": current_key, "to": key, "reason": reason},
    )
    return {
        "scenario_id": None if key == scenarios.default_key else target_id,
        "scenario_candidate_id": None,
        "scenario_candidate_days": 0,
    }


def effective_scenario(session: Session, debtor: Debtor, today: date) -> Scenario:
    """The scenario the debtor's reminders follow: the supplier's override, else the computed one, else the default."""
    if debtor.override_scenario_id is not None and (debtor.override_until is None or debtor.override_until >= today):
        return session.get(Scenario, debtor.override_scenario_id)
    if debtor.scenario_id is not None:
        return session.get(Scenario, debtor.scenario_id)
    return session.get(Scenario, default_scenario_id(session, debtor.organisation_id))
