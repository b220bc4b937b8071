"""What an invoice owes on a day: its claim, one amount everywhere (pages, plans, letters, totals, the ledger).

An invoice's claim has three parts: the principal (its open amount), statutory interest to date and collection
costs. Interest runs from ``Invoice.interest_from`` (set when a step that adds interest is sent) at the rates of the
organisation's tables; costs are fixed when a step that adds them is sent and owed from ``Invoice.costs_from`` on
(for a consumer under Dutch law, only after the 14-day letter's period). What was paid of each part is kept on the
invoice; a debtor's waiver makes the unpaid rest of a part nothing.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.invoices.models import Invoice
from portal.law.calculate import applies, interest
from portal.law.rates import interest_rates
from portal.ledger.models import Allocation, Payment
from portal.money import ZERO


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
