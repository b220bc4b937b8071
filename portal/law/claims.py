"""What a late invoice owes under the organisation's legal profile, and what a scenario step adds to it.

An invoice's claim has three parts: the principal (its open amount), statutory interest to date and collection
costs. Interest runs from ``Invoice.interest_from`` (set when a step that adds interest is sent) at the rates of the
organisation's tables; costs are fixed when a step that adds them is sent and owed from ``Invoice.costs_from`` on
(for a consumer under Dutch law, only after the 14-day letter's period). What was paid of each part is kept on the
invoice; a debtor's waiver makes the unpaid rest of a part nothing.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal.law import rates
from portal.law.calculate import collection_costs, interest
from portal.law.models import LawRate

ZERO = Decimal("0.00")
SEEDS = {"nl_commercial": rates.NL_COMMERCIAL, "nl_consumer": rates.NL_CONSUMER, "ecb_reference": rates.ECB_REFERENCE}


def rate_table(session: Session, organisation_id: int, name: str) -> list[tuple[date, Decimal]]:
    """The organisation's own copy of a rate table, or the published seeds while it has none."""
    rows = session.execute(
        select(LawRate.effective_on, LawRate.basis_points)
        .where(LawRate.organisation_id == organisation_id, LawRate.rate_table == name)
        .order_by(LawRate.effective_on)
    ).all()
    if not rows:
        return list(SEEDS[name])
    return [(day, Decimal(points) / 100) for day, points in rows]


def interest_rates(session: Session, organisation_id: int, profile: str, kind: str) -> list[tuple[date, Decimal]]:
    """The statutory rates for a profile and debtor kind: [] where no statutory interest applies."""
    if profile == "nl":
        return rate_table(session, organisation_id, "nl_commercial" if kind == "business" else "nl_consumer")
    if profile == "eu" and kind == "business":
        return [(day, rate + rates.EU_MARGIN) for day, rate in rate_table(session, organisation_id, "ecb_reference")]
    return []


def applies(profile: str, kind: str) -> bool:
    """Whether the profile lets anything be claimed from this kind of debtor (the EU's covers businesses only)."""
    return profile == "nl" or (profile == "eu" and kind == "business")


def why_none(profile: str, kind: str) -> str:
    """Why nothing may be claimed from this kind of debtor under the profile ("" when something may)."""
    if applies(profile, kind):
        return ""
    return "the EU directive covers business debtors only" if profile == "eu" else "no legal profile"


def has_charges(invoice) -> bool:
    """Cheap test, on the columns alone, of whether an invoice may owe anything beside its principal."""
    return invoice.costs_charged > ZERO or invoice.interest_from is not None


@dataclass
class Claim:
    """One invoice's claim on a day."""

    principal: Decimal
    interest: Decimal = ZERO  # owed: accrued to the day, less what was paid of it
    costs: Decimal = ZERO  # owed: charged, less what was paid of them
    costs_vat: Decimal = ZERO  # the VAT in the costs charged
    # A consumer's 14-day letter named these costs; they are owed from costs_from on, unless paid in time.
    announced: Decimal = ZERO
    costs_from: date | None = None

    @property
    def total(self) -> Decimal:
        return self.principal + self.interest + self.costs

    @property
    def pay_by(self) -> date | None:
        """The last day to pay before announced costs are owed."""
        return self.costs_from - timedelta(days=1) if self.costs_from else None

    @property
    def itemised(self) -> bool:
        return self.interest > ZERO or self.costs > ZERO


def _principal_payments(session: Session, invoice_ids: list[int]) -> dict[int, list[tuple[date, Decimal]]]:
    """Principal allocations with the day their money came in: they stop earning interest after that day."""
    from portal.invoices.models import Invoice
    from portal.ledger.models import Allocation, Payment

    found: dict[int, list[tuple[date, Decimal]]] = {i: [] for i in invoice_ids}
    if not invoice_ids:
        return found
    credit_note = Invoice.__table__.alias("credit_note")
    rows = session.execute(
        select(Allocation.invoice_id, Allocation.amount, Payment.received_on, credit_note.c.issue_date)
        .outerjoin(Payment, Payment.id == Allocation.payment_id)
        .outerjoin(credit_note, credit_note.c.id == Allocation.credit_note_id)
        .where(Allocation.invoice_id.in_(invoice_ids), Allocation.component == "principal")
    ).all()
    for invoice_id, amount, received_on, issued in rows:
        found[invoice_id].append((received_on or issued, amount))
    return found


def claims(
    session: Session,
    organisation,
    debtor,
    invoices: list,
    on: date,
    *,
    pending: dict[int, dict] | None = None,
) -> dict[int, Claim]:
    """Each invoice's claim on ``on``. ``pending`` holds charges about to be made (column -> value per invoice id),
    so that a reminder shows what it adds."""
    pending = pending or {}
    profile = organisation.law_profile(debtor.kind)
    result: dict[int, Claim] = {}
    later: list = []
    for invoice in invoices:
        values = {**_columns(invoice), **pending.get(invoice.id, {})}
        claim = Claim(principal=invoice.open_amount if invoice.status == "open" else ZERO)
        charged, paid, costs_from = values["costs_charged"], values["costs_paid"], values["costs_from"]
        # Paid in full before the costs were owed (a consumer within the 14 days): no costs.
        settled_in_time = invoice.settled_on is not None and costs_from is not None and invoice.settled_on < costs_from
        if charged > paid and not debtor.waive_costs and not settled_in_time:
            if costs_from is not None and costs_from <= on:
                claim.costs = charged - paid
            else:
                claim.announced, claim.costs_from = charged - paid, costs_from
        claim.costs_vat = values["costs_vat"]
        if values["interest_from"] is not None and not debtor.waive_interest and applies(profile, debtor.kind):
            later.append((invoice, values, claim))
        result[invoice.id] = claim
    if later:
        table = interest_rates(session, organisation.id, profile, debtor.kind)
        part_paid = [invoice.id for invoice, _, _ in later if invoice.open_amount != invoice.total]
        payments = _principal_payments(session, part_paid)
        for invoice, values, claim in later:
            last = min(on, invoice.settled_on) if invoice.settled_on else on
            try:
                accrued = interest(
                    table,
                    invoice.total,
                    values["interest_from"] - timedelta(days=1),
                    last,
                    reductions=payments.get(invoice.id, []),
                ).total
            except ValueError:  # the table starts after the interest does: claim none rather than guess
                accrued = ZERO
            claim.interest = max(accrued - values["interest_paid"], ZERO)
    return result


def _columns(invoice) -> dict:
    return {
        "costs_charged": invoice.costs_charged,
        "costs_vat": invoice.costs_vat,
        "costs_paid": invoice.costs_paid,
        "costs_from": invoice.costs_from,
        "interest_from": invoice.interest_from,
        "interest_paid": invoice.interest_paid,
    }


def in_legal_order(claim: Claim, amount: Decimal) -> list[tuple[str, Decimal]]:
    """Money for one invoice split as art. 6:44 BW says: costs, then interest, then principal. What the claim
    cannot take is not in the list (it stays the debtor's credit)."""
    parts, left = [], amount
    for component, owed in (("costs", claim.costs), ("interest", claim.interest), ("principal", claim.principal)):
        part = min(left, owed)
        if part > ZERO:
            parts.append((component, part))
            left -= part
    return parts


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


def received_on(organisation, sent_on: date, channel: str) -> date:
    """When a message counts as received: mail after calendar days, a letter after business days."""
    if channel != "letter":
        return sent_on + timedelta(days=organisation.receipt_days_email)
    day, left = sent_on, organisation.receipt_days_letter
    while left > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return day


def pro_rata(total: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """``total`` split in proportion to ``weights``, to the cent, adding up exactly (largest remainder)."""
    whole = sum(weights, ZERO)
    if whole <= ZERO:
        return [ZERO for _ in weights]
    cents = int(total * 100)
    exact = [Decimal(cents) * w / whole for w in weights]
    parts = [int(x) for x in exact]
    order = sorted(range(len(weights)), key=lambda n: exact[n] - parts[n], reverse=True)
    for n in order[: cents - sum(parts)]:
        parts[n] += 1
    return [Decimal(p) / 100 for p in parts]


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
    if not targets or debtor.waive_costs:
        return charges
    vat_rate = organisation.costs_vat_rate if organisation.costs_add_vat else None
    basis = organisation.costs_basis
    together = basis == "together" or (basis == "auto" and profile == "nl")
    if together:
        costs = collection_costs(profile, debtor.kind, sum((i.open_amount for i in targets), ZERO), vat_rate=vat_rate)
        weights = [i.open_amount for i in targets]
        amounts = list(zip(pro_rata(costs.amount, weights), pro_rata(costs.vat, weights), strict=True))
    else:
        amounts = []
        for invoice in targets:
            costs = collection_costs(profile, debtor.kind, invoice.open_amount, vat_rate=vat_rate)
            amounts.append((costs.amount, costs.vat))
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
    return charges


def record_charges(
    session: Session, organisation_id: int, debtor_id: int, charges: Charges, invoices: list, *, reminder_id: int
) -> list:
    """Write what a sent step added onto its invoices, with a timeline line each (returned). Conditional on nothing
    having been added yet, so that a step sent again (or two reminders racing) adds nothing twice."""
    from portal import events
    from portal.invoices.models import Invoice

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
                        session, organisation_id, "invoice:interest:started", since=change["interest_from"], **common
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
                        "invoice:costs:announced" if notice else "invoice:costs:charged",
                        amount=change["costs_charged"],
                        currency=invoice.currency,
                        **({"pay_by": change["costs_notice_until"]} if notice else {}),
                        **common,
                    )
                )
    return recorded
