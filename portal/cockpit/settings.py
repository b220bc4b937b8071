"""The organisation's settings: sender, bank details, send window, scenarios' thresholds, law, Mollie."""

from flask import flash, redirect, render_template, url_for
from flask_login import current_user

from portal.cockpit import bp
from portal.cockpit.access import role_required
from portal.cockpit.forms import SettingsForm
from portal.extensions import db
from portal.jobs import enqueue_after_commit
from portal.organisations import service as accounts


@bp.get("/settings")
@role_required("owner")
def settings():
    """The organisation's settings."""
    organisation = current_user.organisation
    form = SettingsForm(obj=organisation)
    # Stored comma-separated; the checkboxes want lists. Set after building: WTForms prefers ``obj``'s attribute
    # (the string, read letter by letter) to a keyword argument, which left every box unticked, and saving then
    # cleared the methods and the plan scenarios.
    form.mollie_methods.data = organisation.offered_methods
    form.arrangement_scenarios.data = [k for k in organisation.arrangement_scenarios.split(",") if k]
    return render_template("cockpit/settings.html", form=form, has_mollie_key=bool(organisation.mollie_api_key))


@bp.post("/settings")
@role_required("owner")
def settings_post():
    """Save the organisation's settings."""
    form = SettingsForm()
    if form.validate_on_submit():
        values = {name: field.data for name, field in form._fields.items() if name != "csrf_token"}
        values["mollie_methods"] = ",".join(values["mollie_methods"])
        values["arrangement_scenarios"] = ",".join(values["arrangement_scenarios"])
        # The key is write-only: empty leaves the stored one, the checkbox removes it.
        if values.pop("remove_mollie_api_key"):
            values["mollie_api_key"] = None
        elif not values["mollie_api_key"]:
            del values["mollie_api_key"]
        try:
            accounts.update_settings(db.session, current_user.organisation_id, actor_id=current_user.id, **values)
        except accounts.AccountError as exc:
            db.session.rollback()
            form.iban.errors.append(str(exc))
        else:
            # The send window, holidays or gap may have changed: plan now rather than at the clock's next run.
            enqueue_after_commit(db.session, "workers.jobs.plan_organisation", current_user.organisation_id)
            db.session.commit()
            flash("Settings saved.", "success")
            return redirect(url_for("cockpit.settings"), 303)
    has_key = bool(current_user.organisation.mollie_api_key)
    return render_template("cockpit/settings.html", form=form, has_mollie_key=has_key), 422
