import pytest

from portal.scenarios.defaults import DEFAULT_SCENARIOS, ensure_default_scenarios
from portal.scenarios.models import Scenario
from portal.scenarios.texts import PLACEHOLDERS, check_text, render_html, render_text
from tests.factories import make_organisation


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Hello {{ ''.__class__ }}", "template code"),
        ("{% for x in y %}{% endfor %}", "template code"),
        ("Dear {debtor_nam}", "Unknown placeholder: {debtor_nam}"),
        ("Pay {total_due} {amount_owed} {x}", "Unknown placeholders: {amount_owed}, {x}"),
        ("Open brace { alone", "outside a placeholder"),
    ],
)
def test_bad_supplier_texts_are_refused_with_a_reason(text, message):
    problems = check_text(text)
    assert problems and any(message in p for p in problems)


def test_good_text_passes_and_renders_plainly():
    text = "Dear {contact_name},\n\nplease pay {total_due} for {invoice_numbers}."
    assert check_text(text) == []
    values = {"contact_name": "Ann", "total_due": "€ 12,00", "invoice_numbers": "F-1, F-2"}
    assert render_text(text, values) == "Dear Ann,\n\nplease pay € 12,00 for F-1, F-2."


def test_html_rendering_escapes_supplier_text_and_values_but_keeps_duly_markup():
    text = "Dear {debtor_name} <b>now</b>\n\n{invoice_table}"
    values = {"debtor_name": '<img src=x onerror="alert(1)"> hx-get="/x"'}
    rendered = render_html(text, values, {"invoice_table": "<table><tr><td>F-1</td></tr></table>"})
    assert "<img" not in rendered and "&lt;img src=x onerror=" in rendered and "&lt;b&gt;now" in rendered
    assert "<table><tr><td>F-1</td></tr></table>" in rendered
    assert rendered.startswith("<p>Dear") and rendered.count("<p>") == 2


def test_default_texts_use_only_known_placeholders():
    for _, _, _, _, steps in DEFAULT_SCENARIOS:
        for step in steps:
            for text in step[5:]:
                assert check_text(text) == [], text
    assert "pay_link" in PLACEHOLDERS and "invoice_table" in PLACEHOLDERS


def test_every_organisation_starts_with_three_scenarios(db_session):
    organisation = make_organisation(db_session)
    added = ensure_default_scenarios(db_session, organisation.id)
    assert [s.key for s in added] == ["friendly", "standard", "strict"]
    assert ensure_default_scenarios(db_session, organisation.id) == []  # idempotent
    standard = next(s for s in added if s.key == "standard")
    assert standard.is_default and [s.position for s in standard.steps] == [1, 2, 3, 4]
    assert standard.steps[-1].is_final_notice and standard.steps[2].channel == "phone"
    friendly = next(s for s in added if s.key == "friendly")
    assert friendly.steps[0].offset_days < 0  # a courtesy reminder before the due date
    subject, body = standard.steps[0].text("en")
    assert subject.startswith("Reminder") and "{invoice_table}" in body
    assert standard.steps[0].text("nl")[0].startswith("Herinnering")


def test_sign_up_gives_the_new_organisation_its_scenarios(db_session):
    from sqlalchemy import select

    from portal.organisations.service import sign_up

    user = sign_up(
        db_session, organisation_name="Nieuw B.V.", name="N", email="n@example.com", password="long enough password"
    )
    keys = db_session.scalars(select(Scenario.key).where(Scenario.organisation_id == user.organisation_id)).all()
    assert sorted(keys) == ["friendly", "standard", "strict"]
