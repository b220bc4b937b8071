"""Paying a payment plan: an installment through Mollie (the simulator), and a state machine of plans paid online, in
part, too much, twice by a repeated webhook, or not at all, that keeps the plan's invariants."""

from datetime import timedelta
from decimal import Decimal

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from sqlalchemy import func, select

from portal.arrangements import service as arrangements
from portal.ledger.models import Payment
from portal.ledger.service import ledger_discrepancies, record_payment
from portal.payments import service as payments
from portal.payments.models import MolliePayment
from tests.conftest import csrf_from
from tests.factories import make_debtor, make_invoice, make_organisation
from tests.payments.conftest import API_KEY
from tests.payments.test_mollie_payments import visitor, webhook

MAIL_FROM = "Duly <no-reply@duly.test>"
URLS = payments.Urls(base="http://localhost", redirect_path="/s/payments/{id}", webhook_path="/mollie/webhook")


def _plan(session, totals=("300.00", "150.00"), count=3):
    organisation = make_organisation(session, name="Termijn B.V.", mollie_api_key=API_KEY, business_days_only=False)
    debtor = make_debtor(session, organisation, name="Klant", email="klant@example.com", language="nl")
    invoices = [make_invoice(session, debtor, t, days_overdue=10 - n) for n, t in enumerate(totals)]
    today = organisation.today()
    plan = arrangements.create(
        session,
        organisation.id,
        debtor.id,
        [i.id for i in invoices],
        count,
        "monthly",
        today,
        actor_user_id=None,
        mail_from=MAIL_FROM,
    )
    return organisation, debtor, plan


def test_the_next_installment_is_paid_through_mollie_and_booked_once(app, live_db, mollie_sim):
    organisation, debtor, plan = _plan(live_db)
    live_db.commit()
    plan_id, org_id, today = plan.id, organisation.id, organisation.today()
    client = visitor(app, live_db, debtor)
    page = client.get("/s/").text
    assert "Termijn 1 betalen" in page and "150,00" in page

    response = client.post(f"/s/plans/{plan_id}/pay", data={"csrf_token": csrf_from(page)})

    assert response.status_code == 303 and response.headers["Location"].startswith(mollie_sim.url + "/checkout/")
    mp = live_db.scalar(select(MolliePayment))
    assert mp.amount == Decimal("150.00") and "termijn 1 van 3" in mp.description  # the debtor's language
    assert [(i.amount) for i in mp.items] == [Decimal("150.00")]  # the oldest invoice first
    mollie_id = mp.mollie_id
    live_db.rollback()
    mollie_sim.set_status(mollie_id, "paid")
    assert webhook(client, mollie_id).status_code == 200
    assert webhook(client, mollie_id).status_code == 200  # Mollie rings again: nothing more is booked
    live_db.rollback()
    assert live_db.scalar(select(func.count()).select_from(Payment)) == 1
    plan = live_db.get(type(plan), plan_id)
    state = arrangements.progress(plan, today)
    assert [r.status for r in state.rows][0] == "paid" and state.next.installment.position == 2
    assert ledger_discrepancies(live_db, org_id) == []
    live_db.rollback()  # SQLite: end the read before the page (another connection) is asked for
    assert "Termijn 2 betalen" in client.get("/s/").text


def test_a_plan_keeps_its_invariants_whatever_is_paid(app, db_session, mollie_sim):  # noqa: C901 - a state machine over the fixtures; each rule is short
    class PlanMachine(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.organisation, self.debtor, self.plan = _plan(
                db_session, totals=("400.00", "250.00", "100.01"), count=4
            )
            self.today = self.organisation.today()
            self.booked_online = 0

        def _state(self):
            db_session.expire_all()
            return arrangements.progress(self.plan, self.today)

        def _pay(self, amount: Decimal):
            parts = arrangements.portions(self.plan, amount)
            if not parts:
                return
            record_payment(
                db_session,
                self.organisation.id,
                self.debtor.id,
                amount,
                "EUR",
                self.today,
                allocations=[(invoice.id, part) for invoice, part in parts],
            )
            db_session.flush()

        @precondition(lambda self: self.plan.status == "active")
        @rule(repeats=st.integers(1, 3))
        def pay_installment_online(self, repeats):
            row = self._state().next
            if row is None:
                return
            parts = arrangements.portions(self.plan, row.remaining)
            mp = payments.start(
                db_session,
                self.organisation,
                self.debtor,
                [invoice.id for invoice, _ in parts],
                urls=URLS,
                endpoint=app.config["MOLLIE_API_ENDPOINT"],
                locale="nl_NL",
                amounts={invoice.id: part for invoice, part in parts},
                installment=row.installment,
            )
            mollie_sim.set_status(mp.mollie_id, "paid")
            for _ in range(repeats):  # the webhook, once or repeated
                payments.sync(db_session, mp.mollie_id, endpoint=app.config["MOLLIE_API_ENDPOINT"])
            self.booked_online += 1

        @precondition(lambda self: self.plan.status == "active")
        @rule(share=st.integers(1, 99))
        def pay_part(self, share):
            row = self._state().next
            if row is not None:
                self._pay((row.remaining * share / 100).quantize(Decimal("0.01")) or Decimal("0.01"))

        @precondition(lambda self: self.plan.status == "active")
        @rule(extra=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("500.00"), places=2))
        def overpay(self, extra):
            row = self._state().next
            if row is not None:
                self._pay(row.remaining + extra)

        @precondition(lambda self: self.plan.status == "active")
        @rule()
        def time_passes_past_the_next_due_date(self):
            row = self._state().next
            if row is None:
                return
            self.today = row.installment.due_on + timedelta(days=self.organisation.arrangement_grace_days + 1)
            arrangements.check(db_session, self.organisation.id, self.today, mail_from=MAIL_FROM)
            assert self.plan.status == "broken"

        @rule()
        def the_clock_checks(self):
            arrangements.check(db_session, self.organisation.id, self.today, mail_from=MAIL_FROM)

        @invariant()
        def installments_sum_to_the_total_and_fill_in_order(self):
            state = self._state()
            amounts = [r.installment.amount for r in state.rows]
            assert sum(amounts) == self.plan.total and max(amounts) - min(amounts) <= Decimal("0.01")
            paid = [r.paid for r in state.rows]
            assert sum(paid) == state.settled <= self.plan.total
            for earlier, later in zip(state.rows, state.rows[1:], strict=False):
                assert later.paid == 0 or earlier.remaining == 0

        @invariant()
        def the_ledger_agrees_and_each_mollie_payment_is_booked_once(self):
            assert ledger_discrepancies(db_session, self.organisation.id) == []
            mollie = db_session.scalar(
                select(func.count())
                .select_from(Payment)
                .where(Payment.organisation_id == self.organisation.id, Payment.method == "mollie")
            )
            assert mollie == self.booked_online

        @invariant()
        def a_plan_paid_in_full_completes_at_the_next_check(self):
            if self.plan.status == "completed":
                assert self._state().settled == self.plan.total

    run_state_machine_as_test(
        PlanMachine,
        settings=settings(
            max_examples=12,
            stateful_step_count=8,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
