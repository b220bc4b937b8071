"""The organisation's team: who may use the cockpit, in which role, and invitations."""

from datetime import timedelta

from flask import current_app, flash, redirect, render_template, url_for
from flask_login import current_user

from portal.cockpit import bp
from portal.cockpit.access import role_required
from portal.cockpit.forms import InviteForm, RoleForm
from portal.extensions import db
from portal.mail.service import queue_mail
from portal.organisations import service as accounts
from portal.organisations.models import User
from portal.tenancy import get_or_404, scoped


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
