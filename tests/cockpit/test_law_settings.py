"""The late-payment law in the cockpit: settings, the steps that claim, a debtor's waivers and the rate tables."""

import re
from datetime import date

import pytest
from sqlalchemy import select

from portal.law.models import LawRate
from portal.law.rates import SEEDS
from portal.scenarios.defaults import ensure_default_scenarios
from portal.scenarios.models import Scenario
from tests.conftest import csrf_from
from tests.factories import make_debtor, make_user

SETTINGS = {
    "name": "Acme B.V.",
    "timezone": "Europe/Amsterdam",
    "locale": "en",
    "home_currency": "EUR",
    "sender_name": "Acme",
    "sender_email": "ar@example.com",
    "iban": "",
    "bic": "",
    "reference_scheme": "rf",
    "behaviour_friendly_max_days": "3",
    "behaviour_strict_min_days": "20",
    "behaviour_margin_days": "2",
    "behaviour_half_life_days": "120",
    "behaviour_min_paid": "3",
    "send_hour": "8",
    "send_until_hour": "18",
    "min_gap_days": "5",
    "holiday_country": "NL",
    "link_lifetime_days": "30",
    "brand_colour": "#1e6b52",
    "promise_max_days": "21",
    "promise_grace_days": "2",
    "paid_claim_hold_days": "5",
    "arrangement_max_installments": "10",
    "arrangement_min_installment": "50",
    "arrangement_max_total": "5000",
    "arrangement_max_days": "300",
    "arrangement_auto_installments": "3",
    "arrangement_auto_total": "750",
    "arrangement_auto_days": "90",
    "arrangement_grace_days": "5",
    "law_business": "nl",
    "law_consumer": "none",
    "costs_add_vat": "y",
    "costs_vat_rate": "9",
    "costs_basis": "per_invoice",
    "receipt_days_email": "0",
    "receipt_days_letter": "3",
}


@pytest.fixture
def owner(client, auth, db_session, org):
    user = make_user(db_session, org, role="owner")
    auth.login(user.email)
    return user


@pytest.fixture
def viewer(client, auth, db_session, org):
    user = make_user(db_session, org, role="viewer")
    auth.login(user.email)
    return user


# Settings


def test_the_settings_page_has_the_late_payment_section(client, owner):
    page = client.get("/cockpit/settings").text
    assert "Late-payment law" in page
    for label in (
        "Netherlands (WIK, statutory interest)",
        "EU directive (business debtors only)",
        "Automatic (together under WIK, per invoice for EUR 40)",
        "Together per letter",
        "Book payments to costs, then interest, then principal (art. 6:44 BW)",
    ):
        assert label in page
    # An organisation starts with no legal profile: nothing is claimed until the supplier says so.
    assert '<option selected value="none">None</option>' in page


def test_saving_the_late_payment_settings(client, db_session, org, owner):
    token = csrf_from(client.get("/cockpit/settings").text)
    response = client.post("/cockpit/settings", data={**SETTINGS, "csrf_token": token})
    assert response.status_code == 303
    db_session.refresh(org)
    assert (org.law_business, org.law_consumer, org.costs_basis) == ("nl", "none", "per_invoice")
    assert (org.costs_add_vat, org.costs_vat_rate) == (True, 9)
    assert (org.receipt_days_email, org.receipt_days_letter) == (0, 3)
    assert org.legal_order is False  # unticked
    page = client.get("/cockpit/settings").text
    assert '<option selected value="per_invoice">' in page
    assert re.search(r'<input[^>]*name="costs_vat_rate"[^>]*value="9"', page)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("costs_vat_rate", "31", "Number must be between 0 and 30"),
        ("receipt_days_letter", "11", "Number must be between 0 and 10"),
        ("receipt_days_email", "", "This field is required"),
        ("law_consumer", "us", "Not a valid choice"),
        ("costs_basis", "per_letter", "Not a valid choice"),
    ],
)
def test_a_bad_late_payment_setting_comes_back_with_its_message(client, db_session, org, owner, name, value, message):
    token = csrf_from(client.get("/cockpit/settings").text)
    response = client.post("/cockpit/settings", data={**SETTINGS, name: value, "csrf_token": token})
    assert response.status_code == 422 and message in response.text
    db_session.refresh(org)
    assert (org.law_business, org.costs_vat_rate, org.receipt_days_letter) == ("none", 21, 2)


def test_a_controller_cannot_change_settings(client, signed_in):
    token = csrf_from(client.get("/cockpit/").text)
    assert client.post("/cockpit/settings", data={**SETTINGS, "csrf_token": token}).status_code == 403


# Scenario steps


def scenario(db_session, org, key: str) -> Scenario:
    ensure_default_scenarios(db_session, org.id)
    return db_session.scalar(select(Scenario).where(Scenario.organisation_id == org.id, Scenario.key == key))


def step_form(step, token: str, **changes) -> dict:
    data = {
        "csrf_token": token,
        "anchor": step.anchor,
        "offset_days": str(step.offset_days),
        "channel": step.channel,
        "tone": step.tone,
        "subject_nl": step.subject_nl,
        "body_nl": step.body_nl,
        "subject_en": step.subject_en,
        "body_en": step.body_en,
    }
    for flag in ("include_pay_link", "is_final_notice", "adds_costs", "adds_interest"):
        if getattr(step, flag):
            data[flag] = "y"
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_the_ready_scenarios_claim_on_the_final_notice(db_session, org):
    claiming = {
        key: [(s.position, s.adds_costs, s.adds_interest) for s in scenario(db_session, org, key).steps]
        for key in ("friendly", "standard", "strict")
    }
    assert claiming["friendly"] == [(1, False, False), (2, False, False), (3, False, False), (4, False, False)]
    assert claiming["standard"] == [(1, False, False), (2, False, False), (3, False, False), (4, True, True)]
    # Strict starts interest with its second reminder, a week after the due date.
    assert claiming["strict"] == [(1, False, False), (2, False, True), (3, False, False), (4, True, True)]
    for key in ("standard", "strict"):
        final = [s for s in scenario(db_session, org, key).steps if s.is_final_notice]
        assert [(s.adds_costs, s.adds_interest) for s in final] == [(True, True)]


def test_the_step_checkboxes_are_saved_and_shown(client, db_session, org, signed_in):
    step = scenario(db_session, org, "friendly").steps[1]
    url = f"/cockpit/scenarios/{step.scenario_id}/steps/{step.id}"
    page = client.get(url).text
    assert "Adds collection costs" in page and "Starts statutory interest" in page
    response = client.post(url, data=step_form(step, csrf_from(page), adds_costs="y"))
    assert response.status_code == 303
    db_session.refresh(step)
    assert (step.adds_costs, step.adds_interest) == (True, False)
    listing = client.get("/cockpit/scenarios").text
    friendly = listing[listing.index("<h2>Friendly") : listing.index("<h2>Standard")]
    assert friendly.count('title="Adds collection costs">costs</span>') == 1
    assert 'title="Starts statutory interest">interest</span>' not in friendly

    response = client.post(url, data=step_form(step, csrf_from(page), adds_costs=None, adds_interest="y"))
    assert response.status_code == 303
    db_session.refresh(step)
    assert (step.adds_costs, step.adds_interest) == (False, True)


def test_a_viewer_cannot_change_what_a_step_claims(client, db_session, org, viewer):
    step = scenario(db_session, org, "friendly").steps[1]
    url = f"/cockpit/scenarios/{step.scenario_id}/steps/{step.id}"
    token = csrf_from(client.get(url).text)
    assert client.post(url, data=step_form(step, token, adds_costs="y")).status_code == 403
    db_session.refresh(step)
    assert step.adds_costs is False


# Waivers


def test_waiving_costs_needs_a_reason(client, db_session, org, signed_in):
    debtor = make_debtor(db_session, org, name="Slow Payer B.V.")
    url = f"/cockpit/debtors/{debtor.id}"
    page = client.get(url).text
    assert "Waive collection costs" in page and "Waive statutory interest" in page
    token = csrf_from(page)

    response = client.post(f"{url}/waive", data={"part": "costs", "costs-reason": "  ", "csrf_token": token})
    assert response.status_code == 422 and "Say why: a waiver needs a reason." in response.text
    assert 'id="costs-reason"' in response.text and 'aria-invalid="true"' in response.text
    too_long = client.post(f"{url}/waive", data={"part": "costs", "costs-reason": "x" * 301, "csrf_token": token})
    assert too_long.status_code == 422 and "Field cannot be longer than 300 characters." in too_long.text
    db_session.refresh(debtor)
    assert debtor.waive_costs is False

    response = client.post(
        f"{url}/waive", data={"part": "costs", "costs-reason": "Customer for 20 years", "csrf_token": token}
    )
    assert response.status_code == 303 and response.headers["Location"].endswith(url)
    db_session.refresh(debtor)
    assert (debtor.waive_costs, debtor.waive_costs_reason, debtor.waive_interest) == (
        True,
        "Customer for 20 years",
        False,
    )
    page = client.get(url).text
    assert "Collection costs waived</span> Customer for 20 years" in page
    assert "Collection costs waived: Customer for 20 years" in page  # the timeline
    assert "Waive collection costs" not in page and "Claim again" in page


def test_claiming_again(client, db_session, org, signed_in):
    debtor = make_debtor(db_session, org)
    url = f"/cockpit/debtors/{debtor.id}"
    token = csrf_from(client.get(url).text)
    client.post(f"{url}/waive", data={"part": "interest", "interest-reason": "Goodwill", "csrf_token": token})
    db_session.refresh(debtor)
    assert debtor.waive_interest is True

    response = client.post(f"{url}/claim", data={"part": "interest", "csrf_token": token})
    assert response.status_code == 303
    db_session.refresh(debtor)
    assert (debtor.waive_interest, debtor.waive_interest_reason) == (False, "")
    page = client.get(url).text
    assert "Statutory interest claimed again (waived for “Goodwill”)" in page
    assert "Waive statutory interest" in page


def test_htmx_sends_the_token_in_a_header(client, db_session, org, signed_in):
    debtor = make_debtor(db_session, org)
    url = f"/cockpit/debtors/{debtor.id}"
    token = csrf_from(client.get(url).text)
    response = client.post(
        f"{url}/waive",
        data={"part": "costs", "costs-reason": "Small amounts"},
        headers={"HX-Request": "true", "HX-Boosted": "true", "X-CSRFToken": token},
    )
    assert response.status_code == 303
    db_session.refresh(debtor)
    assert debtor.waive_costs is True


def test_a_waiver_without_the_token_is_refused(client, db_session, org, signed_in):
    debtor = make_debtor(db_session, org)
    response = client.post(f"/cockpit/debtors/{debtor.id}/waive", data={"part": "costs", "costs-reason": "Why not"})
    assert response.status_code == 400
    db_session.refresh(debtor)
    assert debtor.waive_costs is False


def test_an_unknown_part_is_a_bad_request(client, db_session, org, signed_in):
    debtor = make_debtor(db_session, org)
    url = f"/cockpit/debtors/{debtor.id}"
    token = csrf_from(client.get(url).text)
    data = {"part": "principal", "principal-reason": "All of it", "csrf_token": token}
    assert client.post(f"{url}/waive", data=data).status_code == 400
    assert client.post(f"{url}/claim", data=data).status_code == 400


def test_a_viewer_sees_waivers_but_cannot_make_them(client, db_session, org, viewer):
    debtor = make_debtor(db_session, org)
    debtor.waive_interest, debtor.waive_interest_reason = True, "Settled in court"
    db_session.flush()
    url = f"/cockpit/debtors/{debtor.id}"
    page = client.get(url).text
    assert "Statutory interest waived</span> Settled in court" in page
    assert "Waive collection costs" not in page and "Claim again" not in page
    token = csrf_from(page)
    waive = {"part": "costs", "costs-reason": "Because", "csrf_token": token}
    assert client.post(f"{url}/waive", data=waive).status_code == 403
    assert client.post(f"{url}/claim", data={"part": "interest", "csrf_token": token}).status_code == 403
    db_session.refresh(debtor)
    assert (debtor.waive_costs, debtor.waive_interest) == (False, True)


# Rate tables


def rows_of(db_session, org, table: str) -> list[tuple[date, int]]:
    rows = db_session.execute(
        select(LawRate.effective_on, LawRate.basis_points)
        .where(LawRate.organisation_id == org.id, LawRate.rate_table == table)
        .order_by(LawRate.effective_on)
    )
    return [(day, points) for day, points in rows]


def test_the_law_page_shows_the_published_rates_until_changed(client, signed_in):
    page = client.get("/cockpit/law").text
    for table in ("nl_commercial", "nl_consumer", "ecb_reference"):
        assert f'id="rates-{table}"' in page
    assert page.count("published rates</span>") == 3 and "10.15%" in page and "Delete" not in page
    assert 'name="nl_commercial-rate"' in page and 'name="ecb_reference-effective_on"' in page


def test_adding_and_deleting_a_rate(client, db_session, org, signed_in):
    token = csrf_from(client.get("/cockpit/law").text)
    response = client.post(
        "/cockpit/law/rates",
        data={
            "table": "nl_commercial",
            "nl_commercial-effective_on": "2026-07-01",
            "nl_commercial-rate": "9,75",
            "csrf_token": token,
        },
    )
    assert response.status_code == 303 and response.headers["Location"].endswith("/cockpit/law#rates-nl_commercial")
    seeds = [(day, int(rate * 100)) for day, rate in SEEDS["nl_commercial"]]
    assert rows_of(db_session, org, "nl_commercial") == [*seeds, (date(2026, 7, 1), 975)]
    assert rows_of(db_session, org, "nl_consumer") == []
    page = client.get("/cockpit/law").text
    assert "9.75%" in page and page.count("published rates</span>") == 2
    assert "Dutch commercial interest rate of 9.75% from 2026-07-01 added" in client.get("/cockpit/").text

    # Deleting a copied published rate: the calculator then reckons with the rate before it.
    july = db_session.scalar(
        select(LawRate).where(LawRate.organisation_id == org.id, LawRate.effective_on == date(2025, 7, 1))
    )
    assert july.rate_table == "nl_commercial"
    response = client.post(f"/cockpit/law/rates/{july.id}/delete", data={"csrf_token": token})
    assert response.status_code == 303
    assert (date(2025, 7, 1), 1015) not in rows_of(db_session, org, "nl_commercial")
    calculated = client.get(
        "/cockpit/law",
        query_string={
            "profile": "nl",
            "kind": "business",
            "principal": "1000",
            "due": "2025-06-15",
            "paid": "2025-07-15",
        },
    ).text
    assert "11.15%" in calculated and "10.15%" not in calculated[: calculated.index('id="law-rates"')]


@pytest.mark.parametrize(
    ("day", "rate", "message"),
    [
        ("2025-07-01", "10", "There is already a rate from 2025-07-01"),
        ("2026-07-01", "12.345", "A rate has at most two decimals."),
        ("2026-07-01", "100.5", "A rate is from 0 to 100%."),
        ("2026-07-01", "lots", "A rate is a number, like 10.15."),
        ("", "10", "This field is required."),
    ],
)
def test_a_bad_rate_comes_back_with_its_message(client, db_session, org, signed_in, day, rate, message):
    token = csrf_from(client.get("/cockpit/law").text)
    response = client.post(
        "/cockpit/law/rates",
        data={"table": "nl_consumer", "nl_consumer-effective_on": day, "nl_consumer-rate": rate, "csrf_token": token},
    )
    assert response.status_code == 422 and message in response.text
    assert rows_of(db_session, org, "nl_consumer") == []  # the copy of the published rates is undone as well


def test_the_last_rate_cannot_be_deleted(client, db_session, org, signed_in):
    db_session.add(
        LawRate(organisation_id=org.id, rate_table="nl_consumer", effective_on=date(2026, 1, 1), basis_points=400)
    )
    db_session.flush()
    [only] = db_session.scalars(select(LawRate).where(LawRate.organisation_id == org.id)).all()
    token = csrf_from(client.get("/cockpit/law").text)
    response = client.post(f"/cockpit/law/rates/{only.id}/delete", data={"csrf_token": token}, follow_redirects=True)
    assert "A table keeps at least one rate" in response.text
    assert rows_of(db_session, org, "nl_consumer") == [(date(2026, 1, 1), 400)]


def test_rates_need_the_token(client, db_session, org, signed_in):
    response = client.post(
        "/cockpit/law/rates",
        data={"table": "nl_consumer", "nl_consumer-effective_on": "2026-07-01", "nl_consumer-rate": "4"},
    )
    assert response.status_code == 400 and rows_of(db_session, org, "nl_consumer") == []


def test_a_viewer_cannot_change_the_rates(client, db_session, org, viewer):
    db_session.add(
        LawRate(organisation_id=org.id, rate_table="nl_consumer", effective_on=date(2026, 1, 1), basis_points=400)
    )
    db_session.add(
        LawRate(organisation_id=org.id, rate_table="nl_consumer", effective_on=date(2026, 7, 1), basis_points=450)
    )
    db_session.flush()
    page = client.get("/cockpit/law").text
    assert "4.50%" in page and "Add rate" not in page and "Delete" not in page
    token = csrf_from(client.get("/cockpit/").text)
    response = client.post(
        "/cockpit/law/rates",
        data={
            "table": "nl_consumer",
            "nl_consumer-effective_on": "2027-01-01",
            "nl_consumer-rate": "5",
            "csrf_token": token,
        },
    )
    assert response.status_code == 403
    last = db_session.scalar(select(LawRate.id).where(LawRate.effective_on == date(2026, 7, 1)))
    assert client.post(f"/cockpit/law/rates/{last}/delete", data={"csrf_token": token}).status_code == 403
    assert [bp for _, bp in rows_of(db_session, org, "nl_consumer")] == [400, 450]


def test_an_unknown_table_is_a_bad_request(client, signed_in):
    token = csrf_from(client.get("/cockpit/law").text)
    response = client.post("/cockpit/law/rates", data={"table": "nl_mortgage", "csrf_token": token})
    assert response.status_code == 400


def test_decimal_rates_are_stored_exactly(client, db_session, org, signed_in):
    token = csrf_from(client.get("/cockpit/law").text)
    data = {"table": "ecb_reference", "ecb_reference-effective_on": "2026-07-01", "ecb_reference-rate": "2.29"}
    assert client.post("/cockpit/law/rates", data={**data, "csrf_token": token}).status_code == 303
    # Through a float it would be int(2.29 * 100) == 228.
    assert rows_of(db_session, org, "ecb_reference")[-1] == (date(2026, 7, 1), 229)


def test_the_settings_page_shows_the_stored_methods_and_plan_scenarios_ticked(client, db_session, org, owner):
    # Unticked boxes on the page would clear both lists at the next save, whatever else was changed.
    org.mollie_methods, org.arrangement_scenarios = "ideal,paypal", "friendly"
    db_session.commit()
    page = client.get("/cockpit/settings").text
    ticked = set(re.findall(r'<input[^>]*checked[^>]*value="([a-z]+)"|<input[^>]*value="([a-z]+)"[^>]*checked', page))
    values = {a or b for a, b in ticked}
    assert {"ideal", "paypal", "friendly"} <= values
    assert not {"creditcard", "standard", "strict"} & values
