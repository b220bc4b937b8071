"""Cockpit: communication scenarios and their steps, edited with a preview on a real debtor."""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from portal.cockpit import bp
from portal.cockpit.access import role_required
from portal.cockpit.forms import StepForm
from portal.extensions import db
from portal.htmx import render_page_or_fragment
from portal.invoices.models import Invoice
from portal.law.charges import charges_for_step
from portal.ledger.claims import claims
from portal.reminders.placeholders import placeholder_values, sample_debtor
from portal.scenarios import service as scenarios
from portal.scenarios.defaults import ensure_default_scenarios
from portal.scenarios.models import Scenario, Step
from portal.scenarios.texts import PLACEHOLDERS, check_text, render_html, render_text
from portal.tenancy import current_organisation_id, get_or_404


@bp.get("/scenarios")
def scenarios_index():
    """The organisation's scenarios and their steps."""
    return render_template(
        "cockpit/scenarios/index.html", scenarios=scenarios.scenarios_of(db.session, current_organisation_id())
    )


@bp.post("/scenarios/defaults")
@role_required("controller")
def scenarios_defaults():
    """Add the three ready scenarios (friendly, standard, strict) where they are missing."""
    added = ensure_default_scenarios(db.session, current_organisation_id())
    db.session.commit()
    flash(f"{len(added)} scenario(s) added." if added else "The ready scenarios are all there.", "success")
    return redirect(url_for("cockpit.scenarios_index"), 303)


def _step(scenario_id: int, step_id: int) -> Step:
    scenario = get_or_404(Scenario, scenario_id)
    step = db.session.get(Step, step_id)
    if step is None or step.scenario_id != scenario.id:
        abort(404)
    return step


def _preview(form: StepForm, language: str) -> dict:
    """The step's text as the sample debtor would read it, or the problems that stop it."""
    organisation = current_user.organisation
    debtor = sample_debtor(db.session, organisation.id)
    subject = form[f"subject_{language}"].data or ""
    body = form[f"body_{language}"].data or ""
    problems = check_text(subject) + check_text(body)
    if debtor is None or problems:
        return {"debtor": debtor, "problems": problems, "language": language}
    invoices = db.session.scalars(
        select(Invoice)
        .where(
            Invoice.organisation_id == organisation.id,
            Invoice.debtor_id == debtor.id,
            Invoice.kind == "invoice",
            Invoice.status == "open",
        )
        .order_by(Invoice.due_date)
        .limit(10)
    ).all()
    # What the step as typed would add under the late-payment law, sent today: its interest and costs counted in.
    today = organisation.today()
    draft = Step(
        adds_costs=bool(form.adds_costs.data),
        adds_interest=bool(form.adds_interest.data),
        channel=form.channel.data or "email",
    )
    charges = charges_for_step(organisation, debtor, draft, list(invoices), today, draft.channel)
    owed = claims(db.session, organisation, debtor, list(invoices), today, pending=charges.changes)
    values, html_values = placeholder_values(
        db.session, organisation, debtor, list(invoices), language, pay_link="https://pay.example/…", owed=owed
    )
    return {
        "debtor": debtor,
        "problems": [],
        "language": language,
        "subject": render_text(subject, values),
        "html": render_html(body, values, html_values),
    }


@bp.get("/scenarios/<int:scenario_id>/steps/<int:step_id>")
def step_edit(scenario_id: int, step_id: int):
    """A step's timing, channel and texts, with a preview on a real debtor."""
    step = _step(scenario_id, step_id)
    form = StepForm(obj=step)
    language = request.args.get("lang", "nl") if request.args.get("lang") in ("nl", "en") else "nl"
    return render_template(
        "cockpit/scenarios/step.html", step=step, form=form, preview=_preview(form, language), placeholders=PLACEHOLDERS
    )


@bp.post("/scenarios/<int:scenario_id>/steps/<int:step_id>/preview")
def step_preview(scenario_id: int, step_id: int):
    """The preview of the text as typed (htmx swaps it in while the supplier writes); nothing is saved."""
    step = _step(scenario_id, step_id)
    form = StepForm()
    form.validate()  # fills the fields from the form; errors show in the preview, not as a refusal
    language = request.form.get("preview_lang", "nl") if request.form.get("preview_lang") in ("nl", "en") else "nl"
    return render_page_or_fragment(
        "cockpit/scenarios/step.html",
        "cockpit/scenarios/_preview.html",
        step=step,
        form=form,
        preview=_preview(form, language),
        placeholders=PLACEHOLDERS,
    )


@bp.post("/scenarios/<int:scenario_id>/steps/<int:step_id>")
@role_required("controller")
def step_update(scenario_id: int, step_id: int):
    """Save the step; a text with template code or an unknown placeholder is refused with the reason."""
    step = _step(scenario_id, step_id)
    form = StepForm()
    if form.validate_on_submit():
        try:
            scenarios.update_step(
                db.session, current_organisation_id(), step.id, actor_user_id=current_user.id, **form.values()
            )
        except scenarios.StepError as exc:
            db.session.rollback()
            for name, messages in exc.errors.items():
                if name in form:
                    form[name].errors = [*form[name].errors, *messages]
        else:
            db.session.commit()
            flash(f"Step {step.position} of {step.scenario.name} saved.", "success")
            return redirect(url_for("cockpit.scenarios_index"), 303)
    return render_template(
        "cockpit/scenarios/step.html", step=step, form=form, preview=_preview(form, "nl"), placeholders=PLACEHOLDERS
    ), 422
