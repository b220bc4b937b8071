"""Property test: whatever sequence of ledger operations runs, stored amounts equal what allocations imply."""

from datetime import date
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.invoices.models import Invoice
from portal.ledger.models import Payment
from portal.ledger.service import (
    LedgerError,
    allocate_credit_note,
    allocate_payment,
    ledger_discrepancies,
    record_payment,
)
from portal.money import ZERO
from tests.factories import make_debtor, make_invoice, make_organisation

amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("5000"), places=2)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("invoice"), amounts),
        st.tuples(st.just("credit_note"), amounts),
        st.tuples(st.just("pay_auto"), amounts),
        st.tuples(st.just("pay_one"), amounts, st.integers(0, 20)),
        st.tuples(st.just("pay_two"), amounts, st.integers(0, 20), st.integers(0, 20)),
        st.tuples(st.just("use_credit"), amounts, st.integers(0, 20), st.integers(0, 20)),
        st.tuples(st.just("use_credit_note"), amounts, st.integers(0, 20), st.integers(0, 20)),
    ),
    max_size=25,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_ledger_balances_after_any_sequence(db_session, ops):
    savepoint = db_session.begin_nested()
    try:
        organisation = make_organisation(db_session)
        debtor = make_debtor(db_session, organisation)
        invoices: list[Invoice] = []
        credit_notes: list[Invoice] = []
        payments: list[Payment] = []
        paid_in = ZERO
        billed = ZERO
        for op in ops:
            kind, amount = op[0], op[1]
            try:
                if kind == "invoice":
                    invoices.append(make_invoice(db_session, debtor, amount))
                    billed += amount
                elif kind == "credit_note":
                    credit_notes.append(make_invoice(db_session, debtor, -amount, kind="credit_note"))
                    billed -= amount
                elif kind == "pay_auto":
                    payments.append(
                        record_payment(
                            db_session, organisation.id, debtor.id, amount, "EUR", date(2026, 1, 1), auto_allocate=True
                        )
                    )
                    paid_in += amount
                elif kind == "pay_one" and invoices:
                    target = invoices[op[2] % len(invoices)]
                    payments.append(
                        record_payment(
                            db_session,
                            organisation.id,
                            debtor.id,
                            amount,
                            "EUR",
                            date(2026, 1, 1),
                            allocations=[(target.id, amount)],
                        )
                    )
                    paid_in += amount
                elif kind == "pay_two" and invoices:
                    # Two allocations in one payment: when the second is refused, the first must vanish too.
                    first = (amount / 2).quantize(Decimal("0.01"))
                    split = [
                        (invoices[op[2] % len(invoices)].id, first),
                        (invoices[op[3] % len(invoices)].id, amount - first),
                    ]
                    payments.append(
                        record_payment(
                            db_session,
                            organisation.id,
                            debtor.id,
                            amount,
                            "EUR",
                            date(2026, 1, 1),
                            allocations=[s for s in split if s[1] > ZERO],
                        )
                    )
                    paid_in += amount
                elif kind == "use_credit" and payments and invoices:
                    allocate_payment(
                        db_session, payments[op[2] % len(payments)].id, invoices[op[3] % len(invoices)].id, amount
                    )
                elif kind == "use_credit_note" and credit_notes and invoices:
                    allocate_credit_note(
                        db_session,
                        credit_notes[op[2] % len(credit_notes)].id,
                        invoices[op[3] % len(invoices)].id,
                        amount,
                    )
            except LedgerError:
                pass  # refused operations must leave no trace; the checks below prove it

            assert ledger_discrepancies(db_session, organisation.id) == []
            assert all(i.open_amount >= ZERO for i in invoices + credit_notes)
            assert all(p.unallocated_amount >= ZERO for p in payments)

        # Conservation: what was billed minus what was paid equals open invoices minus credit.
        open_total = sum((i.open_amount for i in invoices), ZERO)
        credit_total = sum((c.open_amount for c in credit_notes), ZERO) + sum(
            (p.unallocated_amount for p in payments), ZERO
        )
        assert open_total - credit_total == billed - paid_in
    finally:
        savepoint.rollback()
