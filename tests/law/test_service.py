"""The supplier's changes to the late-payment law: a debtor's waivers and the organisation's rate tables."""

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.events import Event
from portal.law import service as law
from portal.law.models import LawRate
from portal.law.rates import SEEDS, interest_rates, rate_table
from tests.factories import make_debtor, make_organisation, make_user


@pytest.fixture
def org(db_session):
    return make_organisation(db_session, name="Law B.V.")


@pytest.fixture
def actor(db_session, org):
    return make_user(db_session, org)


def timeline(db_session, debtor) -> list[tuple[str, dict]]:
    events = db_session.scalars(select(Event).where(Event.debtor_id == debtor.id).order_by(Event.id))
    return [(e.kind, e.data) for e in events if e.kind != "debtor:created"]


def own_rows(db_session, org, table) -> list[tuple[date, int]]:
    return [(row.effective_on, row.basis_points) for row in law.own_rates(db_session, org.id, table)]


def test_waiving_and_claiming_again_is_on_the_timeline(db_session, org, actor):
    debtor = make_debtor(db_session, org)
    law.waive(db_session, org.id, debtor.id, "costs", "  Long-standing   customer ", actor.id)
    assert (debtor.waive_costs, debtor.waive_costs_reason) == (True, "Long-standing customer")
    assert debtor.waive_interest is False
    law.waive(db_session, org.id, debtor.id, "interest", "Agreed on the phone", actor.id)

    law.unwaive(db_session, org.id, debtor.id, "costs", actor.id)
    assert (debtor.waive_costs, debtor.waive_costs_reason) == (False, "")
    assert debtor.waive_interest is True
    # Claiming what is claimed already changes nothing and leaves no second line.
    law.unwaive(db_session, org.id, debtor.id, "costs", actor.id)
    db_session.flush()

    assert timeline(db_session, debtor) == [
        ("debtor:costs:waived", {"reason": "Long-standing customer"}),
        ("debtor:interest:waived", {"reason": "Agreed on the phone"}),
        ("debtor:costs:claimed", {"reason": "", "waived_for": "Long-standing customer"}),
    ]


@pytest.mark.parametrize(
    ("part", "reason", "message"),
    [
        ("costs", "", "needs a reason"),
        ("interest", "   ", "needs a reason"),
        ("costs", "x" * 301, "at most 300"),
        ("principal", "Because", "Waive one of costs, interest"),
    ],
)
def test_a_waiver_needs_a_known_part_and_a_reason(db_session, org, actor, part, reason, message):
    debtor = make_debtor(db_session, org)
    with pytest.raises(law.LawError, match=message):
        law.waive(db_session, org.id, debtor.id, part, reason, actor.id)
    assert (debtor.waive_costs, debtor.waive_interest) == (False, False)


def test_a_reason_of_300_characters_is_kept_whole(db_session, org, actor):
    debtor = make_debtor(db_session, org)
    law.waive(db_session, org.id, debtor.id, "costs", "x" * 300, actor.id)
    assert debtor.waive_costs_reason == "x" * 300


def test_another_organisations_debtor_cannot_be_waived(db_session, org, actor):
    theirs = make_debtor(db_session, make_organisation(db_session))
    with pytest.raises(law.LawError, match="No such debtor"):
        law.waive(db_session, org.id, theirs.id, "costs", "Mine now", actor.id)
    with pytest.raises(law.LawError, match="No such debtor"):
        law.unwaive(db_session, org.id, theirs.id, "costs", actor.id)
    assert theirs.waive_costs is False


def test_the_first_added_rate_copies_the_published_ones_in(db_session, org):
    assert own_rows(db_session, org, "nl_commercial") == []
    row = law.add_rate(db_session, org.id, "nl_commercial", date(2026, 7, 1), Decimal("9.5"))
    assert row.basis_points == 950
    seeds = [(day, int(rate * 100)) for day, rate in SEEDS["nl_commercial"]]
    assert own_rows(db_session, org, "nl_commercial") == [*seeds, (date(2026, 7, 1), 950)]
    # The other tables are left on the published rates.
    assert own_rows(db_session, org, "nl_consumer") == own_rows(db_session, org, "ecb_reference") == []
    # Claims read the organisation's table from now on.
    assert rate_table(db_session, org.id, "nl_commercial")[-1] == (date(2026, 7, 1), Decimal("9.50"))
    assert interest_rates(db_session, org.id, "nl", "business")[-1] == (date(2026, 7, 1), Decimal("9.50"))
    added = db_session.scalars(select(Event).where(Event.organisation_id == org.id, Event.kind == "law:rate:added"))
    assert [e.data for e in added] == [{"table": "nl_commercial", "effective_on": "2026-07-01", "rate": "9.5"}]


def test_a_second_edit_copies_nothing_more(db_session, org):
    law.add_rate(db_session, org.id, "ecb_reference", date(2026, 7, 1), Decimal("2"))
    law.add_rate(db_session, org.id, "ecb_reference", date(2027, 1, 1), Decimal("2.25"))
    rows = own_rows(db_session, org, "ecb_reference")
    assert len(rows) == len(SEEDS["ecb_reference"]) + 2 and rows[-1] == (date(2027, 1, 1), 225)
    # The EU profile adds its 8 points to the organisation's reference rates too.
    assert interest_rates(db_session, org.id, "eu", "business")[-1] == (date(2027, 1, 1), Decimal("10.25"))


def test_a_second_rate_from_the_same_day_is_refused(db_session, org):
    law.add_rate(db_session, org.id, "nl_consumer", date(2026, 7, 1), Decimal("4"))
    with pytest.raises(law.LawError, match="already a rate from 2026-07-01"):
        law.add_rate(db_session, org.id, "nl_consumer", date(2026, 7, 1), Decimal("5"))
    # A published day counts too, once copied in.
    with pytest.raises(law.LawError, match="already a rate from 2025-07-01"):
        law.add_rate(db_session, org.id, "nl_consumer", date(2025, 7, 1), Decimal("5"))
    assert own_rows(db_session, org, "nl_consumer")[-1] == (date(2026, 7, 1), 400)


@pytest.mark.parametrize(
    ("rate", "message"),
    [
        (Decimal("100.01"), "from 0 to 100"),
        (Decimal("-0.5"), "from 0 to 100"),
        (Decimal("10.155"), "at most two decimals"),
        (Decimal("NaN"), "from 0 to 100"),
    ],
)
def test_rates_are_percentages_in_hundredths(db_session, org, rate, message):
    with pytest.raises(law.LawError, match=message):
        law.add_rate(db_session, org.id, "nl_commercial", date(2026, 7, 1), rate)


def test_the_bounds_themselves_are_rates(db_session, org):
    assert law.add_rate(db_session, org.id, "nl_commercial", date(2026, 7, 1), Decimal("100")).basis_points == 10000
    assert law.add_rate(db_session, org.id, "nl_commercial", date(2027, 1, 1), Decimal("0.00")).basis_points == 0


def test_an_unknown_table_is_refused(db_session, org):
    with pytest.raises(law.LawError, match="Rate table is one of"):
        law.add_rate(db_session, org.id, "nl_mortgage", date(2026, 7, 1), Decimal("4"))


def test_deleting_a_rate(db_session, org):
    row = law.add_rate(db_session, org.id, "nl_commercial", date(2026, 7, 1), Decimal("9.5"))
    law.delete_rate(db_session, org.id, row.id)
    assert own_rows(db_session, org, "nl_commercial") == [
        (day, int(rate * 100)) for day, rate in SEEDS["nl_commercial"]
    ]
    deleted = db_session.scalar(select(Event).where(Event.organisation_id == org.id, Event.kind == "law:rate:deleted"))
    assert deleted.data == {"table": "nl_commercial", "effective_on": "2026-07-01", "rate": "9.5"}


def test_the_last_rate_of_a_table_stays(db_session, org):
    law.add_rate(db_session, org.id, "nl_consumer", date(2026, 7, 1), Decimal("4"))
    rows = law.own_rates(db_session, org.id, "nl_consumer")
    for row in rows[:-1]:
        law.delete_rate(db_session, org.id, row.id)
    with pytest.raises(law.LawError, match="at least one rate"):
        law.delete_rate(db_session, org.id, rows[-1].id)
    assert own_rows(db_session, org, "nl_consumer") == [(date(2026, 7, 1), 400)]


def test_another_organisations_rate_cannot_be_deleted(db_session, org):
    theirs = make_organisation(db_session)
    law.add_rate(db_session, theirs.id, "nl_commercial", date(2026, 7, 1), Decimal("9.5"))
    their_row = law.own_rates(db_session, theirs.id, "nl_commercial")[0]
    with pytest.raises(law.LawError, match="No such rate"):
        law.delete_rate(db_session, org.id, their_row.id)
    assert db_session.scalar(select(LawRate.id).where(LawRate.id == their_row.id)) == their_row.id
