"""What sending a scenario step adds to its invoices under the organisation's legal profile: statutory interest
from the day after the due date, and collection costs (for a consumer under Dutch law announced by the 14-day letter
and owed only after its period). Written onto the invoices once, however often a step is sent.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import update
from sqlalchemy.orm import Session

from portal import events
from portal.events import EventKind
from portal.invoices.models import Invoice
from portal.law.calculate import applies, collection_costs, received_on
from portal.money import ZERO, pro_rata


@dataclass
class Notice:
    """The consumer's 14-day letter (art. 6:96 lid 6 BW): the costs that follow if not paid by ``pay_by``."""

    costs: Decimal
    vat: Decimal
    pay_by: date
    currency: str


@dataclass
class Charges:
    """What sending a step adds, per invoice (column -> value), and the 14-day notice when it is one."""

    changes: dict[int, dict] = field(default_factory=dict)
    notice: Notice | None = None


def step_flags(scenario, positions: dict[int, int]) -> dict[int, tuple[bool, bool]]:
    """(adds costs, adds interest) for each invoice at its own step (invoice id -> step position): what that step
    or any before it in the scenario adds, so that a step skipped on the way still counts."""
    steps = list(scenario.steps) if scenario is not None else []
    return {
        invoice_id: (
            any(s.adds_costs for s in steps if s.position <= position),
            any(s.adds_interest for s in steps if s.position <= position),
        )
        for invoice_id, position in positions.items()
    }


def charges_for_step(
    organisation,
    debtor,
    step,
    invoices: list,
    sent_on: date,
    channel: str,
    *,
    flags: dict[int, tuple[bool, bool]] | None = None,
) -> Charges:
    """What sending ``step`` about ``invoices`` adds: interest from the day after each due date, and collection
    costs (together or per invoice, as the organisation says) on invoices that have none yet. For a consumer under
    Dutch law the costs are announced, not owed: this message is the 14-day letter, and they are owed from the day
    after its period.

    ``flags`` ((adds costs, adds interest) per invoice id) says it per invoice instead: an invoice at an early step
    that rides along in another's final notice gets nothing from that notice. Only invoices past their due date on
    ``sent_on`` get anything."""
    charges = Charges()
    profile = organisation.law_profile(debtor.kind)
    if (step is None and flags is None) or not applies(profile, debtor.kind):
        return charges
    if flags is None:
        flags = {i.id: (step.adds_costs, step.adds_interest) for i in invoices}
    late = [i for i in invoices if i.due_date is not None and i.due_date < sent_on]
    if not debtor.waive_interest:
        for invoice in late:
            if invoice.interest_from is None and flags.get(invoice.id, (False, False))[1]:
                charges.changes.setdefault(invoice.id, {})["interest_from"] = invoice.due_date + timedelta(days=1)
    targets = [
        i
        for i in late
        if i.costs_charged == ZERO and i.status == "open" and i.open_amount > ZERO and flags.get(i.id, (False,))[0]
    ]
    if targets and not debtor.waive_costs:
        _add_costs(charges, organisation, debtor, profile, targets, sent_on, channel)
    return charges


def _costs(organisation, debtor, profile: str, targets: list) -> list[tuple[Decimal, Decimal]]:
    """(costs, their VAT) per invoice: worked out over the invoices together and shared pro rata (the Dutch WIK,
    or when the organisation says so), else per invoice (the EU's EUR 40 each)."""
    vat_rate = organisation.costs_vat_rate if organisation.costs_add_vat else None
    basis = organisation.costs_basis
    if basis == "together" or (basis == "auto" and profile == "nl"):
        costs = collection_costs(profile, debtor.kind, sum((i.open_amount for i in targets), ZERO), vat_rate=vat_rate)
        weights = [i.open_amount for i in targets]
        return list(zip(pro_rata(costs.amount, weights), pro_rata(costs.vat, weights), strict=True))
    amounts = []
    for invoice in targets:
        costs = collection_costs(profile, debtor.kind, invoice.open_amount, vat_rate=vat_rate)
        amounts.append((costs.amount, costs.vat))
    return amounts


def _add_costs(
    charges: Charges, organisation, debtor, profile: str, targets: list, sent_on: date, channel: str
) -> None:
    """The collection costs this message charges, owed from the day it is sent, or for a consumer announced by it
    (the 14-day letter) and owed from the day after its period."""
    amounts = _costs(organisation, debtor, profile, targets)
    costs_from = sent_on
    if debtor.kind == "consumer":
        pay_by = received_on(organisation, sent_on, channel) + timedelta(days=14)
        costs_from = pay_by + timedelta(days=1)
        charges.notice = Notice(
            sum((a for a, _ in amounts), ZERO), sum((v for _, v in amounts), ZERO), pay_by, targets[0].currency
        )
    for invoice, (amount, vat) in zip(targets, amounts, strict=True):
        if amount > ZERO:
            change = charges.changes.setdefault(invoice.id, {})
            change.update(costs_charged=amount, costs_vat=vat, costs_from=costs_from)
            if charges.notice is not None:
                change["costs_notice_until"] = charges.notice.pay_by


def record_charges(
    session: Session, organisation_id: int, debtor_id: int, charges: Charges, invoices: list, *, reminder_id: int
) -> list:
    """Write what a sent step added onto its invoices, with a timeline line each (returned). Conditional on nothing
    having been added yet, so that a step sent again (or two reminders racing) adds nothing twice."""
    table = Invoice.__table__
    recorded = []
    for invoice in invoices:
        change = charges.changes.get(invoice.id)
        if not change:
            continue
        common = {"debtor_id": debtor_id, "invoice_id": invoice.id, "number": invoice.number, "reminder": reminder_id}
        if "interest_from" in change:
            started = session.execute(
                update(table)
                .where(table.c.id == invoice.id, table.c.interest_from.is_(None))
                .values(interest_from=change["interest_from"])
            ).rowcount
            if started:
                recorded.append(
                    events.record(
                        session,
                        organisation_id,
                        EventKind.INVOICE_INTEREST_STARTED,
                        since=change["interest_from"],
                        **common,
                    )
                )
        if "costs_charged" in change:
            values = {k: v for k, v in change.items() if k != "interest_from"}
            added = session.execute(
                update(table).where(table.c.id == invoice.id, table.c.costs_charged == ZERO).values(**values)
            ).rowcount
            if added:
                notice = "costs_notice_until" in change
                recorded.append(
                    events.record(
                        session,
                        organisation_id,
                        EventKind.INVOICE_COSTS_ANNOUNCED if notice else EventKind.INVOICE_COSTS_CHARGED,
                        amount=change["costs_charged"],
                        currency=invoice.currency,
                        **({"pay_by": change["costs_notice_until"]} if notice else {}),
                        **common,
                    )
                )
    return recorded
