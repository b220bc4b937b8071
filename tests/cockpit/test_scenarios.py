from sqlalchemy import select

from portal.scenarios.defaults import ensure_default_scenarios
from portal.scenarios.models import Scenario, Step
from tests.conftest import csrf_from
from tests.factories import make_debtor, make_invoice, make_user


def standard_first_step(db_session, org) -> Step:
    ensure_default_scenarios(db_session, org.id)
    scenario = db_session.scalar(select(Scenario).where(Scenario.organisation_id == org.id, Scenario.key == "standard"))
    return scenario.steps[0]


def form_of(step: Step, token: str, **changes) -> dict:
    data = {
        "csrf_token": token,
        "anchor": step.anchor,
        "offset_days": str(step.offset_days),
        "channel": step.channel,
        "tone": step.tone,
        "include_pay_link": "y",
        "subject_nl": step.subject_nl,
        "body_nl": step.body_nl,
        "subject_en": step.subject_en,
        "body_en": step.body_en,
    }
    data.update(changes)
    return data


def test_scenarios_page_lists_the_ready_ones(client, db_session, org, signed_in):
    assert "Add the ready scenarios" in client.get("/cockpit/scenarios").text
    token = csrf_from(client.get("/cockpit/scenarios").text)
    assert client.post("/cockpit/scenarios/defaults", data={"csrf_token": token}).status_code == 303
    page = client.get("/cockpit/scenarios").text
    for name in ("Friendly", "Standard", "Strict"):
        assert f"<h2>{name}" in page
    assert "3 days before the due date" in page and "final notice" in page


def test_template_code_and_unknown_placeholders_are_form_errors(client, db_session, org, signed_in):
    step = standard_first_step(db_session, org)
    url = f"/cockpit/scenarios/{step.scenario_id}/steps/{step.id}"
    token = csrf_from(client.get(url).text)
    response = client.post(url, data=form_of(step, token, body_nl="Hallo {{ ''.__class__.__mro__ }}"))
    assert response.status_code == 422 and "template code" in response.text
    response = client.post(url, data=form_of(step, token, subject_en="Pay {amount_owed}"))
    assert response.status_code == 422 and "Unknown placeholder: {amount_owed}" in response.text
    db_session.refresh(step)
    assert "__class__" not in step.body_nl and "amount_owed" not in step.subject_en


def test_saving_a_step(client, db_session, org, signed_in):
    step = standard_first_step(db_session, org)
    url = f"/cockpit/scenarios/{step.scenario_id}/steps/{step.id}"
    token = csrf_from(client.get(url).text)
    response = client.post(
        url, data=form_of(step, token, offset_days="5", tone="firm", subject_en="Still open: {invoice_numbers}")
    )
    assert response.status_code == 303
    db_session.refresh(step)
    assert (step.offset_days, step.tone, step.subject_en) == (5, "firm", "Still open: {invoice_numbers}")
    assert step.is_final_notice is False


def test_preview_on_a_real_debtor_escapes_what_it_shows(client, db_session, org, signed_in):
    debtor = make_debtor(db_session, org, name='<img src=x onerror="alert(1)"> B.V.')
    make_invoice(db_session, debtor, "123.45", number="PV-1", days_overdue=4)
    step = standard_first_step(db_session, org)
    url = f"/cockpit/scenarios/{step.scenario_id}/steps/{step.id}"
    page = client.get(url).text
    assert "PV-1" in page and "<img src=x" not in page and "&lt;img src=x" in page
    token = csrf_from(page)
    fragment = client.post(
        f"{url}/preview",
        data=form_of(step, token, body_en="Dear {debtor_name}: {total_due}", preview_lang="en"),
        headers={"HX-Request": "true"},
    )
    assert "<html" not in fragment.text and "€123.45" in fragment.text and "&lt;img src=x" in fragment.text
    broken = client.post(f"{url}/preview", data=form_of(step, token, body_nl="{oops}"), headers={"HX-Request": "true"})
    assert "Unknown placeholder: {oops}" in broken.text


def test_viewer_sees_but_cannot_save(client, auth, db_session, org):
    step = standard_first_step(db_session, org)
    viewer = make_user(db_session, org, role="viewer")
    auth.login(viewer.email)
    url = f"/cockpit/scenarios/{step.scenario_id}/steps/{step.id}"
    page = client.get(url)
    assert page.status_code == 200 and "Save step" not in page.text
    assert client.post(url, data=form_of(step, csrf_from(page.text))).status_code == 403


def test_the_preview_counts_in_what_the_step_adds(client, db_session, org, signed_in):
    """A step that adds collection costs and starts interest shows, on the sample debtor, the claim it would make
    if sent today: 1,210.00 ten days late = 3.36 interest at 10.15% and 181.50 WIK costs, 1,394.86 in all (the same
    hand calculation as tests/law/test_engine.py)."""
    org.law_business = "nl"
    debtor = make_debtor(db_session, org, name="Klant B.V.", kind="business")
    make_invoice(db_session, debtor, "1210.00", number="PV-2", days_overdue=10)
    step = standard_first_step(db_session, org)
    url = f"/cockpit/scenarios/{step.scenario_id}/steps/{step.id}"
    token = csrf_from(client.get(url).text)
    body = "{total_due} / {interest_total} / {costs_total}"

    plain = client.post(
        f"{url}/preview", data=form_of(step, token, body_en=body, preview_lang="en"), headers={"HX-Request": "true"}
    ).text
    adding = client.post(
        f"{url}/preview",
        data=form_of(step, token, body_en=body, preview_lang="en", adds_costs="y", adds_interest="y"),
        headers={"HX-Request": "true"},
    ).text

    assert "€1,210.00 / €0.00 / €0.00" in plain
    assert "€1,394.86 / €3.36 / €181.50" in adding
