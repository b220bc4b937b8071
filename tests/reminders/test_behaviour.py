from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select

from portal.events import Event
from portal.ledger.service import record_payment
from portal.reminders.behaviour import Profile, Settings, choose, effective_scenario, evaluate, profile
from portal.scenarios.models import Scenario
from tests.factories import make_debtor, make_invoice, make_organisation

TODAY = date(2026, 6, 1)


def _paid(session, debtor, *, days_late: int, settled_on: date, total: str = "100.00"):
    """An invoice paid in full on ``settled_on``, ``days_late`` days after its due date."""
    due = settled_on - timedelta(days=days_late)
    invoice = make_invoice(session, debtor, total, issue_date=due - timedelta(days=14), due_date=due)
    record_payment(
        session,
        debtor.organisation_id,
        debtor.id,
        Decimal(total),
        "EUR",
        settled_on,
        allocations=[(invoice.id, Decimal(total))],
    )
    return invoice


def _history(session, debtor, days_late: list[int], *, last_settled: date = TODAY - timedelta(days=5)):
    """Paid invoices, newest last, a week apart."""
    for weeks_ago, late in enumerate(reversed(days_late)):
        _paid(session, debtor, days_late=late, settled_on=last_settled - timedelta(weeks=weeks_ago))


def _scenario(session, organisation, key) -> Scenario:
    return session.scalar(select(Scenario).filter_by(organisation_id=organisation.id, key=key))


def _setup(db_session):
    organisation = make_organisation(db_session)
    return organisation, make_debtor(db_session, organisation)


def test_good_payer_becomes_friendly_after_two_daily_evaluations_not_one(db_session):
    organisation, debtor = _setup(db_session)
    _history(db_session, debtor, [0, 0, 0, 0])

    first = evaluate(db_session, organisation.id, TODAY)
    assert first["pending"] == 1 and first["changed"] == 0
    assert effective_scenario(db_session, debtor, TODAY).key == "standard"
    assert debtor.scenario_candidate_days == 1 and "if this holds tomorrow" in debtor.scenario_reason

    second = evaluate(db_session, organisation.id, TODAY + timedelta(days=1))
    assert second["changed"] == 1
    assert effective_scenario(db_session, debtor, TODAY + timedelta(days=1)).key == "friendly"
    assert debtor.scenario_reason == "friendly: paid on average 0 days late over the last 4 invoices"
    assert debtor.scenario_candidate_id is None and debtor.scenario_candidate_days == 0


def test_change_is_recorded_as_an_event_with_from_to_and_reason(db_session):
    organisation, debtor = _setup(db_session)
    _history(db_session, debtor, [0, 0, 0, 0])
    evaluate(db_session, organisation.id, TODAY)
    kinds = select(Event).filter_by(debtor_id=debtor.id, kind="debtor:scenario:changed")
    assert db_session.scalars(kinds).all() == []  # pending is not a change

    evaluate(db_session, organisation.id, TODAY + timedelta(days=1))
    (event,) = db_session.scalars(kinds).all()
    assert event.organisation_id == organisation.id
    assert event.data == {"from": "standard", "to": "friendly", "reason": debtor.scenario_reason}


def test_bad_payer_becomes_strict_with_the_reason_in_words(db_session):
    organisation, debtor = _setup(db_session)
    settled = TODAY - timedelta(days=10)  # same settlement day: equal weights, an exact average
    for late in (30, 30, 0, 30, 30, 30):
        _paid(db_session, debtor, days_late=late, settled_on=settled)
    make_invoice(db_session, debtor, "250.00", issue_date=TODAY, due_date=TODAY + timedelta(days=10))

    found = profile(db_session, organisation.id, [debtor.id], TODAY)[debtor.id]
    assert (found.paid_count, found.recent_count, found.recent_late) == (6, 6, 5)
    assert found.weighted_days_late == 25
    assert found.open_exposure == Decimal("250.00")
    assert found.broken_promises == 0 and found.disputes == 0

    evaluate(db_session, organisation.id, TODAY)
    evaluate(db_session, organisation.id, TODAY + timedelta(days=1))
    assert effective_scenario(db_session, debtor, TODAY + timedelta(days=1)).key == "strict"
    assert debtor.scenario_reason == (
        "strict: 5 of the last 6 invoices paid more than 20 days late (on average 25 days late)"
    )


def test_payer_between_thresholds_stays_standard(db_session):
    organisation, debtor = _setup(db_session)
    _history(db_session, debtor, [10, 10, 10, 10])
    for day in range(3):
        counts = evaluate(db_session, organisation.id, TODAY + timedelta(days=day))
        assert counts["changed"] == 0 and counts["pending"] == 0
    assert debtor.scenario_id is None and debtor.scenario_candidate_id is None
    assert debtor.scenario_reason == "standard: paid on average 10 days late over the last 4 invoices"


def test_thresholds_are_crossed_only_by_their_margin():
    settings = Settings()  # strict from 20, friendly up to 3, margin 3
    late = Profile(1, paid_count=6, weighted_days_late=21, recent_count=6, recent_late=4)
    assert choose(late, settings)[0] == "strict"  # the plain threshold
    assert choose(late, settings, "standard")[0] == "standard"  # not past 20 + 3 yet
    assert choose(late, settings, "strict")[0] == "strict"
    assert choose(Profile(1, paid_count=6, weighted_days_late=23), settings, "standard")[0] == "strict"
    assert choose(Profile(1, paid_count=6, weighted_days_late=17.5), settings, "strict")[0] == "strict"
    assert choose(Profile(1, paid_count=6, weighted_days_late=16.9), settings, "strict")[0] == "standard"
    assert choose(Profile(1, paid_count=6, weighted_days_late=2), settings, "standard")[0] == "standard"
    assert choose(Profile(1, paid_count=6, weighted_days_late=5.5), settings, "friendly")[0] == "friendly"
    assert choose(Profile(1, paid_count=6, weighted_days_late=6.5), settings, "friendly")[0] == "standard"
    assert choose(Profile(1, paid_count=6, weighted_days_late=1), settings) == (
        "friendly",
        "friendly: paid on average 1 day late over the last 6 invoices",
    )


def test_debtor_hovering_within_the_margin_does_not_flip(db_session):
    organisation, debtor = _setup(db_session)
    _history(db_session, debtor, [25, 25, 25, 25])
    evaluate(db_session, organisation.id, TODAY)
    evaluate(db_session, organisation.id, TODAY + timedelta(days=1))
    assert effective_scenario(db_session, debtor, TODAY).key == "strict"

    # Two prompt payments bring the average to about 19: under the threshold, but within its margin.
    _paid(db_session, debtor, days_late=10, settled_on=TODAY)
    _paid(db_session, debtor, days_late=10, settled_on=TODAY)
    found = profile(db_session, organisation.id, [debtor.id], TODAY + timedelta(days=2))[debtor.id]
    assert 17 <= found.weighted_days_late < 20
    for day in range(2, 6):
        counts = evaluate(db_session, organisation.id, TODAY + timedelta(days=day))
        assert counts["changed"] == 0 and counts["pending"] == 0
    assert effective_scenario(db_session, debtor, TODAY + timedelta(days=5)).key == "strict"


def test_a_candidate_that_stops_holding_starts_over(db_session):
    organisation, debtor = _setup(db_session)
    _history(db_session, debtor, [0, 0, 0, 0])
    evaluate(db_session, organisation.id, TODAY)
    assert debtor.scenario_candidate_days == 1

    for _ in range(4):  # the next day the debtor looks standard again
        _paid(db_session, debtor, days_late=15, settled_on=TODAY)
    evaluate(db_session, organisation.id, TODAY + timedelta(days=1))
    assert debtor.scenario_candidate_id is None and debtor.scenario_candidate_days == 0
    assert debtor.scenario_id is None


def test_evaluating_twice_the_same_day_changes_nothing(db_session):
    organisation, debtor = _setup(db_session)
    _history(db_session, debtor, [0, 0, 0, 0])
    assert evaluate(db_session, organisation.id, TODAY)["evaluated"] == 1
    again = evaluate(db_session, organisation.id, TODAY)
    assert again == {"evaluated": 0, "changed": 0, "pending": 0, "skipped": 1}
    assert debtor.scenario_candidate_days == 1 and debtor.scenario_id is None


def test_override_wins_until_its_end_date_then_the_computed_scenario_returns(db_session):
    organisation, debtor = _setup(db_session)
    _history(db_session, debtor, [0, 0, 0, 0])
    evaluate(db_session, organisation.id, TODAY)
    evaluate(db_session, organisation.id, TODAY + timedelta(days=1))
    strict = _scenario(db_session, organisation, "strict")
    debtor.override_scenario_id = strict.id
    debtor.override_until = TODAY + timedelta(days=5)
    db_session.flush()

    evaluate(db_session, organisation.id, TODAY + timedelta(days=2))
    assert effective_scenario(db_session, debtor, TODAY + timedelta(days=5)) == strict
    assert effective_scenario(db_session, debtor, TODAY + timedelta(days=6)).key == "friendly"

    debtor.override_until = None  # no end date: for good
    assert effective_scenario(db_session, debtor, TODAY + timedelta(days=365)) == strict


def test_new_debtor_gets_the_default(db_session):
    organisation, debtor = _setup(db_session)
    _history(db_session, debtor, [40, 40])  # late, but too little history to judge
    counts = evaluate(db_session, organisation.id, TODAY)
    evaluate(db_session, organisation.id, TODAY + timedelta(days=1))
    assert counts["evaluated"] == 1 and counts["pending"] == 0
    assert debtor.scenario_id is None
    assert debtor.scenario_reason == "new customer: fewer than 3 paid invoices"
    default = effective_scenario(db_session, debtor, TODAY)
    assert default.key == "standard" and default.is_default

    fresh = make_debtor(db_session, organisation)  # no invoices at all, not yet evaluated
    assert effective_scenario(db_session, fresh, TODAY) == default


def test_recent_late_payments_count_more_than_old_ones(db_session):
    organisation = make_organisation(db_session)
    reformed, slipping = make_debtor(db_session, organisation), make_debtor(db_session, organisation)
    long_ago, lately = TODAY - timedelta(days=720), TODAY - timedelta(days=10)
    for _ in range(3):
        _paid(db_session, reformed, days_late=40, settled_on=long_ago)
        _paid(db_session, reformed, days_late=0, settled_on=lately)
        _paid(db_session, slipping, days_late=0, settled_on=long_ago)
        _paid(db_session, slipping, days_late=40, settled_on=lately)

    found = profile(db_session, organisation.id, None, TODAY)
    # Four half-lives apart: the old payments weigh about a sixteenth of the recent ones.
    assert found[reformed.id].weighted_days_late < 3 < 37 < found[slipping.id].weighted_days_late
    settings = Settings()
    assert choose(found[reformed.id], settings)[0] == "friendly"
    assert choose(found[slipping.id], settings)[0] == "strict"


def test_profiles_leave_out_open_and_credit_documents_and_other_organisations(db_session):
    organisation, debtor = _setup(db_session)
    _history(db_session, debtor, [5, 5, 5])
    make_invoice(
        db_session, debtor, "80.00", issue_date=TODAY - timedelta(days=90), due_date=TODAY - timedelta(days=60)
    )
    other_org, other = _setup(db_session)
    _history(db_session, other, [50, 50, 50])

    found = profile(db_session, organisation.id, None, TODAY)
    assert set(found) == {debtor.id}
    assert found[debtor.id].paid_count == 3 and found[debtor.id].weighted_days_late == 5
    assert found[debtor.id].open_exposure == Decimal("80.00")


def test_debtor_page_shows_the_scenario_and_why(client, auth, db_session):
    from datetime import timedelta

    from portal.reminders.behaviour import evaluate
    from portal.scenarios.defaults import ensure_default_scenarios
    from tests.factories import make_debtor, make_organisation, make_user

    organisation = make_organisation(db_session)
    ensure_default_scenarios(db_session, organisation.id)
    debtor = make_debtor(db_session, organisation, name="Page Debtor")
    user = make_user(db_session, organisation)
    auth.login(user.email)
    assert "the default for new debtors" in client.get(f"/cockpit/debtors/{debtor.id}").text
    today = organisation.today()
    evaluate(db_session, organisation.id, today - timedelta(days=1))
    evaluate(db_session, organisation.id, today)
    db_session.refresh(debtor)
    page = client.get(f"/cockpit/debtors/{debtor.id}").text
    assert "Standard" in page and debtor.scenario_reason and debtor.scenario_reason in page


def test_cli_evaluate_runs_once_a_day(app, db_session):
    from tests.factories import make_debtor, make_organisation

    organisation = make_organisation(db_session, slug="cli-eval")
    make_debtor(db_session, organisation)
    runner = app.test_cli_runner()
    first = runner.invoke(args=["reminders", "evaluate", "--org", "cli-eval", "--today", "2026-11-20"])
    assert first.exit_code == 0 and "cli-eval: evaluated=1" in first.output
    again = runner.invoke(args=["reminders", "evaluate", "--org", "cli-eval", "--today", "2026-11-20"])
    assert "evaluated=0" in again.output
