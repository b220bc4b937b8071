"""The supplier's cockpit. Views are thin: parse, call one service, commit, redirect."""

from datetime import timedelta
from functools import wraps

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import func
from sqlalchemy.orm import selectinload

from portal.cockpit.forms import InviteForm, RoleForm, SettingsForm
from portal.events import Event
from portal.extensions import db
from portal.htmx import render_page_or_fragment
from portal.invoices.models import Invoice
from portal.jobs import enqueue_after_commit
from portal.ledger import queries
from portal.ledger.models import Payment
from portal.mail.models import MailMessage
from portal.mail.service import queue_mail
from portal.money import sum_by_currency
from portal.organisations import service as accounts
from portal.organisations.models import User
from portal.tenancy import get_or_404, scoped

bp = Blueprint("cockpit", __name__, url_prefix="/cockpit")


@bp.before_request
@login_required
def require_login():
    """Every cockpit page needs a signed-in supplier user."""


def role_required(role: str):
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.can(role):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


@bp.get("/")
def overview():
    """Open and overdue totals per currency, and what happened lately."""
    organisation = current_user.organisation
    today = organisation.today()
    ageing = queries.ageing(db.session, organisation.id, today)
    credit = sum_by_currency(
        [
            *db.session.execute(
                scoped(Payment, Payment.currency, func.sum(Payment.unallocated_amount))
                .where(Payment.unallocated_amount > 0)
                .group_by(Payment.currency)
            ),
            *db.session.execute(
                scoped(Invoice, Invoice.currency, func.sum(Invoice.open_amount))
                .where(Invoice.kind == "credit_note", Invoice.status == "open")
                .group_by(Invoice.currency)
            ),
        ]
    )
    recent = db.session.scalars(
        scoped(Event).options(selectinload(Event.debtor)).order_by(Event.created_at.desc(), Event.id.desc()).limit(15)
    )
    return render_template(
        "cockpit/overview.html",
        today=today,
        ageing=ageing,
        top=queries.top_debtors(db.session, organisation.id, today, list(ageing)),
        totals=queries.totals(ageing),
        credit={c: a for c, a in credit.items() if a},
        recent=list(recent),
    )


@bp.get("/team")
def team():
    """The organisation's users and their roles."""
    users = db.session.scalars(scoped(User).order_by(User.name))
    return render_template("cockpit/team.html", users=list(users), form=InviteForm(), role_form=RoleForm)


@bp.post("/team/invite")
@role_required("owner")
def invite():
    """Invite a colleague by mail."""
    form = InviteForm()
    if form.validate_on_submit():
        days = current_app.config["INVITE_TOKEN_DAYS"]
        try:
            user, token = accounts.invite_user(
                db.session,
                current_user.organisation_id,
                email=form.email.data,
                name=form.name.data,
                role=form.role.data,
                lifetime=timedelta(days=days),
                actor_id=current_user.id,
            )
        except accounts.AccountError as exc:
            db.session.rollback()
            form.email.errors.append(str(exc))
        else:
            queue_mail(
                db.session,
                to=user.email,
                template="invitation",
                context={
                    "user": user,
                    "inviter": current_user,
                    "organisation": current_user.organisation,
                    "link": current_app.config["PUBLIC_BASE_URL"] + url_for("auth.invitation_link", token=token),
                    "days": days,
                },
                from_address=current_app.config["MAIL_FROM"],
                organisation_id=current_user.organisation_id,
                sensitive=True,
            )
            db.session.commit()
            flash(f"Invitation sent to {user.email}.", "success")
            return redirect(url_for("cockpit.team"), 303)
    users = db.session.scalars(scoped(User).order_by(User.name))
    return render_template("cockpit/team.html", users=list(users), form=form, role_form=RoleForm), 422


@bp.post("/team/<int:user_id>/role")
@role_required("owner")
def change_role(user_id: int):
    """Give a colleague another role."""
    user = get_or_404(User, user_id)
    form = RoleForm()
    if form.validate_on_submit():
        try:
            accounts.change_role(
                db.session, current_user.organisation_id, user.id, form.role.data, actor_id=current_user.id
            )
        except accounts.AccountError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash(f"{user.name or user.email} is now {form.role.data}.", "success")
    else:
        flash("Choose a role.", "error")
    return redirect(url_for("cockpit.team"), 303)


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


@bp.get("/mailbox")
def mailbox():
    """Mail Duly sent for this organisation (with no SMTP server configured: the local outbox)."""
    messages = db.session.scalars(scoped(MailMessage).order_by(MailMessage.id.desc()).limit(200))
    return render_page_or_fragment("cockpit/mailbox.html", "cockpit/_mail_rows.html", messages=list(messages))


@bp.get("/mailbox/<int:message_id>")
def mail_message(message_id: int):
    """One message as it was sent."""
    message = get_or_404(MailMessage, message_id)
    # A reset link is a key to someone's account: only its addressee may read it. An invitation goes to someone
    # without an account yet, so the owners who invite may read that one (the demo delivers it this way).
    readable = (
        not message.sensitive
        or message.to_address == current_user.email
        or (message.template == "invitation" and current_user.can("owner"))
        or message.template in ("reminder", "invoice")  # the supplier's own mail to its customer
    )
    return render_template("cockpit/mail_message.html", message=message, readable=readable)
