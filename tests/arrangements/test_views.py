"""Payment plans through the pages: the debtor proposes on its page (schedule first, then confirm) in its language;
the supplier decides, counter-proposes or makes a plan in the cockpit. CSRF and tenancy as everywhere."""

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from portal.arrangements.models import Arrangement
from portal.scenarios.defaults import ensure_default_scenarios
from tests.conftest import csrf_from
from tests.factories import make_debtor, make_invoice, make_organisation, make_user
from tests.selfservice.test_actions import _visit


@pytest.fixture
def debtor_page(client, db_session):
    organisation = make_organisation(
        db_session,
        name="Acme B.V.",
        business_days_only=False,
        arrangement_auto_installments=3,
        arrangement_auto_total=Decimal("1000.00"),
    )
    debtor = make_debtor(db_session, organisation, name="Klant B.V.", language="nl", email="ap@klant.example")
    first = make_invoice(db_session, debtor, "400.00", number="A-1", days_overdue=10)
    second = make_invoice(db_session, debtor, "200.00", number="A-2", days_overdue=3)
    _visit(client, db_session, debtor)
    return organisation, debtor, first, second


def _form(client, organisation, invoices, count, **extra):
    token = csrf_from(client.get("/s/plan").text)
    return {
        "csrf_token": token,
        "invoice_ids": [str(i.id) for i in invoices],
        "installments": str(count),
        "frequency": "monthly",
        "first_due": (organisation.today() + timedelta(days=5)).isoformat(),
        **extra,
    }


def test_the_debtor_sees_the_schedule_then_confirms_and_the_plan_runs(client, db_session, debtor_page):
    organisation, debtor, first, second = debtor_page
    assert "In termijnen betalen" in client.get("/s/").text

    preview = client.post("/s/plan", data=_form(client, organisation, [first, second], 3))

    assert preview.status_code == 200 and "Uw schema" in preview.text and "200,00" in preview.text
    assert db_session.scalar(select(Arrangement)) is None  # nothing stored before the debtor confirms
    done = client.post("/s/plan", data=_form(client, organisation, [first, second], 3, confirm="1"))
    assert done.status_code == 303
    plan = db_session.scalar(select(Arrangement).where(Arrangement.debtor_id == debtor.id))
    assert plan.status == "active" and plan.auto_approved
    page = client.get("/s/").text
    assert "Uw betalingsregeling" in page and "in uw betalingsregeling" in page and "<progress" in page
    english = client.get("/s/?lang=en").text
    assert "Paid €0.00 of €600.00" in english


def test_a_plan_beyond_the_automatic_limits_waits_and_the_supplier_approves_it(client, db_session, debtor_page, auth):
    organisation, debtor, first, second = debtor_page
    client.post("/s/plan", data=_form(client, organisation, [first, second], 6, confirm="1"))
    plan = db_session.scalar(select(Arrangement).where(Arrangement.debtor_id == debtor.id))
    assert plan.status == "proposed" and "6 installments" in plan.review_reason
    assert "wacht op Acme" in client.get("/s/").text.replace("wacht op Acme B.V.", "wacht op Acme")

    controller = make_user(db_session, organisation, role="controller")
    auth.login(controller.email)
    listing = client.get("/cockpit/arrangements?status=proposed").text
    assert "Klant B.V." in listing and "6 installments" in listing
    detail = client.get(f"/cockpit/arrangements/{plan.id}").text
    refused = client.post(
        f"/cockpit/arrangements/{plan.id}/decide", data={"csrf_token": csrf_from(detail), "decision": "reject"}
    )
    assert refused.status_code == 422 and "Tell the debtor why" in refused.text
    approved = client.post(
        f"/cockpit/arrangements/{plan.id}/decide", data={"csrf_token": csrf_from(detail), "decision": "approve"}
    )
    assert approved.status_code == 303
    db_session.refresh(plan)
    assert plan.status == "active" and plan.decided_by_user_id == controller.id
    assert "Payment plan approved" in client.get(f"/cockpit/arrangements/{plan.id}").text
    # The supplier sees it beside the invoices too: on the invoice's page and the debtor's list.
    assert "in a payment plan" in client.get(f"/cockpit/invoices/{first.id}").text
    assert client.get(f"/cockpit/debtors/{debtor.id}").text.count("in a payment plan") == 2


def test_a_counter_proposal_is_accepted_on_the_page(client, db_session, debtor_page, auth):
    organisation, debtor, first, second = debtor_page
    client.post("/s/plan", data=_form(client, organisation, [first, second], 6, confirm="1"))
    proposal = db_session.scalar(select(Arrangement))
    controller = make_user(db_session, organisation, role="controller")
    auth.login(controller.email)
    token = csrf_from(client.get(f"/cockpit/arrangements/{proposal.id}").text)
    countered = client.post(
        f"/cockpit/arrangements/{proposal.id}/counter",
        data={
            "csrf_token": token,
            "installments": "4",
            "frequency": "monthly",
            "first_due": organisation.today().isoformat(),
            "message": "Vier maanden kan.",
        },
    )
    assert countered.status_code == 303
    offer = db_session.scalar(select(Arrangement).where(Arrangement.status == "offered"))
    assert offer.counter_of_id == proposal.id and offer.installment_count == 4

    _visit(client, db_session, debtor)
    page = client.get("/s/").text
    assert "Vier maanden kan." in page and "Deze regeling accepteren" in page
    answered = client.post(f"/s/plans/{offer.id}/answer", data={"csrf_token": csrf_from(page), "answer": "accept"})
    assert answered.status_code == 303
    db_session.refresh(offer)
    assert offer.status == "active"


def test_the_suppliers_message_keeps_its_line_breaks_through_a_class_not_an_inline_style(
    client, db_session, debtor_page, auth
):
    organisation, debtor, first, second = debtor_page
    client.post("/s/plan", data=_form(client, organisation, [first, second], 6, confirm="1"))
    proposal = db_session.scalar(select(Arrangement))
    auth.login(make_user(db_session, organisation, role="controller").email)
    detail = client.get(f"/cockpit/arrangements/{proposal.id}").text
    message = "Zes termijnen is te veel.\nVier kan wel:\nde eerste vandaag."
    approved = client.post(
        f"/cockpit/arrangements/{proposal.id}/decide",
        data={"csrf_token": csrf_from(detail), "decision": "approve", "message": message},
    )
    assert approved.status_code == 303

    _visit(client, db_session, debtor)
    for page in (client.get("/s/").text, client.get("/s/", headers={"HX-Request": "true"}).text):
        plans = page[page.index('<section id="plans"') :]
        plans = plans[: plans.index("</section>")]
        # The line breaks reach the page as typed; the class, not a style attribute, keeps them on screen.
        assert f'<p class="muted keep-lines">{message}</p>' in plans
        assert "style=" not in page and "<style" not in page  # the CSP (style-src 'self') would block either
    css = (Path(__file__).resolve().parents[2] / "static" / "app.css").read_text()
    assert re.search(r"\.keep-lines \{[^}]*white-space: pre-line", css)


def test_rule_errors_come_back_in_the_debtors_language_with_what_was_typed(client, db_session, debtor_page):
    organisation, debtor, first, second = debtor_page
    too_many = client.post("/s/plan", data=_form(client, organisation, [first, second], 30))
    assert too_many.status_code == 422 and "Kies tussen 2 en 12 termijnen" in too_many.text
    assert 'value="30"' in too_many.text
    past = client.post(
        "/s/plan",
        data=_form(client, organisation, [first], 2, first_due=(organisation.today() - timedelta(days=1)).isoformat()),
    )
    assert past.status_code == 422 and "Die datum is voorbij" in past.text
    assert db_session.scalar(select(Arrangement)) is None


def test_strict_debtors_are_not_offered_a_plan(client, db_session, debtor_page):
    organisation, debtor, *_ = debtor_page
    [strict] = [s for s in ensure_default_scenarios(db_session, organisation.id) if s.key == "strict"]
    debtor.scenario_id = strict.id
    db_session.flush()
    assert "In termijnen betalen" not in client.get("/s/").text
    assert "U kunt hier geen betalingsregeling" in client.get("/s/plan").text


def test_plan_routes_need_csrf_and_only_serve_the_visitors_own_plans(client, db_session, debtor_page):
    organisation, debtor, first, second = debtor_page
    other = make_debtor(db_session, organisation, name="Other")
    other_invoice = make_invoice(db_session, other, "500.00", number="O-1", days_overdue=5)
    assert client.post("/s/plan", data={"invoice_ids": [str(first.id)], "installments": "2"}).status_code == 400
    token = csrf_from(client.get("/s/plan").text)
    assert client.post("/s/plan", data={"csrf_token": token, "invoice_ids": [str(other_invoice.id)]}).status_code == 404
    theirs = Arrangement(
        organisation_id=organisation.id,
        debtor_id=other.id,
        status="offered",
        currency="EUR",
        total=Decimal("500.00"),
        installment_count=2,
        frequency="monthly",
        first_due=organisation.today(),
    )
    db_session.add(theirs)
    db_session.flush()
    for path in (f"/s/plans/{theirs.id}/answer", f"/s/plans/{theirs.id}/pay"):
        assert client.post(path, data={"csrf_token": token, "answer": "accept"}).status_code == 404
    db_session.refresh(theirs)
    assert theirs.status == "offered"


def test_the_supplier_makes_a_plan_for_a_debtor(client, db_session, auth):
    organisation = make_organisation(db_session, name="Acme B.V.")
    debtor = make_debtor(db_session, organisation, name="Bel B.V.", email="bel@example.com")
    invoice = make_invoice(db_session, debtor, "1000.00", number="B-1", days_overdue=30)
    auth.login(make_user(db_session, organisation, role="controller").email)
    form_page = client.get(f"/cockpit/debtors/{debtor.id}/arrangements/new")
    assert form_page.status_code == 200 and "B-1" in form_page.text
    data = {
        "csrf_token": csrf_from(form_page.text),
        "invoice_ids": [str(invoice.id)],
        "installments": "50",  # 20.00 each: below the 25.00 minimum
        "frequency": "weekly",
        "first_due": organisation.today().isoformat(),
    }
    refused = client.post(f"/cockpit/debtors/{debtor.id}/arrangements", data=data)
    assert refused.status_code == 422 and "at least" in refused.text
    made = client.post(f"/cockpit/debtors/{debtor.id}/arrangements", data={**data, "installments": "8"})
    assert made.status_code == 303
    plan = db_session.scalar(select(Arrangement).where(Arrangement.debtor_id == debtor.id))
    assert (plan.status, plan.source, plan.installment_count) == ("active", "cockpit", 8)
    detail = client.get(made.headers["Location"]).text
    assert "125,00" in detail or "125.00" in detail
    assert "Bel B.V." in client.get("/cockpit/arrangements?status=active").text


def test_the_offer_mail_links_to_the_page_and_accepting_mails_the_schedule(client, db_session, debtor_page, auth):
    from portal.mail.models import MailMessage

    organisation, debtor, first, second = debtor_page
    client.post("/s/plan", data=_form(client, organisation, [first, second], 6, confirm="1"))
    proposal = db_session.scalar(select(Arrangement))
    auth.login(make_user(db_session, organisation, role="controller").email)
    token = csrf_from(client.get(f"/cockpit/arrangements/{proposal.id}").text)
    client.post(
        f"/cockpit/arrangements/{proposal.id}/counter",
        data={"csrf_token": token, "installments": "4", "frequency": "monthly", "first_due": organisation.today()},
    )
    offer_mail = db_session.scalars(select(MailMessage).where(MailMessage.template == "arrangement_decided")).one()
    assert "http://localhost/s/" in offer_mail.body_text and offer_mail.sensitive
    offer = db_session.scalar(select(Arrangement).where(Arrangement.status == "offered"))
    _visit(client, db_session, debtor)
    client.post(
        f"/s/plans/{offer.id}/answer", data={"csrf_token": csrf_from(client.get("/s/").text), "answer": "accept"}
    )
    confirmations = db_session.scalars(
        select(MailMessage).where(MailMessage.template == "arrangement_confirmation")
    ).all()
    assert len(confirmations) == 2 and "is afgesproken" in confirmations[-1].body_text  # proposal, then accepted


def test_nothing_left_to_plan_is_not_offered_and_amounts_are_written_as_money(client, db_session, debtor_page):
    organisation, debtor, first, second = debtor_page
    refused = client.post("/s/plan", data=_form(client, organisation, [second], 12))  # 200.00 / 12 < 25.00
    # (EUR as a word: a random CSRF token in the page may hold the letters.)
    assert refused.status_code == 422 and "minstens €\xa025,00" in refused.text
    assert not re.search(r"\bEUR\b", refused.text)
    client.post("/s/plan", data=_form(client, organisation, [first, second], 2, confirm="1"))
    assert "In termijnen betalen" not in client.get("/s/").text  # both invoices are in the plan now
    assert "vervallen" not in client.get("/s/").text  # in a plan on track: not shown as overdue
