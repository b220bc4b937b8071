"""Payment arrangements: a debtor's proposal or the supplier's plan, the decision, and the plan as it runs.

What a plan has been paid is never stored: it is what its invoices no longer have open (``settled``), so bank,
manual and Mollie payments, duplicate webhooks and reversals all count exactly once, through the ledger. The
installments take that money in order; paying more than one installment pays ahead.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from portal import events
from portal.arrangements.models import (
    FREQUENCIES,
    LIVE,
    Arrangement,
    ArrangementInvoice,
    Installment,
    InstallmentNotice,
)
from portal.arrangements.split import due_dates, split
from portal.debtors.models import Debtor
from portal.errors import DomainError
from portal.events import EventKind
from portal.invoices.models import Invoice
from portal.invoices.service import chosen_open_invoices
from portal.links.service import link_lifetime, new_link
from portal.locales import Amount, debtor_language, in_debtor_language
from portal.locales import lazy as _l
from portal.mail.senders import sender
from portal.mail.service import queue_mail
from portal.money import ZERO
from portal.organisations.calendar import window_opens
from portal.organisations.models import Organisation
from portal.organisations.service import supplier_address
from portal.scenarios.defaults import default_scenario_id
from portal.scenarios.models import Scenario
from portal.text import clean
from portal.types import utcnow

NOTICE_DAYS_BEFORE = 3  # the friendly reminder before an installment's due date


class ArrangementError(DomainError):
    """A plan that cannot be proposed, made or decided as asked. The debtor's messages are lazy (the page's
    language), the supplier's English; ``field`` names the form field."""


@dataclass
class Draft:
    """A plan worked out, not yet stored: what the debtor sees before confirming."""

    invoices: list[Invoice]
    currency: str
    total: Decimal
    count: int
    frequency: str
    schedule: list[tuple[date, Decimal]]
    # Why it would wait for the supplier (outside the limits for automatic approval); empty: approved at once.
    review: list[str] = field(default_factory=list)

    @property
    def last_due(self) -> date:
        return self.schedule[-1][0]


def proposal_refused(session: Session, organisation: Organisation, debtor: Debtor, today: date) -> str | None:
    """Why this debtor may not propose a plan on its page (None: it may). English, for the cockpit's logic; the page
    shows its own words."""
    allowed = {k for k in organisation.arrangement_scenarios.split(",") if k}
    if not allowed:
        return "the organisation takes no proposals"
    scenario_id = debtor.override_scenario_id if _override_active(debtor, today) else debtor.scenario_id
    key = session.scalar(
        select(Scenario.key).where(Scenario.id == (scenario_id or default_scenario_id(session, organisation.id)))
    )
    if key not in allowed:
        return f"debtors on the {key} scenario do not propose plans"
    return None


def _override_active(debtor: Debtor, today: date) -> bool:
    return debtor.override_scenario_id is not None and (debtor.override_until is None or debtor.override_until >= today)


def live_for(session: Session, organisation_id: int, debtor_id: int) -> list[Arrangement]:
    return list(
        session.scalars(
            select(Arrangement)
            .where(
                Arrangement.organisation_id == organisation_id,
                Arrangement.debtor_id == debtor_id,
                Arrangement.status.in_(LIVE),
            )
            .options(selectinload(Arrangement.items), selectinload(Arrangement.installments))
            .order_by(Arrangement.id)
        )
    )


def draft(
    session: Session,
    organisation: Organisation,
    debtor: Debtor,
    invoice_ids,
    count,
    frequency: str,
    first_due: date | None,
    today: date,
    *,
    by_supplier: bool = False,
) -> Draft:
    """Check a plan against the organisation's rules and work out its schedule. Hard limits raise ArrangementError
    (field names match the forms); the automatic-approval limits only fill ``review``. The supplier's own plans
    keep only to the money rules (a whole number of cents, no installment below the minimum)."""
    invoices = _plannable(session, organisation, debtor, invoice_ids)
    if frequency not in FREQUENCIES:
        raise ArrangementError(_l("Choose weekly or monthly."), "frequency")
    total = sum((i.open_amount for i in invoices), ZERO)
    count = _installment_count(organisation, count, total, invoices[0].currency, by_supplier)
    dates = _due_dates(organisation, first_due, count, frequency, today, by_supplier)
    return Draft(
        invoices=invoices,
        currency=invoices[0].currency,
        total=total,
        count=count,
        frequency=frequency,
        schedule=list(zip(dates, split(total, count), strict=True)),
        review=_review(organisation, invoices[0].currency, total, count, dates[-1], today),
    )


def _plannable(session: Session, organisation: Organisation, debtor: Debtor, invoice_ids) -> list[Invoice]:
    """The chosen open invoices, if a plan may take them: none in a live plan or disputed, one currency."""
    invoices = chosen_open_invoices(session, organisation.id, debtor.id, invoice_ids)
    # Two proposals for the same invoices at once: the second waits here until the first has committed, then sees
    # its plan (PostgreSQL; SQLite's writers take turns anyway).
    session.scalars(select(Invoice.id).where(Invoice.id.in_([i.id for i in invoices])).with_for_update()).all()
    busy = _in_live_plans(session, [i.id for i in invoices])
    if len(busy) == 1:
        raise ArrangementError(_l("Invoice %(numbers)s is already in a payment plan.", numbers=busy[0]), "invoice_ids")
    if busy:
        raise ArrangementError(
            _l("Invoices %(numbers)s are already in a payment plan.", numbers=", ".join(busy)), "invoice_ids"
        )
    if any(i.disputed_at is not None for i in invoices):
        raise ArrangementError(_l("A disputed invoice cannot go into a payment plan."), "invoice_ids")
    if len({i.currency for i in invoices}) > 1:
        raise ArrangementError(_l("Invoices in different currencies go into separate plans."), "invoice_ids")
    return invoices


def _installment_count(organisation: Organisation, count, total: Decimal, currency: str, by_supplier: bool) -> int:
    """The number of installments asked for, within the organisation's limits (the supplier's own plans keep only to
    the minimum installment); a plan on the debtor's page also stays below the most it may cover."""
    try:
        count = int(count)
    except (TypeError, ValueError):
        raise ArrangementError(_l("Choose the number of installments."), "installments") from None
    minimum = organisation.arrangement_min_installment
    most = organisation.arrangement_max_installments
    if count < 1:
        raise ArrangementError(_l("Choose the number of installments."), "installments")
    if count > most and not by_supplier:
        raise ArrangementError(_l("Choose between 2 and %(most)d installments.", most=most), "installments")
    if count < 2 and not by_supplier:
        raise ArrangementError(_l("A plan has at least 2 installments; to pay at once, use Pay."), "installments")
    if total < minimum * count:
        fewest = max(1, int(total // minimum))
        raise ArrangementError(
            _l(
                "Each installment must be at least %(minimum)s: for %(total)s choose at most %(fewest)d.",
                minimum=Amount(minimum, currency),
                total=Amount(total, currency),
                fewest=fewest,
            ),
            "installments",
        )
    if total > organisation.arrangement_max_total and not by_supplier:
        raise ArrangementError(
            _l(
                "A plan on the page covers at most %(most)s; please contact us.",
                most=Amount(organisation.arrangement_max_total, currency),
            ),
            "invoice_ids",
        )
    return count


def _due_dates(
    organisation: Organisation, first_due: date | None, count: int, frequency: str, today: date, by_supplier: bool
) -> list[date]:
    """The installments' due dates: the first within a month, the last within the organisation's days."""
    if first_due is None:
        raise ArrangementError(_l("Choose the date of the first installment."), "first_due")
    if first_due < today:
        raise ArrangementError(_l("That date has passed. Choose today or a later date."), "first_due")
    if first_due > today + timedelta(days=31) and not by_supplier:
        raise ArrangementError(_l("The first installment is due within a month."), "first_due")
    dates = due_dates(first_due, count, frequency)
    latest = today + timedelta(days=organisation.arrangement_max_days)
    if dates[-1] > latest and not by_supplier:
        raise ArrangementError(
            _l("The last installment must be due by %(date)s: choose fewer installments or weekly.", date=latest),
            "installments",
        )
    return dates


def _review(
    organisation: Organisation, currency: str, total: Decimal, count: int, last: date, today: date
) -> list[str]:
    """Why the supplier decides (outside the limits for automatic approval), in the cockpit's words: stored, so
    written once, in no one's locale, unambiguously. Empty: approved at once."""
    review = []
    if count > organisation.arrangement_auto_installments:
        review.append(f"{count} installments (more than {organisation.arrangement_auto_installments})")
    if total > organisation.arrangement_auto_total:
        review.append(f"{currency} {total:,.2f} (more than {currency} {organisation.arrangement_auto_total:,.2f})")
    if last > today + timedelta(days=organisation.arrangement_auto_days):
        review.append(f"ends {last.day} {last:%b %Y} (more than {organisation.arrangement_auto_days} days ahead)")
    return review


def _in_live_plans(session: Session, invoice_ids: list[int], but: int | None = None) -> list[str]:
    """Numbers of these invoices that are in a live plan (other than ``but``): one plan per invoice at a time."""
    return list(
        session.scalars(
            select(Invoice.number)
            .join(ArrangementInvoice, ArrangementInvoice.invoice_id == Invoice.id)
            .join(Arrangement, Arrangement.id == ArrangementInvoice.arrangement_id)
            .where(Invoice.id.in_(invoice_ids), Arrangement.status.in_(LIVE), Arrangement.id != (but or 0))
            .order_by(Invoice.number)
        )
    )


def _store(session: Session, organisation: Organisation, debtor: Debtor, plan: Draft, **values) -> Arrangement:
    arrangement = Arrangement(
        organisation_id=organisation.id,
        debtor_id=debtor.id,
        currency=plan.currency,
        total=plan.total,
        installment_count=plan.count,
        frequency=plan.frequency,
        first_due=plan.schedule[0][0],
        items=[
            ArrangementInvoice(invoice_id=i.id, position=n, amount=i.open_amount)
            for n, i in enumerate(sorted(plan.invoices, key=lambda i: (i.due_date or i.issue_date, i.id)), 1)
        ],
        installments=[
            Installment(position=n, due_on=day, amount=amount) for n, (day, amount) in enumerate(plan.schedule, 1)
        ],
        **values,
    )
    session.add(arrangement)
    session.flush()
    return arrangement


def _about(arrangement: Arrangement) -> dict:
    return {
        "arrangement": arrangement.id,
        "amount": arrangement.total,
        "currency": arrangement.currency,
        "installments": arrangement.installment_count,
        "frequency": arrangement.frequency,
        "first_due": arrangement.first_due.isoformat(),
        "invoices": ", ".join(item.invoice.number for item in arrangement.items)[:300],
    }


def propose(
    session: Session,
    organisation: Organisation,
    debtor: Debtor,
    invoice_ids,
    count,
    frequency: str,
    first_due: date | None,
    today: date,
    note: str = "",
    *,
    mail_from: str,
) -> Arrangement:
    """The debtor proposes a plan on its page: approved at once within the automatic limits, else it waits for
    the supplier. The debtor is mailed the schedule either way."""
    if proposal_refused(session, organisation, debtor, today):
        raise ArrangementError(_l("A payment plan cannot be proposed here; please contact us."), None)
    plan = draft(session, organisation, debtor, invoice_ids, count, frequency, first_due, today)
    auto = not plan.review
    arrangement = _store(
        session,
        organisation,
        debtor,
        plan,
        source="selfservice",
        status="active" if auto else "proposed",
        auto_approved=auto,
        review_reason="; ".join(plan.review)[:300],
        note=clean(note, 500),
        decided_at=utcnow() if auto else None,
    )
    events.record(
        session,
        organisation.id,
        EventKind.ARRANGEMENT_PROPOSED,
        debtor_id=debtor.id,
        note=arrangement.note,
        **_about(arrangement),
    )
    if auto:
        events.record(
            session,
            organisation.id,
            EventKind.ARRANGEMENT_APPROVED,
            debtor_id=debtor.id,
            automatic=True,
            **_about(arrangement),
        )
    _mail_debtor(session, organisation, arrangement, "arrangement_confirmation", mail_from)
    return arrangement


def create(
    session: Session,
    organisation_id: int,
    debtor_id: int,
    invoice_ids,
    count,
    frequency: str,
    first_due: date | None,
    *,
    actor_user_id: int,
    message: str = "",
    mail_from: str,
) -> Arrangement:
    """The supplier makes a plan for a debtor (after a phone call): active at once, the debtor is mailed it."""
    organisation = session.get(Organisation, organisation_id)
    debtor = session.get(Debtor, debtor_id)
    plan = draft(
        session, organisation, debtor, invoice_ids, count, frequency, first_due, organisation.today(), by_supplier=True
    )
    arrangement = _store(
        session,
        organisation,
        debtor,
        plan,
        source="cockpit",
        status="active",
        message=clean(message, 1000),
        decided_at=utcnow(),
        decided_by_user_id=actor_user_id,
    )
    events.record(
        session,
        organisation_id,
        EventKind.ARRANGEMENT_CREATED,
        debtor_id=debtor_id,
        actor_user_id=actor_user_id,
        **_about(arrangement),
    )
    _mail_debtor(session, organisation, arrangement, "arrangement_confirmation", mail_from)
    return arrangement


def _get(session: Session, organisation_id: int, arrangement_id: int, *statuses: str) -> Arrangement:
    arrangement = session.get(Arrangement, arrangement_id, with_for_update=True)
    if arrangement is None or arrangement.organisation_id != organisation_id:
        raise LookupError(arrangement_id)
    if statuses and arrangement.status not in statuses:
        raise ArrangementError(f"This plan is {arrangement.status} already.")
    return arrangement


def decide(
    session: Session,
    organisation_id: int,
    arrangement_id: int,
    decision: str,
    *,
    actor_user_id: int,
    message: str = "",
    mail_from: str,
) -> Arrangement:
    """The supplier approves or rejects a proposal (a rejection says why); the debtor is mailed the answer."""
    arrangement = _get(session, organisation_id, arrangement_id, "proposed")
    message = clean(message, 1000)
    if decision == "approve":
        busy = _in_live_plans(session, [item.invoice_id for item in arrangement.items], but=arrangement.id)
        if busy:
            raise ArrangementError(f"Invoice {', '.join(busy)} is in another plan now.")
        arrangement.status = "active"
    elif decision == "reject":
        if not message:
            raise ArrangementError("Tell the debtor why.", "message")
        arrangement.status, arrangement.ended_at = "rejected", utcnow()
    else:
        raise ArrangementError(f"Unknown decision {decision!r}.")
    arrangement.message, arrangement.decided_at, arrangement.decided_by_user_id = message, utcnow(), actor_user_id
    session.flush()
    kind = EventKind.ARRANGEMENT_APPROVED if decision == "approve" else EventKind.ARRANGEMENT_REJECTED
    events.record(
        session,
        organisation_id,
        kind,
        debtor_id=arrangement.debtor_id,
        actor_user_id=actor_user_id,
        message=message,
        **_about(arrangement),
    )
    _mail_debtor(session, session.get(Organisation, organisation_id), arrangement, "arrangement_decided", mail_from)
    return arrangement


def counter(
    session: Session,
    organisation_id: int,
    arrangement_id: int,
    count,
    frequency: str,
    first_due: date | None,
    *,
    actor_user_id: int,
    message: str = "",
    mail_from: str,
) -> Arrangement:
    """The supplier answers a proposal with its own plan for the same invoices; the debtor accepts or declines it
    on the page."""
    proposal = _get(session, organisation_id, arrangement_id, "proposed")
    organisation = session.get(Organisation, organisation_id)
    proposal.status = "countered"  # first, so that its invoices are free for the offer
    session.flush()
    plan = draft(
        session,
        organisation,
        proposal.debtor,
        [item.invoice_id for item in proposal.items],
        count,
        frequency,
        first_due,
        organisation.today(),
        by_supplier=True,
    )
    offer = _store(
        session,
        organisation,
        proposal.debtor,
        plan,
        source="cockpit",
        status="offered",
        counter_of_id=proposal.id,
        message=clean(message, 1000),
        decided_by_user_id=actor_user_id,
    )
    proposal.decided_at, proposal.decided_by_user_id, proposal.ended_at = utcnow(), actor_user_id, utcnow()
    events.record(
        session,
        organisation_id,
        EventKind.ARRANGEMENT_COUNTERED,
        debtor_id=proposal.debtor_id,
        actor_user_id=actor_user_id,
        proposal=proposal.id,
        message=offer.message,
        **_about(offer),
    )
    _mail_debtor(session, organisation, offer, "arrangement_decided", mail_from)
    return offer


def answer_offer(
    session: Session, organisation: Organisation, debtor: Debtor, arrangement_id: int, accept: bool, *, mail_from: str
) -> Arrangement:
    """The debtor accepts the supplier's counter-proposal (it runs from now) or declines it."""
    offer = session.get(Arrangement, arrangement_id, with_for_update=True)
    if offer is None or offer.organisation_id != organisation.id or offer.debtor_id != debtor.id:
        raise LookupError(arrangement_id)
    if offer.status != "offered":
        raise ArrangementError(_l("This offer has been answered already."))
    offer.status = "active" if accept else "declined"
    offer.decided_at = utcnow()
    if not accept:
        offer.ended_at = utcnow()
    events.record(
        session,
        organisation.id,
        EventKind.ARRANGEMENT_OFFER_ACCEPTED if accept else EventKind.ARRANGEMENT_OFFER_DECLINED,
        debtor_id=debtor.id,
        **_about(offer),
    )
    if accept:
        _mail_debtor(session, organisation, offer, "arrangement_confirmation", mail_from)
    return offer


@dataclass
class InstallmentState:
    installment: Installment
    paid: Decimal
    status: str  # paid | part | due | overdue | coming

    @property
    def remaining(self) -> Decimal:
        return self.installment.amount - self.paid


@dataclass
class Progress:
    settled: Decimal
    rows: list[InstallmentState]

    @property
    def next(self) -> InstallmentState | None:
        return next((row for row in self.rows if row.remaining > ZERO), None)

    @property
    def percent(self) -> int:
        total = sum((row.installment.amount for row in self.rows), ZERO)
        return int(self.settled * 100 / total) if total else 100


def settled(arrangement: Arrangement) -> Decimal:
    """What the plan's invoices no longer have open, counted up to what each had open when the plan was made."""
    done = ZERO
    for item in arrangement.items:
        still_open = item.invoice.open_amount if item.invoice.status == "open" else ZERO
        done += item.amount - min(item.amount, still_open)
    return done


def progress(arrangement: Arrangement, today: date) -> Progress:
    """The installments in order, each taking what has been paid until it is full: an overpayment pays ahead."""
    left = settled(arrangement)
    rows = []
    for installment in arrangement.installments:
        paid = min(left, installment.amount)
        left -= paid
        if paid == installment.amount:
            status = "paid"
        elif installment.due_on < today:
            status = "overdue"
        elif installment.due_on == today:
            status = "due"
        else:
            status = "part" if paid else "coming"
        rows.append(InstallmentState(installment, paid, status))
    return Progress(settled(arrangement), rows)


def portions(arrangement: Arrangement, amount: Decimal) -> list[tuple[Invoice, Decimal]]:
    """Where ``amount`` paid towards the plan goes: the plan's invoices in order, oldest due first."""
    out = []
    for item in arrangement.items:
        if amount <= ZERO:
            break
        invoice = item.invoice
        if invoice.status != "open" or invoice.open_amount <= ZERO:
            continue
        part = min(amount, invoice.open_amount)
        out.append((invoice, part))
        amount -= part
    return out


def check(session: Session, organisation_id: int, today: date, *, mail_from: str) -> dict[str, int]:
    """Settle the organisation's active plans as of ``today``: completed once everything is paid; broken when an
    installment is still not paid ``arrangement_grace_days`` after its due date. A broken plan's invoices go back
    into their scenario (planning leaves out only active plans); supplier and debtor are told. The caller commits."""
    organisation = session.get(Organisation, organisation_id)
    counts = {"completed": 0, "broken": 0}
    plans = session.scalars(
        select(Arrangement)
        .where(Arrangement.organisation_id == organisation_id, Arrangement.status == "active")
        .options(
            selectinload(Arrangement.items).selectinload(ArrangementInvoice.invoice),
            selectinload(Arrangement.installments),
        )
        .order_by(Arrangement.id)
    ).all()
    grace = timedelta(days=organisation.arrangement_grace_days)
    for plan in plans:
        state = progress(plan, today)
        missed = next((r for r in state.rows if r.remaining > ZERO and r.installment.due_on + grace < today), None)
        open_left = any(item.invoice.status == "open" and item.invoice.open_amount > ZERO for item in plan.items)
        if state.next is None or not open_left:
            status = "completed"
        elif missed is not None:
            status = "broken"
        else:
            continue
        ended = session.execute(
            update(Arrangement)
            .where(Arrangement.id == plan.id, Arrangement.status == "active")
            .values(status=status, ended_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount
        session.expire(plan, ["status", "ended_at"])
        if ended != 1:
            continue  # another clock did it
        data = _about(plan)
        if status == "broken":
            data.update(
                installment=missed.installment.position,
                due_on=missed.installment.due_on.isoformat(),
                missing=missed.remaining,
            )
        events.record(session, organisation_id, f"arrangement:{status}", debtor_id=plan.debtor_id, **data)
        if status == "broken":
            _mail_debtor(session, organisation, plan, "arrangement_broken", mail_from, missed=missed)
            to = supplier_address(session, organisation)
            if to:
                queue_mail(
                    session,
                    to=to,
                    template="arrangement_broken_supplier",
                    context={"organisation": organisation, "arrangement": plan, "missed": missed},
                    from_address=mail_from,
                    organisation_id=organisation_id,
                )
        counts[status] += 1
    return counts


def remind(session: Session, organisation_id: int, today: date, now: datetime, *, base_url: str, mail_from: str) -> int:
    """Friendly reminders of installments: one NOTICE_DAYS_BEFORE the due date, one on it (or, if the clock was
    away then, within the grace after it). Each at most once (a unique row per installment and stage), each with
    the debtor's own link. Nothing before the organisation's send hour. The caller commits."""
    organisation = session.get(Organisation, organisation_id)
    if now < window_opens(organisation, today):
        return 0
    plans = session.scalars(
        select(Arrangement)
        .where(Arrangement.organisation_id == organisation_id, Arrangement.status == "active")
        .options(
            selectinload(Arrangement.items).selectinload(ArrangementInvoice.invoice),
            selectinload(Arrangement.installments),
            selectinload(Arrangement.debtor),
        )
        .order_by(Arrangement.id)
    ).all()
    grace = timedelta(days=organisation.arrangement_grace_days)
    sent = 0
    for plan in plans:
        state = progress(plan, today)
        row = state.next
        if row is None or not plan.debtor.dunning_email:
            continue
        due = row.installment.due_on
        if due - timedelta(days=NOTICE_DAYS_BEFORE) <= today < due:
            stage = "before"
        elif due <= today <= due + grace:
            stage = "due"
        else:
            continue
        try:
            with session.begin_nested():
                notice = InstallmentNotice(installment_id=row.installment.id, stage=stage)
                session.add(notice)
                session.flush()
        except IntegrityError:
            continue  # sent already (or another clock is sending it now)
        url, link = new_link(organisation_id, plan.debtor_id, base_url, now, lifetime=link_lifetime(organisation))
        session.add(link)
        notice.mail_message_id = _mail_debtor(
            session,
            organisation,
            plan,
            "installment_reminder",
            mail_from,
            row=row,
            stage=stage,
            link=url,
        ).id
        events.record(
            session,
            organisation_id,
            EventKind.ARRANGEMENT_INSTALLMENT_REMINDED,
            debtor_id=plan.debtor_id,
            arrangement=plan.id,
            installment=row.installment.position,
            stage=stage,
            amount=row.remaining,
            currency=plan.currency,
            due_on=due.isoformat(),
        )
        sent += 1
    return sent


def _mail_debtor(
    session: Session,
    organisation: Organisation,
    arrangement: Arrangement,
    template: str,
    mail_from: str,
    **context,
):
    """A mail to the debtor in its language (nothing when it has no address), with a link of its own to the debtor's
    page (where an offer is answered and installments are paid), unless the caller made one."""
    debtor = arrangement.debtor or session.get(Debtor, arrangement.debtor_id)
    to = debtor.dunning_email
    if not to:
        return None
    if "link" not in context:
        url, link = new_link(
            organisation.id,
            debtor.id,
            current_app.config["PUBLIC_BASE_URL"],
            utcnow(),
            lifetime=link_lifetime(organisation),
        )
        session.add(link)
        context["link"] = url
    language = debtor_language(debtor.language)
    with in_debtor_language(language):
        return queue_mail(
            session,
            to=to,
            template=template,
            context={
                "organisation": organisation,
                "debtor": debtor,
                "arrangement": arrangement,
                "progress": progress(arrangement, organisation.today()),
                "language": language,
                **context,
            },
            from_address=sender(organisation, mail_from),
            organisation_id=organisation.id,
            sensitive=True,  # the link is a key to the debtor's page: blanked once an SMTP server has it
        )
